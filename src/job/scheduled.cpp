#include "job/scheduled.hpp"

#include "catalog/catalog.hpp"
#include "catalog/lease.hpp"
#include "catalog/naming.hpp"
#include "check/check.hpp"
#include "config/config.hpp"
#include "core/cancel.hpp"
#include "job/backup.hpp"
#include "observe/log.hpp"
#include "observe/notify.hpp"
#include "schedule/cron.hpp"
#include "storage/storage.hpp"

#include <algorithm>
#include <functional>
#include <thread>

namespace dbkeep::job {

namespace {

// backup_with_lease without the notifications; calls on_start once the lease is held and the backup begins.
Result<LeasedBackupResult> leased_backup(const config::Config& config, const config::TargetConfig& target,
                                         storage::Storage& storage, const LeasedBackupOptions& options,
                                         const std::function<void()>& on_start)
{
    const std::chrono::seconds ttl{config.lease_ttl_seconds};
    catalog::LeaseAttempt attempt;
    for (;;) {
        auto a = catalog::acquire_lease(storage, target.name, ttl, std::chrono::system_clock::now());
        if (!a) {
            return wrap(a.error(), "take the lease of " + target.name);
        }
        attempt = *a;
        if (attempt.outcome != catalog::LeaseOutcome::busy) {
            break;
        }
        std::string who = "host " + attempt.other.host + " pid " + std::to_string(attempt.other.pid) + " until " +
                          attempt.other.expires_at;
        if (!options.wait) {
            return LeasedBackupResult{std::nullopt, "a backup of " + target.name + " is running on " + who};
        }
        observe::info("waiting for the running backup to finish", {{"target", target.name}, {"holder", who}});
        for (int i = 0; i < 20 && !cancel::requested(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (cancel::requested()) {
            return fail_cancelled("wait for the lease of", target.name);
        }
    }
    if (attempt.outcome == catalog::LeaseOutcome::took_over) {
        observe::warn("took over an expired lease", {{"target", target.name},
                                                     {"previous_host", attempt.other.host},
                                                     {"previous_pid", std::to_string(attempt.other.pid)},
                                                     {"expired_at", attempt.other.expires_at}});
    }
    catalog::HeldLease held(storage, target.name, attempt.mine, ttl);
    on_start();
    auto m = run_backup(config, target, storage);
    if (!m) {
        return std::unexpected(m.error());
    }
    if (options.prune && !target.keep.empty()) {
        auto report = run_prune(target, storage, false, std::chrono::system_clock::now());
        if (!report) {
            // The backup itself succeeded; retention is retried on the next run.
            observe::warn("retention not applied", {{"target", target.name}, {"error", report.error().to_string()}});
        }
    }
    return LeasedBackupResult{*m, ""};
}

} // namespace

Result<LeasedBackupResult> backup_with_lease(const config::Config& config, const config::TargetConfig& target,
                                             storage::Storage& storage, const LeasedBackupOptions& options)
{
    const auto started = std::chrono::steady_clock::now();
    auto seconds_since_start = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    };
    auto result = leased_backup(config, target, storage, options, [&] {
        observe::notify(target.notify, {.event = observe::Event::start, .target = target.name});
    });
    if (!result) {
        observe::notify(target.notify, {.event = observe::Event::failure,
                                        .target = target.name,
                                        .duration_seconds = seconds_since_start(),
                                        .error = observe::redact(result.error().to_string())});
    } else if (result->manifest) {
        const catalog::Manifest& m = *result->manifest;
        observe::notify(target.notify, {.event = observe::Event::success,
                                        .target = target.name,
                                        .backup_id = m.id,
                                        .stored_bytes = m.stored_bytes,
                                        .raw_bytes = m.raw_bytes,
                                        .duration_seconds = seconds_since_start()});
    }
    return result;
}

Finding check_overdue(const config::TargetConfig& target, storage::Storage& storage, TimePoint now)
{
    Finding finding = check::check_freshness(target, storage, now);
    if (finding.outcome == Outcome::fail) {
        observe::notify(
            target.notify,
            {.event = observe::Event::missed,
             .target = target.name,
             .error = observe::redact(finding.finding + (finding.remedy.empty() ? "" : " (" + finding.remedy + ")"))});
    }
    return finding;
}

void notify_failure(const config::TargetConfig& target, const Error& error)
{
    observe::notify(
        target.notify,
        {.event = observe::Event::failure, .target = target.name, .error = observe::redact(error.to_string())});
}

Result<PruneReport> run_prune(const config::TargetConfig& target, storage::Storage& storage, bool dry_run,
                              TimePoint now)
{
    PruneReport report;
    auto listing = catalog::list_backups(storage, target.name);
    if (!listing) {
        return wrap(listing.error(), "prune " + target.name + ": nothing removed");
    }
    if (!listing->unreadable.empty()) {
        return fail(ErrorKind::corruption, "prune", target.name,
                    "unreadable manifest " + listing->unreadable.front() + "; nothing removed",
                    "inspect or remove it by hand");
    }
    if (target.keep.empty()) {
        report.skipped = "no retention policy (keep:) for " + target.name + ": every backup is kept";
    } else {
        std::vector<catalog::RetentionInput> inputs;
        for (const auto& m : listing->backups) {
            auto t = catalog::backup_time(m.id);
            inputs.push_back({m.id, t.value_or(TimePoint{})});
        }
        report.decisions = catalog::apply_retention(inputs, target.keep, target.zone);
        if (!dry_run) {
            for (const auto& d : report.decisions) {
                if (d.keep) {
                    continue;
                }
                auto it = std::find_if(listing->backups.begin(), listing->backups.end(),
                                       [&](const catalog::Manifest& m) { return m.id == d.id; });
                // The manifest first: a backup without its manifest no longer exists, even if the object
                // removal below fails (the object is then an orphan, removed later).
                if (auto st = storage.remove({catalog::manifest_key(target.name, d.id)}); !st) {
                    return wrap(st.error(), "prune " + target.name);
                }
                if (auto st = storage.remove({it->object_key}); !st) {
                    return wrap(st.error(), "prune " + target.name);
                }
                observe::info("removed backup", {{"target", target.name}, {"id", d.id}});
            }
        }
    }
    // Leftovers of failed runs: objects without a manifest, once older than a day (a running backup's
    // object has no manifest yet either).
    for (const auto& key : listing->orphans) {
        auto id = catalog::id_from_object_key(key);
        auto t = id ? catalog::backup_time(*id) : std::nullopt;
        if (t && *t < now - std::chrono::hours(24)) {
            if (!dry_run) {
                if (auto st = storage.remove({key}); !st) {
                    return wrap(st.error(), "prune " + target.name);
                }
            }
            report.removed_orphans.push_back(key);
        }
    }
    return report;
}

Result<DueRun> run_if_due(const config::Config& config, const config::TargetConfig& target, storage::Storage& storage,
                          TimePoint now)
{
    DueRun run;
    if (!target.schedule) {
        return run;
    }
    auto last = catalog::last_success(storage, target.name);
    if (!last) {
        notify_failure(target, last.error()); // a trigger that fires but cannot read storage is a failed backup
        return std::unexpected(last.error());
    }
    if (!schedule::due(*target.schedule, target.zone, *last, now)) {
        run.next = schedule::next_fire(*target.schedule, target.zone, now);
        return run;
    }
    run.due = true;
    auto backup = backup_with_lease(config, target, storage, {});
    if (!backup) {
        return std::unexpected(backup.error());
    }
    run.backup = std::move(*backup);
    return run;
}

} // namespace dbkeep::job
