#include "job/scheduled.hpp"
#include "job/context.hpp"

#include "catalog/catalog.hpp"
#include "catalog/lease.hpp"
#include "catalog/naming.hpp"
#include "check/check.hpp"
#include "config/config.hpp"
#include "core/cancel.hpp"
#include "job/backup.hpp"
#include "observe/log.hpp"
#include "observe/metrics.hpp"
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
    auto protocol = catalog::lease_protocol_for(storage, target.name);
    if (!protocol) {
        return wrap_once(protocol.error(), "take the lease of " + target.name);
    }
    catalog::LeaseAttempt attempt;
    for (;;) {
        auto a = catalog::acquire_lease(storage, target.name, ttl, std::chrono::system_clock::now(), *protocol);
        if (!a) {
            return wrap_once(a.error(), "take the lease of " + target.name);
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
    if (attempt.outcome == catalog::LeaseOutcome::took_over && !attempt.holder_dead) { // lease.cpp logs that case
        observe::warn("took over an expired lease", {{"target", target.name},
                                                     {"previous_host", attempt.other.host},
                                                     {"previous_pid", std::to_string(attempt.other.pid)},
                                                     {"expired_at", attempt.other.expires_at}});
    }
    catalog::HeldLease held(storage, target.name, attempt.mine, ttl);
    on_start();
    auto m = run_backup(config, target, storage,
                        {.before_commit = [&held] { return held.confirm(); }, .trigger = options.trigger});
    if (!m) {
        return std::unexpected(m.error());
    }
    const auto now = std::chrono::system_clock::now();
    if (options.prune && !target.keep.empty()) {
        auto report = run_prune(target, storage, {}, now);
        if (!report) {
            // The backup itself succeeded; retention is retried on the next run.
            observe::warn("retention not applied", {{"target", target.name}, {"error", report.error().to_string()}});
        } else if (!report->orphans.empty()) {
            observe::warn("objects without a manifest kept",
                          {{"target", target.name},
                           {"count", std::to_string(report->orphans.size())},
                           {"first", report->orphans.front()},
                           {"hint", "`dbkeep list " + target.name + "` shows them; `dbkeep prune " + target.name +
                                        " --orphans` deletes them"}});
        }
    } else if (auto swept = sweep_incomplete(storage, target.name, false, now); !swept) {
        observe::warn("incomplete writes not swept", {{"target", target.name}, {"error", swept.error().to_string()}});
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
        if (options.metrics != nullptr) {
            options.metrics->started(target.name);
        }
        observe::notify(target.notify, {.event = observe::Event::start, .target = target.name});
    });
    if (options.metrics != nullptr) {
        if (!result) {
            options.metrics->failed(target.name);
        } else if (result->manifest) {
            options.metrics->succeeded(target.name, static_cast<double>(result->manifest->finished_unix_ms) / 1000.0,
                                       seconds_since_start(), catalog::total_stored_bytes(*result->manifest));
        } else {
            options.metrics->lease_busy(target.name);
        }
    }
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
                                        .stored_bytes = catalog::total_stored_bytes(m),
                                        .raw_bytes = catalog::total_raw_bytes(m),
                                        .duration_seconds = seconds_since_start()});
    }
    return result;
}

Finding check_overdue(const config::TargetConfig& target, storage::Storage& storage, TimePoint now)
{
    Finding finding = check::check_freshness(target, storage, now);
    const std::string markers = catalog::target_prefix(target.name) + "missed/";
    if (finding.outcome != Outcome::fail) {
        // Caught up: the markers of periods already reported are no longer needed.
        if (auto listed = storage.list(markers); listed && !listed->empty()) {
            std::vector<std::string> keys;
            for (const auto& o : *listed) {
                keys.push_back(o.key);
            }
            (void)storage.remove(keys);
        }
        return finding;
    }
    // Once per overdue period, whoever runs the check and however often: the period is named by the first
    // scheduled instant missed since the last success, and only the run that creates its marker sends.
    if (auto last = catalog::last_success(storage, target.name, now); last && target.schedule) {
        const auto missed = schedule::next_fire(*target.schedule, target.zone, last->value_or(TimePoint{}));
        if (missed) {
            const std::string marker = markers + catalog::make_backup_id(*missed, "000000").substr(0, 16) + ".json";
            auto created = storage.create_if_absent(marker, "{\"missed\": \"" + format_rfc3339(*missed) + "\"}\n");
            if (created && !*created) {
                observe::info("missed backup already reported", {{"target", target.name}, {"period", marker}});
                return finding;
            }
        }
    }
    {
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

Result<SweepReport> sweep_incomplete(storage::Storage& storage, const std::string& target, bool dry_run, TimePoint now)
{
    SweepReport report;
    auto incomplete = storage.list_incomplete(catalog::target_prefix(target));
    if (!incomplete) {
        return wrap_once(incomplete.error(), "sweep " + target);
    }
    const auto limit =
        std::chrono::duration_cast<std::chrono::seconds>((now - k_incomplete_write_age).time_since_epoch()).count();
    for (const auto& w : *incomplete) {
        if (!w.key.starts_with(catalog::target_prefix(target)) || w.modified_unix >= limit) {
            report.kept.push_back(w.handle);
            continue;
        }
        if (!dry_run) {
            if (auto st = storage.discard_incomplete(w); !st) {
                return wrap_once(st.error(), "sweep " + target);
            }
            observe::info("discarded an incomplete write",
                          {{"target", target}, {"key", w.handle}, {"bytes", std::to_string(w.size)}});
        }
        report.discarded.push_back(w.handle);
    }
    return report;
}

Result<PruneReport> run_prune(const config::TargetConfig& target, storage::Storage& storage,
                              const PruneOptions& options, TimePoint now)
{
    PruneReport report;
    const bool dry_run = options.dry_run;
    // Incomplete writes are garbage whatever the manifests say: swept even when retention cannot run.
    auto swept = sweep_incomplete(storage, target.name, dry_run, now);
    if (!swept) {
        return std::unexpected(swept.error());
    }
    report.swept = std::move(*swept);
    auto listing = catalog::list_backups(storage, target.name);
    if (!listing) {
        return wrap_once(listing.error(), "prune " + target.name + ": nothing removed");
    }
    if (!listing->unreadable.empty()) {
        const auto& bad = listing->unreadable.front();
        return fail(ErrorKind::corruption, "prune", target.name,
                    "unreadable manifest " + bad.key + " (" + bad.reason + "); nothing removed",
                    "inspect it (`dbkeep list " + target.name + "`), then repair or remove it by hand");
    }
    // Only what this listing of this target returned may be deleted.
    auto listed = [&](const std::string& key) {
        return std::binary_search(listing->keys.begin(), listing->keys.end(), key);
    };
    if (target.keep.empty()) {
        report.skipped = "no retention policy (keep:) for " + target.name + ": every backup is kept";
    } else {
        std::vector<catalog::RetentionInput> inputs;
        for (const auto& m : listing->backups) {
            auto t = catalog::backup_time(m.id);
            // A target without a schedule is backed up by an outside trigger running `dbkeep backup`: its
            // backups are its schedule's, and all of them count as scheduled.
            const bool manual = m.trigger == catalog::Trigger::manual && target.schedule.has_value();
            inputs.push_back({m.id, t.value_or(TimePoint{}), manual});
        }
        report.decisions = catalog::apply_retention(inputs, target.keep, target.zone, now,
                                                    std::chrono::seconds(catalog::k_clock_skew_allowance));
        if (!dry_run) {
            for (const auto& d : report.decisions) {
                if (d.keep) {
                    continue;
                }
                auto it = std::find_if(listing->backups.begin(), listing->backups.end(),
                                       [&](const catalog::Manifest& m) { return m.id == d.id; });
                const std::string manifest = catalog::manifest_key(target.name, d.id);
                if (it == listing->backups.end() || !listed(manifest)) {
                    continue;
                }
                // The manifest first: a backup without its manifest no longer exists, even if the object
                // removal below fails (the object is then an orphan, reported by list).
                if (auto st = storage.remove({manifest}); !st) {
                    return wrap_once(st.error(), "prune " + target.name);
                }
                std::vector<std::string> objects;
                for (const auto& key : catalog::object_keys(*it)) {
                    // The manifest names the key its id implies, but only a key the listing returned is removed:
                    // a manifest never makes prune delete what it did not list (tests/unit/job/prune_test.cpp).
                    if (listed(key)) {
                        objects.push_back(key);
                    } else {
                        observe::warn("an object of a removed backup was not in the listing: left alone",
                                      {{"target", target.name}, {"id", d.id}, {"key", key}});
                    }
                }
                if (!objects.empty()) {
                    if (auto st = storage.remove(objects); !st) {
                        return wrap_once(st.error(), "prune " + target.name);
                    }
                }
                observe::info("removed backup", {{"target", target.name}, {"id", d.id}});
            }
        }
    }
    // Complete objects without a manifest are kept: nothing proves they are garbage (their manifests may
    // have been lost by a copy or a lifecycle rule, and they still restore). Deleted only on request.
    const auto day_ago =
        std::chrono::duration_cast<std::chrono::seconds>((now - k_incomplete_write_age).time_since_epoch()).count();
    for (const auto& key : listing->orphans) {
        bool old_enough = false;
        if (options.orphans && listed(key)) {
            auto id = catalog::id_from_object_key(key);
            auto t = id ? catalog::backup_time(*id) : std::nullopt;
            auto info = storage.stat(key);
            old_enough = t && *t < now - k_incomplete_write_age && info && info->modified_unix < day_ago;
        }
        if (!old_enough) {
            report.orphans.push_back(key);
            continue;
        }
        if (!dry_run) {
            if (auto st = storage.remove({key}); !st) {
                return wrap_once(st.error(), "prune " + target.name);
            }
            observe::info("removed an object without a manifest", {{"target", target.name}, {"key", key}});
        }
        report.removed_orphans.push_back(key);
    }
    return report;
}

Result<DueRun> run_if_due(const config::Config& config, const config::TargetConfig& target, storage::Storage& storage,
                          TimePoint now, observe::Metrics* metrics)
{
    DueRun run;
    if (!target.schedule) {
        return run;
    }
    // A backup dated after now (its host's clock ran ahead) is not the last success (catalog.hpp).
    auto last = catalog::last_success(storage, target.name, now);
    if (!last) {
        if (metrics != nullptr) {
            metrics->failed(target.name);
        }
        notify_failure(target, last.error()); // a trigger that fires but cannot read storage is a failed backup
        return std::unexpected(last.error());
    }
    run.last_success = *last;
    if (metrics != nullptr && *last) {
        metrics->seed_last_success(target.name, std::chrono::duration<double>(last->value().time_since_epoch()).count(),
                                   0);
    }
    if (!schedule::due(*target.schedule, target.zone, *last, now)) {
        run.next = schedule::next_fire(*target.schedule, target.zone, now);
        if (metrics != nullptr && run.next) {
            metrics->set_next_scheduled(target.name,
                                        std::chrono::duration<double>(run.next->time_since_epoch()).count());
        }
        return run;
    }
    run.due = true;
    auto backup =
        backup_with_lease(config, target, storage, {.trigger = catalog::Trigger::scheduled, .metrics = metrics});
    if (metrics != nullptr) {
        if (auto next = schedule::next_fire(*target.schedule, target.zone, std::chrono::system_clock::now())) {
            metrics->set_next_scheduled(target.name, std::chrono::duration<double>(next->time_since_epoch()).count());
        }
    }
    if (!backup) {
        return std::unexpected(backup.error());
    }
    run.backup = std::move(*backup);
    return run;
}

} // namespace dbkeep::job
