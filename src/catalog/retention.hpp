// Retention: which backups a policy keeps. A pure function of the backups, the policy, the time zone and
// nothing else (restic's semantics):
// - last: N keeps the N newest backups;
// - hourly/daily/weekly/monthly/yearly: N keep the newest backup of each of the N most recent periods that
//   have a backup, periods taken in the target's time zone (weeks are ISO weeks);
// - within: DURATION keeps every backup younger than DURATION counted back from the newest backup (not from
//   now, so a target whose backups stopped is not emptied); units y, m (months), w, d, h, e.g. 1y6m, 30d;
// - a backup is kept when any rule keeps it; the newest backup is always kept.
#pragma once

#include "core/error.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace date {
class time_zone;
}
namespace dbkeep::config {
struct RetentionConfig;
}

namespace dbkeep::catalog {

struct RetentionInput {
    std::string id;
    std::chrono::system_clock::time_point time;
};

struct RetentionDecision {
    std::string id;
    bool keep = false;
    std::vector<std::string> reasons; // "last", "daily 2026-11-25", "weekly 2026-W48", "within 30d", "newest"
};

// Decisions for every backup, newest first. Fails only for a malformed `within`.
Result<std::vector<RetentionDecision>> apply_retention(std::vector<RetentionInput> backups,
                                                       const config::RetentionConfig& policy,
                                                       const date::time_zone* zone);

// "1y6m" -> months 18; "30d" -> days 30, ... Returns an error naming the bad part.
struct WithinSpan {
    int years = 0, months = 0, weeks = 0, days = 0, hours = 0;
};
Result<WithinSpan> parse_within(const std::string& text);

} // namespace dbkeep::catalog
