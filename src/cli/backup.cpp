#include "catalog/catalog.hpp"
#include "cli/app.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/human.hpp"
#include "job/scheduled.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>

namespace dbkeep::cli {

void add_backup_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("backup", "back up now (all targets when none is named)");
    auto names = std::make_shared<std::vector<std::string>>();
    auto wait = std::make_shared<bool>(false);
    cmd->add_option("targets", *names, "targets to back up");
    cmd->add_flag("--wait", *wait, "wait while another runner backs the target up, instead of failing");
    cmd->callback([&ctx, &exit_code, names, wait] {
        const auto started = std::chrono::steady_clock::now();
        nlohmann::json items = nlohmann::json::array();
        int done = 0;
        std::uint64_t stored = 0;
        std::uint64_t raw = 0;
        exit_code = ctx.for_each_target(
            *names,
            [&](const config::TargetConfig& t, storage::Storage& storage) -> Status {
                auto r = job::backup_with_lease(
                    *ctx.config(), t, storage,
                    {.wait = *wait, .trigger = catalog::Trigger::manual, .metrics = ctx.run_metrics()});
                if (!r) {
                    return std::unexpected(r.error());
                }
                if (!r->manifest) {
                    return fail(ErrorKind::failed, "back up", t.name, r->skipped, "use --wait to wait for it");
                }
                const auto& m = *r->manifest;
                ++done;
                stored += catalog::total_stored_bytes(m);
                raw += catalog::total_raw_bytes(m);
                if (ctx.json) {
                    items.push_back(
                        {{"target", t.name},
                         {"status", "ok"},
                         {"id", m.id},
                         {"key", m.object_key},
                         {"stored_bytes", catalog::total_stored_bytes(m)},
                         {"raw_bytes", catalog::total_raw_bytes(m)},
                         {"duration_seconds", static_cast<double>(m.finished_unix_ms - m.started_unix_ms) / 1000.0}});
                } else {
                    std::printf("%s %s %llu bytes\n", t.name.c_str(), m.id.c_str(),
                                static_cast<unsigned long long>(catalog::total_stored_bytes(m)));
                }
                return {};
            },
            ctx.backup_failure_hook());
        ctx.export_run_metrics();
        const auto failed = ctx.target_errors().size();
        if (ctx.json) {
            print_items(std::move(items), ctx);
        } else if (exit_code != k_exit_usage) {
            print_summary("backup: " + std::to_string(done) + " target" + (done == 1 ? "" : "s") + " backed up" +
                          (failed > 0 ? ", " + std::to_string(failed) + " FAILED" : "") + ", " + human_size(stored) +
                          " stored (" + human_size(raw) + " raw), in " + human_duration(elapsed_ms(started)));
        }
    });
}

} // namespace dbkeep::cli
