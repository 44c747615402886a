#include "schedule/daemon.hpp"
#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "cli/app.hpp"
#include "cli/context.hpp"
#include "core/cancel.hpp"
#include "job/proof.hpp"
#include "job/scheduled.hpp"
#include "observe/log.hpp"
#include "observe/metrics.hpp"
#include "schedule/cron.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>

namespace dbkeep::cli {

void add_daemon_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd =
        app.add_subcommand("daemon", "run every target's schedule in-process; /metrics and /healthz on --listen");
    auto listen = std::make_shared<std::string>();
    cmd->add_option("--listen", *listen, "HOST:PORT for /metrics and /healthz (default: daemon.listen)");
    cmd->callback([&ctx, &exit_code, listen] {
        const auto* cfg = ctx.config();
        if (!cfg) {
            exit_code = k_exit_usage;
            return;
        }
        cancel::set_graceful(true);
        observe::Metrics metrics;
        std::unique_ptr<observe::HttpListener> listener;
        std::string where = listen->empty() ? cfg->daemon.listen : *listen;
        if (!where.empty()) {
            auto l = observe::listen_http(where, metrics);
            if (!l) {
                exit_code = report(l.error());
                return;
            }
            listener = std::move(*l);
            observe::info("serving /metrics and /healthz",
                          {{"listen", where}, {"port", std::to_string(listener->port())}});
        }
        std::vector<schedule::ScheduledTarget> targets;
        std::map<std::string, std::pair<schedule::CronSchedule, const date::time_zone*>> schedules;
        // A target's `verify:` block is scheduled as its own entry "<target>/verify" (no target name has a
        // '/'): the same worker pool, jitter, catch-up and retries; job::run_proof_if_due claims each period in
        // storage, so a daemon and a `run --due` elsewhere never both verify it.
        const std::string k_proof_suffix = "/verify";
        auto proof_of = [&](const std::string& name) -> const config::TargetConfig* {
            if (!name.ends_with(k_proof_suffix)) {
                return nullptr;
            }
            return &cfg->targets.at(name.substr(0, name.size() - k_proof_suffix.size()));
        };
        for (const auto& [name, t] : cfg->targets) {
            if (t.verify) {
                schedules[name + k_proof_suffix] = {t.verify->schedule, t.zone};
            }
            if (!t.schedule) {
                observe::info("no schedule: not backed up by the daemon", {{"target", name}});
                continue;
            }
            schedules[name] = {*t.schedule, t.zone};
        }
        for (const auto& [name, entry] : schedules) {
            const auto* s = &entry;
            targets.push_back({name,
                               [s](schedule::TimePoint after) {
                                   return schedule::next_fire(s->first, s->second, after)
                                       .value_or(after + std::chrono::hours(24 * 365 * 100));
                               },
                               [s](std::optional<schedule::TimePoint> last, schedule::TimePoint now) {
                                   return schedule::due(s->first, s->second, last, now);
                               }});
        }
        if (targets.empty()) {
            exit_code =
                report(Error{ErrorKind::config, "start daemon", "", "no target has a schedule or a verify block"});
            return;
        }
        schedule::DaemonOptions options;
        options.max_concurrent = cfg->daemon.max_concurrent;
        options.jitter = std::chrono::seconds(cfg->daemon.jitter_seconds);
        options.shutdown_grace = std::chrono::seconds(cfg->daemon.shutdown_grace_seconds);
        options.last_success = [&](const std::string& name) -> Result<std::optional<schedule::TimePoint>> {
            if (const auto* proved = proof_of(name)) {
                auto storage = ctx.storage_for(*proved);
                if (!storage) {
                    return std::unexpected(storage.error());
                }
                auto last = job::last_proof(**storage, proved->name);
                if (!last) {
                    return std::unexpected(last.error());
                }
                if (last->verified_restore_at) {
                    metrics.verified_restore(
                        proved->name,
                        std::chrono::duration<double>(last->verified_restore_at->time_since_epoch()).count());
                }
                return last->instant;
            }
            const auto& t = cfg->targets.at(name);
            auto storage = ctx.storage_for(t);
            if (!storage) {
                return std::unexpected(storage.error());
            }
            // A backup dated in the future (its host's clock ran ahead) is not the last success.
            auto newest = catalog::newest_backup(**storage, name, std::chrono::system_clock::now());
            if (!newest) {
                return std::unexpected(newest.error());
            }
            if (!*newest) {
                return std::optional<schedule::TimePoint>{};
            }
            const auto& m = **newest;
            metrics.seed_last_success(name, static_cast<double>(m.finished_unix_ms) / 1000.0, m.stored_bytes);
            return catalog::backup_time(m.id);
        };
        options.backup = [&](const std::string& name) -> Status {
            if (const auto* proved = proof_of(name)) {
                auto storage = ctx.storage_for(*proved);
                if (!storage) {
                    return std::unexpected(storage.error());
                }
                auto run = job::run_proof_if_due(*proved, **storage, std::chrono::system_clock::now(), &metrics);
                if (!run) {
                    return std::unexpected(run.error());
                }
                if (run->failure) {
                    return std::unexpected(*run->failure); // told to the channels; logged by the scheduler
                }
                return {};
            }
            const auto& t = cfg->targets.at(name);
            metrics.started(name);
            auto storage = ctx.storage_for(t);
            if (!storage) {
                metrics.failed(name);
                return std::unexpected(storage.error());
            }
            auto r = job::backup_with_lease(*cfg, t, **storage, {.trigger = catalog::Trigger::scheduled});
            if (!r) {
                metrics.failed(name);
                return std::unexpected(r.error());
            }
            if (!r->manifest) {
                observe::info("skipped: another runner holds the lease", {{"target", name}, {"detail", r->skipped}});
                metrics.lease_busy(name);
                return {};
            }
            const auto& m = *r->manifest;
            metrics.succeeded(name, static_cast<double>(m.finished_unix_ms) / 1000.0,
                              static_cast<double>(m.finished_unix_ms - m.started_unix_ms) / 1000.0, m.stored_bytes);
            return {};
        };
        options.check_overdue = [&](const std::string& name) {
            if (proof_of(name) != nullptr) {
                return; // a proof's failures are told when it runs
            }
            const auto& t = cfg->targets.at(name);
            if (auto storage = ctx.storage_for(t)) {
                (void)job::check_overdue(t, **storage, std::chrono::system_clock::now());
            }
        };
        for (const auto& t : targets) {
            if (proof_of(t.name) == nullptr) {
                metrics.seed_last_success(t.name, 0, 0);
            }
        }
        observe::info("daemon started", {{"targets", std::to_string(targets.size())}});
        auto st = schedule::run_daemon(targets, options);
        observe::info("daemon stopped");
        if (!st) {
            exit_code = report(st.error());
        }
    });
}

} // namespace dbkeep::cli
