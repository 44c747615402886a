#include "catalog/naming.hpp"
#include "catalog/retention.hpp"
#include "core/time.hpp"
#include "schedule/cron.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <gtest/gtest.h>
#include <set>

using namespace dbkeep;
using namespace dbkeep::catalog;
using Policy = catalog::RetentionPolicy;

namespace {

TimePoint t(const std::string& s)
{
    return *parse_rfc3339(s);
}

std::vector<RetentionInput> inputs(const std::vector<std::string>& times)
{
    std::vector<RetentionInput> v;
    for (const auto& s : times) {
        v.push_back({make_backup_id(t(s), "000000"), t(s)});
    }
    return v;
}

std::set<std::string> kept(const std::vector<RetentionDecision>& d)
{
    std::set<std::string> out;
    for (const auto& x : d) {
        if (x.keep) {
            out.insert(x.id.substr(0, 16));
        }
    }
    return out;
}

// Later than every backup below: none of them is dated in the future.
const TimePoint k_now = t("2030-01-01T00:00:00Z");

const date::time_zone* utc()
{
    return schedule::find_zone("UTC");
}

// Two years of backups every 6 hours, with a gap of 10 days in 2025 and a missed week in 2026.
std::vector<RetentionInput> two_year_history()
{
    std::vector<RetentionInput> v;
    for (auto at = t("2024-12-01T01:00:00Z"); at < t("2026-11-25T01:00:00Z"); at += std::chrono::hours(6)) {
        if ((at >= t("2025-06-10T00:00:00Z") && at < t("2025-06-20T00:00:00Z")) ||
            (at >= t("2026-09-07T00:00:00Z") && at < t("2026-09-14T00:00:00Z"))) {
            continue;
        }
        v.push_back({make_backup_id(at, "000000"), at});
    }
    return v;
}

std::string render(const std::vector<RetentionDecision>& decisions)
{
    std::string out;
    for (const auto& d : decisions) {
        if (!d.keep) {
            continue;
        }
        out += d.id;
        for (const auto& r : d.reasons) {
            out += " | " + r;
        }
        out += "\n";
    }
    return out;
}

} // namespace

TEST(Retention, KeepsNewestBackupEvenWhenPolicyIsEmpty)
{
    auto d = apply_retention(inputs({"2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"}), Policy{}, utc(), k_now);
    EXPECT_EQ(kept(d), (std::set<std::string>{"20261102T000000Z"}));
    EXPECT_EQ(d[0].reasons, std::vector<std::string>{"newest"});
}

TEST(Retention, LastKeepsTheNNewest)
{
    Policy p;
    p.last = 2;
    auto d = apply_retention(inputs({"2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", "2026-11-02T00:00:00Z"}), p, utc(),
                             k_now);
    EXPECT_EQ(kept(d), (std::set<std::string>{"20261103T000000Z", "20261102T000000Z"}));
}

TEST(Retention, DailyKeepsTheNewestOfEachOfTheLastNDaysThatHaveABackup)
{
    Policy p;
    p.daily = 3;
    // Two backups on the 5th, none on the 4th: the 4th does not count as one of the 3 days.
    auto d = apply_retention(inputs({"2026-11-05T23:00:00Z", "2026-11-05T01:00:00Z", "2026-11-03T12:00:00Z",
                                     "2026-11-02T12:00:00Z", "2026-11-01T12:00:00Z"}),
                             p, utc(), k_now);
    EXPECT_EQ(kept(d), (std::set<std::string>{"20261105T230000Z", "20261103T120000Z", "20261102T120000Z"}));
}

TEST(Retention, PeriodsAreTakenInTheTargetsTimeZone)
{
    Policy p;
    p.daily = 1;
    p.last = 0;
    // 23:30 UTC on the 1st is already the 2nd in Berlin: both backups fall on Berlin's 2nd.
    auto backups = inputs({"2026-11-02T10:00:00Z", "2026-11-01T23:30:00Z"});
    auto berlin = apply_retention(backups, p, schedule::find_zone("Europe/Berlin"), k_now);
    EXPECT_EQ(kept(berlin), (std::set<std::string>{"20261102T100000Z"}));
    p.daily = 2;
    auto in_utc = apply_retention(backups, p, utc(), k_now);
    EXPECT_EQ(kept(in_utc).size(), 2u);
    auto in_berlin = apply_retention(backups, p, schedule::find_zone("Europe/Berlin"), k_now);
    EXPECT_EQ(kept(in_berlin).size(), 1u);
}

TEST(Retention, WithinCountsFromTheNewestBackupNotFromNow)
{
    Policy p;
    p.within = *parse_within("2d");
    auto d = apply_retention(inputs({"2020-01-10T00:00:00Z", "2020-01-08T00:00:00Z", "2020-01-07T23:00:00Z"}), p, utc(),
                             k_now);
    EXPECT_EQ(kept(d), (std::set<std::string>{"20200110T000000Z", "20200108T000000Z"}));
    auto w = parse_within("1y6m2w3d12h");
    ASSERT_TRUE(w);
    EXPECT_EQ(w->years, 1);
    EXPECT_EQ(w->months, 6);
    EXPECT_EQ(w->weeks, 2);
    EXPECT_EQ(w->days, 3);
    EXPECT_EQ(w->hours, 12);
    EXPECT_FALSE(parse_within("10x"));
    EXPECT_FALSE(parse_within("d"));
    EXPECT_FALSE(parse_within(""));
}

TEST(Retention, ReplacedWorkflowsRotatingSevenDaysIsDaily7)
{
    Policy p;
    p.daily = 7;
    std::vector<std::string> times;
    for (int day = 1; day <= 20; ++day) {
        times.push_back("2026-11-" + std::string(day < 10 ? "0" : "") + std::to_string(day) + "T00:00:00Z");
    }
    auto d = apply_retention(inputs(times), p, utc(), k_now);
    auto k = kept(d);
    EXPECT_EQ(k.size(), 7u);
    EXPECT_EQ(*k.begin(), "20261114T000000Z");
}

TEST(Retention, ABackupDatedAYearAheadDoesNotMoveWithinPastTheRealBackups)
{
    // A host whose clock ran a year ahead wrote one backup; the real ones are daily up to today.
    const TimePoint now = t("2026-11-30T12:00:00Z");
    Policy p;
    p.within = *parse_within("7d");
    auto d = apply_retention(inputs({"2027-11-30T00:00:00Z", "2026-11-30T00:00:00Z", "2026-11-29T00:00:00Z",
                                     "2026-11-24T00:00:00Z", "2026-11-20T00:00:00Z"}),
                             p, utc(), now);
    EXPECT_EQ(kept(d),
              (std::set<std::string>{"20271130T000000Z", "20261130T000000Z", "20261129T000000Z", "20261124T000000Z"}));
    EXPECT_EQ(d[0].reasons, std::vector<std::string>{"dated in the future"});
    EXPECT_EQ(d[1].reasons, (std::vector<std::string>{"newest", "within 7d"}));
}

TEST(Retention, ABackupDatedInTheFutureFillsNoPeriodAndNoLastSlot)
{
    const TimePoint now = t("2026-11-30T12:00:00Z");
    Policy p;
    p.last = 2;
    p.daily = 2;
    auto d = apply_retention(
        inputs({"2027-01-01T00:00:00Z", "2026-11-30T00:00:00Z", "2026-11-29T00:00:00Z", "2026-11-28T00:00:00Z"}), p,
        utc(), now);
    EXPECT_EQ(kept(d), (std::set<std::string>{"20270101T000000Z", "20261130T000000Z", "20261129T000000Z"}));
    // Within the skew allowance a backup is not in the future: a clock a minute ahead is normal.
    auto near = apply_retention(inputs({"2026-11-30T12:04:00Z", "2026-11-30T00:00:00Z"}), Policy{}, utc(), now);
    EXPECT_EQ(near[0].reasons, std::vector<std::string>{"newest"});
}

// Golden files: the keep-set and reasons for several policies over a synthetic two-year history.
// DBKEEP_UPDATE_GOLDEN=1 rewrites them; review the diff before committing.
class RetentionGolden : public ::testing::TestWithParam<std::pair<const char*, Policy>> {};

TEST_P(RetentionGolden, MatchesTheGoldenFile)
{
    const auto& [name, policy] = GetParam();
    auto d = apply_retention(two_year_history(), policy, schedule::find_zone("Europe/Berlin"), k_now);
    auto path = std::filesystem::path(DBKEEP_SOURCE_DIR) / "tests/unit/catalog/testdata" /
                (std::string("retention_") + name + ".txt");
    auto got = render(d);
    if (std::getenv("DBKEEP_UPDATE_GOLDEN")) {
        test::write_file(path, got);
    }
    ASSERT_TRUE(std::filesystem::exists(path)) << path << " missing: run with DBKEEP_UPDATE_GOLDEN=1";
    EXPECT_EQ(got, test::read_file(path)) << "policy " << name;
}

namespace {
Policy make(std::optional<int> last, std::optional<int> hourly, std::optional<int> daily, std::optional<int> weekly,
            std::optional<int> monthly, std::optional<int> yearly, std::string within = {})
{
    Policy p;
    p.last = last;
    p.hourly = hourly;
    p.daily = daily;
    p.weekly = weekly;
    p.monthly = monthly;
    p.yearly = yearly;
    if (!within.empty()) {
        p.within = *parse_within(within);
    }
    return p;
}
} // namespace

INSTANTIATE_TEST_SUITE_P(Policies, RetentionGolden,
                         ::testing::Values(std::pair{"daily7", make({}, {}, 7, {}, {}, {})},
                                           std::pair{"last3", make(3, {}, {}, {}, {}, {})},
                                           std::pair{"d7_w4_m12", make({}, {}, 7, 4, 12, {})},
                                           std::pair{"within2w", make({}, {}, {}, {}, {}, {}, "2w")},
                                           std::pair{"h24_y5", make({}, 24, {}, {}, {}, 5)},
                                           std::pair{"empty", make({}, {}, {}, {}, {}, {})}),
                         [](const auto& param_info) { return std::string(param_info.param.first); });

// Kind 2 of issue 13: a manual backup never removes a scheduled one.

namespace {
std::vector<RetentionInput> nightly_at_0230(int days)
{
    std::vector<RetentionInput> v;
    for (int day = 1; day <= days; ++day) {
        auto at = t("2026-11-" + std::string(day < 10 ? "0" : "") + std::to_string(day) + "T02:30:00Z");
        v.push_back({make_backup_id(at, "000000"), at, false});
    }
    return v;
}

RetentionInput manual_at(const std::string& when)
{
    return {make_backup_id(t(when), "0000aa"), t(when), true};
}

const RetentionDecision& decision(const std::vector<RetentionDecision>& d, const std::string& prefix)
{
    auto it = std::find_if(d.begin(), d.end(), [&](const auto& x) { return x.id.starts_with(prefix); });
    EXPECT_NE(it, d.end()) << prefix;
    static const RetentionDecision none;
    return it == d.end() ? none : *it;
}
} // namespace

TEST(Retention, AManualBackupTheSameDayDoesNotDisplaceTheNightly)
{
    const TimePoint now = t("2026-11-10T16:00:00Z");
    Policy p;
    p.daily = 7;
    auto backups = nightly_at_0230(10);
    backups.push_back(manual_at("2026-11-10T15:00:00Z"));
    auto d = apply_retention(backups, p, utc(), now);
    EXPECT_EQ(kept(d),
              (std::set<std::string>{"20261110T150000Z", "20261110T023000Z", "20261109T023000Z", "20261108T023000Z",
                                     "20261107T023000Z", "20261106T023000Z", "20261105T023000Z", "20261104T023000Z"}));
    EXPECT_EQ(decision(d, "20261110T023000Z").reasons, (std::vector<std::string>{"newest", "daily 2026-11-10"}));
    EXPECT_EQ(decision(d, "20261110T150000Z").reasons, std::vector<std::string>{"manual"});
    // Each removal names the rules that did not keep it.
    const auto& removed = decision(d, "20261103T023000Z");
    EXPECT_FALSE(removed.keep);
    EXPECT_EQ(removed.reasons, std::vector<std::string>{"scheduled backup not kept by daily: 7"});
}

TEST(Retention, ManualBackupsFollowTheirOwnRule)
{
    const TimePoint now = t("2026-11-30T00:00:00Z");
    auto backups = nightly_at_0230(3);
    for (const char* when : {"2026-11-01T10:00:00Z", "2026-11-01T11:00:00Z", "2026-11-02T10:00:00Z",
                             "2026-11-02T11:00:00Z", "2026-11-03T10:00:00Z"}) {
        backups.push_back(manual_at(when));
    }
    Policy p;
    p.last = 1;
    // Unset: the default keeps the k_default_manual_keep newest manual backups.
    auto by_default = apply_retention(backups, p, utc(), now);
    ASSERT_EQ(k_default_manual_keep, 3);
    EXPECT_EQ(kept(by_default),
              (std::set<std::string>{"20261103T100000Z", "20261102T110000Z", "20261102T100000Z", "20261103T023000Z"}));
    EXPECT_EQ(decision(by_default, "20261101T110000Z").reasons,
              std::vector<std::string>{"manual backup not kept by manual: 3 (the default)"});
    EXPECT_EQ(decision(by_default, "20261102T023000Z").reasons,
              std::vector<std::string>{"scheduled backup not kept by last: 1"});

    p.manual = 1;
    p.within = *parse_within("1d");
    auto one = apply_retention(backups, p, utc(), now);
    // within counts back from the newest scheduled backup (11-03 02:30) and keeps either trigger.
    EXPECT_EQ(kept(one), (std::set<std::string>{"20261103T100000Z", "20261103T023000Z", "20261102T110000Z",
                                                "20261102T100000Z", "20261102T023000Z"}));
    EXPECT_EQ(decision(one, "20261101T110000Z").reasons,
              std::vector<std::string>{"manual backup not kept by manual: 1, within: 1d"});

    // `manual` alone says nothing about scheduled backups: every one is kept.
    Policy only_manual;
    only_manual.manual = 1;
    auto alone = apply_retention(backups, only_manual, utc(), now);
    EXPECT_EQ(kept(alone),
              (std::set<std::string>{"20261103T100000Z", "20261103T023000Z", "20261102T023000Z", "20261101T023000Z"}));
}

TEST(Retention, AManualBackupDoesNotMoveWithinPastTheScheduledOnes)
{
    // The schedule stopped ten days ago; a manual backup today must not empty the window of the nightlies.
    const TimePoint now = t("2026-11-20T12:00:00Z");
    Policy p;
    p.within = *parse_within("2d");
    auto backups = nightly_at_0230(10);
    backups.push_back(manual_at("2026-11-20T10:00:00Z"));
    auto d = apply_retention(backups, p, utc(), now);
    EXPECT_EQ(kept(d),
              (std::set<std::string>{"20261120T100000Z", "20261110T023000Z", "20261109T023000Z", "20261108T023000Z"}));
}

TEST(Retention, AManualBackupDatedInTheFutureTakesNoManualSlot)
{
    const TimePoint now = t("2026-11-30T00:00:00Z");
    Policy p;
    p.daily = 1;
    p.manual = 1;
    auto backups = nightly_at_0230(1);
    backups.push_back(manual_at("2027-11-01T10:00:00Z"));
    backups.push_back(manual_at("2026-11-01T10:00:00Z"));
    auto d = apply_retention(backups, p, utc(), now);
    EXPECT_EQ(kept(d), (std::set<std::string>{"20271101T100000Z", "20261101T100000Z", "20261101T023000Z"}));
    EXPECT_EQ(decision(d, "20271101T100000Z").reasons, std::vector<std::string>{"dated in the future"});
}
