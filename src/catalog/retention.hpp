// Retention: which backups a policy keeps. A pure function of the backups, the policy, the time zone and
// nothing else (restic's semantics, with scheduled and manual backups apart):
// - last: N keeps the N newest scheduled backups;
// - hourly/daily/weekly/monthly/yearly: N keep the newest scheduled backup of each of the N most recent
//   periods that have one, periods taken in the target's time zone (weeks are ISO weeks);
// - manual: N keeps the N newest manual backups (`dbkeep backup`); k_default_manual_keep when the policy
//   does not say. Manual backups take no period and no `last` slot, so a manual backup never displaces a
//   scheduled one;
// - within: DURATION keeps every backup (either trigger) younger than DURATION counted back from the earlier
//   of the newest scheduled backup (the newest backup when there is no scheduled one) and now (not from now
//   alone, so a target whose backups stopped is not emptied; not from the newest alone, so a backup dated in
//   the future cannot push the window past every real backup); units y, m (months), w, d, h, e.g. 1y6m, 30d;
// - a backup is kept when any rule keeps it; the newest scheduled backup is always kept; when the policy
//   has no rule for scheduled backups (only `manual`), every scheduled backup is kept;
// - a backup dated after now + `skew` (its host's clock ran ahead) is kept ("dated in the future") and takes
//   no part in the rules: it is not the newest, fills no period and no `last` or `manual` slot.
// A removed backup's reason names the rules that did not keep it ("scheduled backup not kept by daily: 7,
// within: 7d", "manual backup not kept by manual: 3 (the default)").
#pragma once

#include "core/error.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace date {
class time_zone;
}

namespace dbkeep::catalog {

struct RetentionInput {
    std::string id;
    std::chrono::system_clock::time_point time;
    bool manual = false; // the manifest's trigger is manual
};

// How many manual backups a policy keeps when `keep:` has rules but no `manual:`.
inline constexpr int k_default_manual_keep = 3;

struct RetentionDecision {
    std::string id;
    bool keep = false;
    // Kept: the rules that keep it ("last", "daily 2026-11-25", "weekly 2026-W48", "within 30d", "newest",
    // "manual"). Removed: one reason naming the rules that did not keep it.
    std::vector<std::string> reasons;
};

// `within`: a calendar span, e.g. "1y6m" (years 1, months 6) or "30d".
struct WithinSpan {
    int years = 0, months = 0, weeks = 0, days = 0, hours = 0;
    std::string text; // as written, for reasons ("within 30d")
};

// Parses numbers with units y, m (months), w, d, h, each number at most 6 digits. Errors are ErrorKind::config
// with a message naming the bad part. Pure.
Result<WithinSpan> parse_within(const std::string& text);

// A target's `keep:`, parsed once at load. An empty policy keeps everything.
struct RetentionPolicy {
    std::optional<int> last, hourly, daily, weekly, monthly, yearly;
    std::optional<int> manual; // unset: k_default_manual_keep
    std::optional<WithinSpan> within;
    // True when a rule for scheduled backups is set (anything but `manual`).
    bool has_scheduled_rule() const noexcept
    {
        return last || hourly || daily || weekly || monthly || yearly || within;
    }
    bool empty() const noexcept { return !has_scheduled_rule() && !manual; }
};

// Decisions for every backup, newest first; periods are taken in `zone` (never null); `now` and `skew` decide
// which backups are dated in the future. Pure.
std::vector<RetentionDecision> apply_retention(std::vector<RetentionInput> backups, const RetentionPolicy& policy,
                                               const date::time_zone* zone, std::chrono::system_clock::time_point now,
                                               std::chrono::seconds skew = std::chrono::minutes(5));

} // namespace dbkeep::catalog
