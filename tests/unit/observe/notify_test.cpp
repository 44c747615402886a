#include "observe/notify.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep;
using namespace dbkeep::observe;

TEST(Notify, EventNamesRoundTrip)
{
    for (Event e : {Event::start, Event::success, Event::failure, Event::missed, Event::verify_failure}) {
        EXPECT_EQ(parse_event(event_name(e)), e);
    }
    EXPECT_EQ(parse_event("failed"), std::nullopt);
    EXPECT_EQ(parse_event(""), std::nullopt);
}

TEST(Notify, WebhookBodyHasTheDocumentedFieldsAndSurvivesInvalidUtf8)
{
    Notice n{.event = Event::success,
             .target = "orders",
             .backup_id = "20261130T020000Z-a1b2c3",
             .stored_bytes = 1234,
             .raw_bytes = 5678,
             .duration_seconds = 2.5,
             .error = "bad byte \xff here"};
    auto j = nlohmann::json::parse(webhook_body(n, "host-1", std::chrono::system_clock::time_point{}));
    EXPECT_EQ(j["event"], "success");
    EXPECT_EQ(j["target"], "orders");
    EXPECT_EQ(j["backup_id"], "20261130T020000Z-a1b2c3");
    EXPECT_EQ(j["stored_bytes"], 1234);
    EXPECT_EQ(j["raw_bytes"], 5678);
    EXPECT_EQ(j["duration_seconds"], 2.5);
    EXPECT_EQ(j["host"], "host-1");
    EXPECT_EQ(j["time"], "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(j["error"], "bad byte \xEF\xBF\xBD here"); // U+FFFD for the invalid byte
    EXPECT_TRUE(j.contains("dbkeep_version"));
}

TEST(Notify, SlackTextNamesTargetOutcomeSizeAndDuration)
{
    Notice ok{.event = Event::success,
              .target = "orders",
              .backup_id = "id-1",
              .stored_bytes = 3u << 20,
              .raw_bytes = 12u << 20,
              .duration_seconds = 75};
    EXPECT_EQ(slack_text(ok, "h"), ":white_check_mark: dbkeep backed up *orders* on `h`: 3.0 MiB stored (12.0 MiB "
                                   "dumped) in 1m15s, backup `id-1`");
    Notice bad{.event = Event::failure, .target = "orders", .duration_seconds = 4.2, .error = "connection refused"};
    EXPECT_EQ(slack_text(bad, "h"), ":x: dbkeep backup of *orders* on `h` FAILED after 4.2s:\n> connection refused");
}
