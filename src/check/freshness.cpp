#include "check/freshness.hpp"
#include "core/time.hpp"

#include "catalog/catalog.hpp"
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

namespace {
// Not inlined: GCC 12 at -O2 reports a false maybe-uninitialized on the optional when it is.
[[gnu::noinline]] Finding freshness_of_trusted(const schedule::CronSchedule* parsed, const date::time_zone* zone,
                                               std::optional<TimePoint> last_success, TimePoint now,
                                               std::chrono::seconds grace)
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

} // namespace

Finding evaluate_freshness(const schedule::CronSchedule* parsed, const date::time_zone* zone,
                           std::optional<TimePoint> last_success, TimePoint now, std::chrono::seconds grace,
                           std::vector<std::string> dated_in_future)
{
    const bool ahead = last_success.has_value() && *last_success > now + catalog::k_clock_skew_allowance;
    if (ahead) {
        dated_in_future.push_back(catalog::make_backup_id(*last_success, "000000").substr(0, 16));
    }
    Finding f = freshness_of_trusted(parsed, zone, ahead ? std::nullopt : last_success, now, grace);
    if (dated_in_future.empty()) {
        return f;
    }
    const std::string note =
        "backup " + dated_in_future.front() +
        (dated_in_future.size() > 1 ? " (and " + std::to_string(dated_in_future.size() - 1) + " more)"
                                    : std::string()) +
        " is dated after this machine's clock (more than " + std::to_string(catalog::k_clock_skew_allowance.count()) +
        " minutes ahead) and is not counted";
    const std::string remedy = "fix the clock (NTP) of the host that wrote it; the backup is kept, and counts once "
                               "its time has come";
    f.finding += "; " + note;
    if (f.outcome == Outcome::pass) {
        f.outcome = Outcome::warn;
    }
    f.remedy = f.remedy.empty() ? remedy : f.remedy + "; " + remedy;
    return f;
}

} // namespace dbkeep::check
