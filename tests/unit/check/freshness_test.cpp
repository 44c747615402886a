#include "catalog/naming.hpp"
#include "core/time.hpp"
#include "check/freshness.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::check;

namespace {
TimePoint t(const char* s)
{
    return *parse_rfc3339(s);
}
} // namespace

TEST(CheckSchedule, ListsTheNextThreeRunsInTheTargetsZone)
{
    auto f = evaluate_schedule("0 0 * * *", "Europe/Berlin", t("2026-11-25T10:00:00Z"));
    EXPECT_EQ(f.outcome, Outcome::pass);
    EXPECT_NE(f.finding.find("2026-11-26 00:00 CET, 2026-11-27 00:00 CET, 2026-11-28 00:00 CET"), std::string::npos)
        << f.finding;
}

TEST(CheckSchedule, MissingScheduleWarnsAndImpossibleOneFails)
{
    EXPECT_EQ(evaluate_schedule("", "UTC", t("2026-11-25T10:00:00Z")).outcome, Outcome::warn);
    auto never = evaluate_schedule("0 0 30 2 *", "UTC", t("2026-11-25T10:00:00Z"));
    EXPECT_EQ(never.outcome, Outcome::fail);
    EXPECT_NE(never.finding.find("never fires"), std::string::npos);
}

TEST(CheckFreshness, MissedScheduledBackupFailsWithTheMissingInstant)
{
    auto f = evaluate_freshness("0 0 * * *", "UTC", t("2026-11-23T00:00:10Z"), t("2026-11-25T10:00:00Z"));
    EXPECT_EQ(f.outcome, Outcome::fail);
    EXPECT_NE(f.finding.find("scheduled for 2026-11-25 00:00 UTC is missing"), std::string::npos) << f.finding;
    EXPECT_FALSE(f.remedy.empty());
}

TEST(CheckFreshness, OnScheduleAndWithinGracePass)
{
    EXPECT_EQ(evaluate_freshness("0 0 * * *", "UTC", t("2026-11-25T00:00:10Z"), t("2026-11-25T10:00:00Z")).outcome,
              Outcome::pass);
    // The instant passed 30 minutes ago: still within the hour's grace.
    EXPECT_EQ(evaluate_freshness("0 0 * * *", "UTC", t("2026-11-24T00:00:10Z"), t("2026-11-25T00:30:00Z")).outcome,
              Outcome::pass);
    EXPECT_EQ(evaluate_freshness("0 0 * * *", "UTC", std::nullopt, t("2026-11-25T00:30:00Z")).outcome, Outcome::warn);
}
