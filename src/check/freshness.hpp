// Pure evaluations behind two `check` probes: the schedule (next runs) and freshness (the dead-man's-switch
// view: a scheduled instant passed well ago with no successful backup since).
#pragma once

#include "core/finding.hpp"
#include "schedule/cron.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace dbkeep::check {

using TimePoint = std::chrono::system_clock::time_point;

// Lists the schedule's next three runs in the target's time zone (zone never null); warns when there is no
// schedule (nullptr). Pure.
Finding evaluate_schedule(const schedule::CronSchedule* schedule, const date::time_zone* zone, TimePoint now);

// fail when a scheduled instant older than `grace` passed with no successful backup since; warn when there
// has never been a backup; pass otherwise.
Finding evaluate_freshness(const schedule::CronSchedule* schedule, const date::time_zone* zone,
                           std::optional<TimePoint> last_success, TimePoint now,
                           std::chrono::seconds grace = std::chrono::hours(1));

} // namespace dbkeep::check
