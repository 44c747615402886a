#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "cli/app.hpp"
#include "cli/context.hpp"
#include "core/cancel.hpp"
#include "core/time.hpp"
#include "job/scheduled.hpp"
#include "observe/log.hpp"
#include "schedule/cron.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>

namespace dbkeep::cli {

void add_run_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("run", "back up every target whose schedule says a backup is due; idempotent");
    auto due_flag = std::make_shared<bool>(false);
    auto names = std::make_shared<std::vector<std::string>>();
    cmd->add_flag("--due", *due_flag, "only targets that are due (required: the one mode of `run`)")->required();
    cmd->add_option("targets", *names, "only these targets");
    // The callback owns every option's storage: CLI11 writes to it while parsing.
    cmd->callback([&ctx, &exit_code, names, due_flag] {
        exit_code = ctx.for_each_target(
            *names,
            [&](const config::TargetConfig& t, storage::Storage& storage) -> Status {
                if (!t.schedule) {
                    observe::debug("no schedule: skipped", {{"target", t.name}});
                    return {};
                }
                auto run =
                    job::run_if_due(*ctx.config(), t, storage, std::chrono::system_clock::now(), ctx.run_metrics());
                if (!run) {
                    return std::unexpected(run.error());
                }
                if (!run->due) {
                    std::printf("%s not due (next %s)\n", t.name.c_str(),
                                run->next ? format_rfc3339(*run->next).c_str() : "never");
                } else if (!run->backup.manifest) {
                    std::printf("%s skipped: %s\n", t.name.c_str(), run->backup.skipped.c_str());
                } else {
                    std::printf("%s %s %llu bytes\n", t.name.c_str(), run->backup.manifest->id.c_str(),
                                static_cast<unsigned long long>(run->backup.manifest->stored_bytes));
                }
                return {};
            },
            ctx.backup_failure_hook());
        ctx.export_run_metrics();
        if (cancel::requested()) {
            exit_code = k_exit_failed;
        }
    });
}

} // namespace dbkeep::cli
