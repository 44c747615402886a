// Pure evaluations behind two `check` probes: the schedule (next runs) and freshness (the dead-man's-switch
// view: a scheduled instant passed well ago with no successful backup since).
#pragma once

#include "core/finding.hpp"
#include "schedule/cron.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::check {

using TimePoint = std::chrono::system_clock::time_point;

// Lists the schedule's next three runs in the target's time zone (zone never null); warns when there is no
// schedule (nullptr). Pure.
Finding evaluate_schedule(const schedule::CronSchedule* schedule, const date::time_zone* zone, TimePoint now);

// fail when a scheduled instant older than `grace` passed with no successful backup since; warn when there
// has never been a backup; pass otherwise. Time from elsewhere is not trusted: a last_success later than
// now + catalog::k_clock_skew_allowance counts as none, and any backup in `dated_in_future` (ids) turns a
// pass into a warning naming it (the clock of the host that wrote it ran ahead). Pure.
Finding evaluate_freshness(const schedule::CronSchedule* schedule, const date::time_zone* zone,
                           std::optional<TimePoint> last_success, TimePoint now,
                           std::chrono::seconds grace = std::chrono::hours(1),
                           std::vector<std::string> dated_in_future = {});

} // namespace dbkeep::check
