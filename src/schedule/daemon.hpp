// The in-process scheduler behind `dbkeep daemon`: starts each target's backup at its scheduled instants, at
// most max_concurrent at once and after a small random jitter; one catch-up run (not one per missed
// instant) for targets that are due at start-up; on SIGTERM it stops scheduling, lets running backups finish
// within the shutdown grace, then cancels them (they abort cleanly: no manifest, no partial object).
#pragma once

#include "core/error.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::schedule {

using TimePoint = std::chrono::system_clock::time_point;

struct ScheduledTarget {
    std::string name;
    // The first scheduled instant strictly after `after`.
    std::function<TimePoint(TimePoint after)> next_fire;
    // Whether a backup is due given the last successful one (the pure `due` of the schedule).
    std::function<bool(std::optional<TimePoint> last_success, TimePoint now)> due;
};

struct DaemonOptions {
    int max_concurrent = 1;
    std::chrono::milliseconds jitter{30000};
    std::chrono::milliseconds shutdown_grace{20000};
    // Runs one backup of a target; called from worker threads.
    std::function<Status(const std::string& target)> backup;
    // The last successful backup of a target, from storage (for the catch-up decision).
    std::function<Result<std::optional<TimePoint>>(const std::string& target)> last_success;
    std::function<TimePoint()> now = [] { return std::chrono::system_clock::now(); };
    // A failed scheduled backup is retried after each of these delays in turn (then it waits for its next
    // scheduled instant); a retry that would start after that instant is not made. Logged.
    std::vector<std::chrono::milliseconds> retry_backoff = {std::chrono::minutes(1), std::chrono::minutes(5),
                                                            std::chrono::minutes(15)};
    // Called for every target every overdue_check_interval (from the scheduling thread; keep it short): the
    // dead-man's switch of the daemon itself (job::check_overdue sends `missed` once per overdue period).
    std::function<void(const std::string& target)> check_overdue;
    std::chrono::milliseconds overdue_check_interval = std::chrono::minutes(5);
    // Extra stop condition (tests); cancel::stop_requested() always stops.
    std::function<bool()> stop;
};

// Runs until a stop is requested. Returns when every worker has finished.
Status run_daemon(const std::vector<ScheduledTarget>& targets, const DaemonOptions& options);

} // namespace dbkeep::schedule
