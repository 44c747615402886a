#include "catalog/naming.hpp"
#include "check/freshness.hpp"
#include "core/time.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::check;

namespace {

// The probes take the schedule as the loader parses it; these parse the text the tests read best.
std::optional<schedule::CronSchedule> cron(const std::string& expression)
{
    if (expression.empty()) {
        return std::nullopt;
    }
    return *schedule::parse_cron(expression);
}

Finding schedule_of(const std::string& expression, const std::string& zone, TimePoint now)
{
    auto parsed = cron(expression);
    return evaluate_schedule(parsed ? &*parsed : nullptr, schedule::find_zone(zone), now);
}

Finding freshness_of(const std::string& expression, const std::string& zone, std::optional<TimePoint> last,
                     TimePoint now)
{
    auto parsed = cron(expression);
    return evaluate_freshness(parsed ? &*parsed : nullptr, schedule::find_zone(zone), last, now);
}

TimePoint t(const char* s)
{
    return *parse_rfc3339(s);
}
} // namespace

TEST(CheckSchedule, ListsTheNextThreeRunsInTheTargetsZone)
{
    auto f = schedule_of("0 0 * * *", "Europe/Berlin", t("2026-11-25T10:00:00Z"));
    EXPECT_EQ(f.outcome, Outcome::pass);
    EXPECT_NE(f.finding.find("2026-11-26 00:00 CET, 2026-11-27 00:00 CET, 2026-11-28 00:00 CET"), std::string::npos)
        << f.finding;
}

TEST(CheckSchedule, MissingScheduleWarnsAndImpossibleOneFails)
{
    EXPECT_EQ(schedule_of("", "UTC", t("2026-11-25T10:00:00Z")).outcome, Outcome::warn);
    auto never = schedule_of("0 0 30 2 *", "UTC", t("2026-11-25T10:00:00Z"));
    EXPECT_EQ(never.outcome, Outcome::fail);
    EXPECT_NE(never.finding.find("never fires"), std::string::npos);
}

TEST(CheckFreshness, MissedScheduledBackupFailsWithTheMissingInstant)
{
    auto f = freshness_of("0 0 * * *", "UTC", t("2026-11-23T00:00:10Z"), t("2026-11-25T10:00:00Z"));
    EXPECT_EQ(f.outcome, Outcome::fail);
    EXPECT_NE(f.finding.find("scheduled for 2026-11-25 00:00 UTC is missing"), std::string::npos) << f.finding;
    EXPECT_FALSE(f.remedy.empty());
}

TEST(CheckFreshness, OnScheduleAndWithinGracePass)
{
    EXPECT_EQ(freshness_of("0 0 * * *", "UTC", t("2026-11-25T00:00:10Z"), t("2026-11-25T10:00:00Z")).outcome,
              Outcome::pass);
    // The instant passed 30 minutes ago: still within the hour's grace.
    EXPECT_EQ(freshness_of("0 0 * * *", "UTC", t("2026-11-24T00:00:10Z"), t("2026-11-25T00:30:00Z")).outcome,
              Outcome::pass);
    EXPECT_EQ(freshness_of("0 0 * * *", "UTC", std::nullopt, t("2026-11-25T00:30:00Z")).outcome, Outcome::warn);
}

TEST(CheckFreshness, ABackupDatedAYearAheadIsNotGreen)
{
    // The only "backup" comes from a host whose clock ran a year ahead: it proves nothing about today.
    auto alone = freshness_of("0 0 * * *", "UTC", t("2027-11-25T00:00:10Z"), t("2026-11-25T10:00:00Z"));
    EXPECT_NE(alone.outcome, Outcome::pass) << alone.finding;
    EXPECT_NE(alone.finding.find("20271125T000010Z"), std::string::npos) << alone.finding;
    EXPECT_NE(alone.finding.find("dated after this machine's clock"), std::string::npos) << alone.finding;
    EXPECT_NE(alone.remedy.find("NTP"), std::string::npos) << alone.remedy;

    // Beside an on-schedule backup it still shows, as a warning.
    auto parsed = cron("0 0 * * *");
    auto beside = evaluate_freshness(&*parsed, schedule::find_zone("UTC"), t("2026-11-25T00:00:10Z"),
                                     t("2026-11-25T10:00:00Z"), std::chrono::hours(1), {"20271125T000010Z-abcdef"});
    EXPECT_EQ(beside.outcome, Outcome::warn) << beside.finding;
    EXPECT_NE(beside.finding.find("20271125T000010Z-abcdef"), std::string::npos) << beside.finding;

    // Beside a missed one it cannot hide the miss.
    auto missed = freshness_of("0 0 * * *", "UTC", t("2027-11-25T00:00:10Z"), t("2026-11-27T10:00:00Z"));
    EXPECT_NE(missed.outcome, Outcome::pass) << missed.finding;

    // A clock a few minutes ahead is normal.
    EXPECT_EQ(freshness_of("0 0 * * *", "UTC", t("2026-11-25T10:03:00Z"), t("2026-11-25T10:00:00Z")).outcome,
              Outcome::pass);
}
