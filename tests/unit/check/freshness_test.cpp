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
