#include "check/freshness.hpp"
#include "core/time.hpp"

#include "catalog/naming.hpp"
#include "schedule/cron.hpp"

#include <date/tz.h>

namespace dbkeep::check {
namespace {
std::string local_time(const date::time_zone* zone, TimePoint t)
{
    return date::format("%Y-%m-%d %H:%M %Z", date::make_zoned(zone, date::floor<std::chrono::minutes>(t)));
}
} // namespace

Finding evaluate_schedule(const schedule::CronSchedule* parsed, const date::time_zone* zone, TimePoint now)
{
    if (parsed == nullptr) {
        return warn("config.schedule", "no schedule: only manual `dbkeep backup` runs back this target up",
                    "set schedule: \"0 0 * * *\" (and timezone:) to use run --due or the daemon");
    }
    const std::string& schedule = parsed->text;
    std::string runs;
    TimePoint t = now;
    for (int i = 0; i < 3; ++i) {
        auto n = schedule::next_fire(*parsed, zone, t);
        if (!n) {
            break;
        }
        runs += (runs.empty() ? "" : ", ") + local_time(zone, *n);
        t = *n;
    }
    if (runs.empty()) {
        return failed("config.schedule", "'" + schedule + "' never fires", "fix the schedule");
    }
    return pass("config.schedule", "'" + schedule + "' next runs: " + runs);
}

Finding evaluate_freshness(const schedule::CronSchedule* parsed, const date::time_zone* zone,
                           std::optional<TimePoint> last_success, TimePoint now, std::chrono::seconds grace)
{
    if (parsed == nullptr) {
        if (!last_success) {
            return warn("freshness", "no backup yet", "run `dbkeep backup` once to prove the set-up");
        }
        return pass("freshness", "last successful backup " + format_rfc3339(*last_success) + " (no schedule)");
    }
    auto overdue_since = schedule::previous_fire(*parsed, zone, now - grace);
    if (!last_success) {
        return warn("freshness", "no backup yet", "run `dbkeep run --due` (or wait for the schedule)");
    }
    if (overdue_since && *overdue_since > *last_success) {
        return failed("freshness",
                      "the backup scheduled for " + local_time(zone, *overdue_since) +
                          " is missing; the last successful one was " + local_time(zone, *last_success),
                      "check the scheduler (cron, CronJob, daemon) and its logs; `dbkeep run --due` backs up now");
    }
    return pass("freshness", "last successful backup " + local_time(zone, *last_success) + " is on schedule");
}

} // namespace dbkeep::check
