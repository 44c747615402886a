#include "catalog/naming.hpp"
#include "core/time.hpp"
#include "schedule/cron.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::schedule;

namespace {
TimePoint t(const std::string& rfc3339)
{
    auto p = parse_rfc3339(rfc3339);
    EXPECT_TRUE(p) << rfc3339;
    return p.value_or(TimePoint{});
}

std::string next_of(const std::string& expr, const std::string& zone, const std::string& after)
{
    auto s = parse_cron(expr);
    EXPECT_TRUE(s) << expr << ": " << s.error().message;
    auto z = find_zone(zone);
    EXPECT_NE(z, nullptr) << zone;
    auto n = next_fire(*s, z, t(after));
    return n ? format_rfc3339(*n) : "none";
}

struct NextCase {
    const char* expr;
    const char* zone;
    const char* after;
    const char* expected; // UTC
};
} // namespace

class CronNext : public ::testing::TestWithParam<NextCase> {};

TEST_P(CronNext, FiresAtTheExpectedInstant)
{
    const auto& c = GetParam();
    EXPECT_EQ(next_of(c.expr, c.zone, c.after), c.expected) << c.expr << " in " << c.zone << " after " << c.after;
}

INSTANTIATE_TEST_SUITE_P(
    Table, CronNext,
    ::testing::Values(
        // plain UTC
        NextCase{"0 0 * * *", "UTC", "2026-11-25T10:00:00Z", "2026-11-26T00:00:00.000Z"},
        NextCase{"0 0 * * *", "UTC", "2026-11-25T00:00:00Z", "2026-11-26T00:00:00.000Z"}, // strictly after
        NextCase{"*/15 * * * *", "UTC", "2026-11-25T10:07:30Z", "2026-11-25T10:15:00.000Z"},
        NextCase{"5,35 */6 * * *", "UTC", "2026-11-25T06:36:00Z", "2026-11-25T12:05:00.000Z"},
        NextCase{"10-50/20 1 * * *", "UTC", "2026-11-25T01:31:00Z", "2026-11-25T01:50:00.000Z"},
        NextCase{"@hourly", "UTC", "2026-11-25T10:00:01Z", "2026-11-25T11:00:00.000Z"},
        NextCase{"@weekly", "UTC", "2026-11-25T10:00:00Z", "2026-11-29T00:00:00.000Z"}, // Sunday
        NextCase{"@monthly", "UTC", "2026-11-25T10:00:00Z", "2026-12-01T00:00:00.000Z"},
        NextCase{"@yearly", "UTC", "2026-11-25T10:00:00Z", "2027-01-01T00:00:00.000Z"},
        NextCase{"0 9 * jan-Mar mon-FRI", "UTC", "2026-11-25T10:00:00Z", "2027-01-01T09:00:00.000Z"},
        NextCase{"0 0 * * 7", "UTC", "2026-11-25T10:00:00Z", "2026-11-29T00:00:00.000Z"}, // 7 = Sunday
        // month ends and leap days
        NextCase{"0 0 31 * *", "UTC", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00.000Z"},
        NextCase{"0 0 30 2 *", "UTC", "2026-01-01T00:00:00Z", "none"},
        NextCase{"0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00.000Z"},
        NextCase{"59 23 28-31 2 *", "UTC", "2028-02-28T23:59:00Z", "2028-02-29T23:59:00.000Z"},
        // day-of-month OR day-of-week when both are restricted (Vixie)
        NextCase{"0 0 13 * FRI", "UTC", "2026-11-01T00:00:00Z", "2026-11-06T00:00:00.000Z"},
        NextCase{"0 0 13 * *", "UTC", "2026-11-01T00:00:00Z", "2026-11-13T00:00:00.000Z"},
        // a time zone
        NextCase{"0 0 * * *", "America/Los_Angeles", "2026-11-25T10:00:00Z", "2026-11-26T08:00:00.000Z"},
        // Europe/Berlin spring forward 2026-03-29: 02:00 CET -> 03:00 CEST; 02:30 does not exist
        NextCase{"30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00.000Z"},
        NextCase{"30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00.000Z"},
        NextCase{"*/15 2 * * *", "Europe/Berlin", "2026-03-29T00:50:00Z", "2026-03-29T01:00:00.000Z"},
        NextCase{"*/15 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:00:00.000Z"}, // once
        // Europe/Berlin fall back 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice, runs at the first
        NextCase{"30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00.000Z"},
        NextCase{"30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00.000Z"},
        NextCase{"0 * * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-25T02:00:00.000Z"},
        // America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST
        NextCase{"0 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-08T07:00:00.000Z"},
        NextCase{"0 2 * * *", "America/New_York", "2026-03-08T07:00:00Z", "2026-03-09T06:00:00.000Z"},
        NextCase{"30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", "2026-11-01T05:30:00.000Z"},
        NextCase{"30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00.000Z"}));

TEST(Cron, PreviousFireIsTheLatestAtOrBefore)
{
    auto s = parse_cron("0 0 * * *");
    ASSERT_TRUE(s);
    auto utc = find_zone("UTC");
    EXPECT_EQ(format_rfc3339(*previous_fire(*s, utc, t("2026-11-25T10:00:00Z"))), "2026-11-25T00:00:00.000Z");
    EXPECT_EQ(format_rfc3339(*previous_fire(*s, utc, t("2026-11-25T00:00:00Z"))), "2026-11-25T00:00:00.000Z");
    auto berlin = parse_cron("30 2 * * *");
    // The skipped 02:30 of the spring-forward day stands for the instant the gap ends.
    EXPECT_EQ(format_rfc3339(*previous_fire(*berlin, find_zone("Europe/Berlin"), t("2026-03-29T05:00:00Z"))),
              "2026-03-29T01:00:00.000Z");
}

TEST(Cron, ParseErrorsNameTheFieldAndColumn)
{
    struct Bad {
        const char* expr;
        int column;
        const char* what;
    };
    for (const auto& b :
         {Bad{"61 * * * *", 0, "minute value out of range 0-59"}, Bad{"* * * *", 0, "expected 5 fields"},
          Bad{"* * * * * *", 0, "expected 5 fields"},
          Bad{"0 0 * * MON-", 8, "bad range 'MON-' in the day-of-week field"},
          Bad{"0 24 * * *", 2, "hour value out of range"}, Bad{"0 0 0 * *", 4, "day-of-month value out of range 1-31"},
          Bad{"0 0 * 13 *", 6, "month value out of range"}, Bad{"0 0 * FOO *", 6, "bad value 'FOO' in the month field"},
          Bad{"*/0 * * * *", 0, "bad step '0'"}, Bad{"5-1 * * * *", 0, "runs backwards"},
          Bad{"1,,2 * * * *", 0, "empty list item"}, Bad{"@fortnightly", 0, "unknown macro"}}) {
        auto r = parse_cron(b.expr);
        ASSERT_FALSE(r) << b.expr;
        EXPECT_NE(r.error().message.find(b.what), std::string::npos) << b.expr << ": " << r.error().message;
        EXPECT_EQ(r.error().column, b.column) << b.expr;
    }
}

TEST(Cron, UnknownZoneIsNull)
{
    EXPECT_EQ(find_zone("Mars/Olympus_Mons"), nullptr);
}

TEST(Due, DueWhenAScheduledInstantPassedSinceTheLastSuccess)
{
    auto s = *parse_cron("0 0 * * *");
    auto utc = find_zone("UTC");
    auto now = t("2026-11-25T00:10:00Z");
    EXPECT_TRUE(due(s, utc, std::nullopt, now)) << "never backed up";
    EXPECT_TRUE(due(s, utc, t("2026-11-24T00:00:30Z"), now)) << "yesterday's backup, today's instant passed";
    EXPECT_FALSE(due(s, utc, t("2026-11-25T00:00:05Z"), now)) << "today's backup already made";
    EXPECT_TRUE(due(s, utc, t("2026-11-24T23:59:59Z"), now)) << "a manual backup just before midnight";
    EXPECT_FALSE(due(s, utc, t("2026-11-24T00:00:30Z"), t("2026-11-24T23:00:00Z")));
}

TEST(Due, HourlyCronTriggerGetsEachDailyBackupExactlyOnce)
{
    // The replaced workflow: an hourly trigger asking "is today's backup needed?".
    auto s = *parse_cron("0 0 * * *");
    auto la = find_zone("America/Los_Angeles");
    std::optional<TimePoint> last = t("2026-11-19T08:00:40Z"); // yesterday's, just after LA midnight
    int backups = 0;
    for (auto now = t("2026-11-20T00:05:00Z"); now < t("2026-11-27T00:05:00Z"); now += std::chrono::hours(1)) {
        if (due(s, la, last, now)) {
            ++backups;
            last = now;
        }
    }
    EXPECT_EQ(backups, 7);
}
