#include "cli/app.hpp"
#include "cli/context.hpp"
#include "core/cancel.hpp"
#include "job/scheduled.hpp"
#include "observe/log.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace dbkeep::cli {

void add_backup_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("backup", "back up now (all targets when none is named)");
    auto names = std::make_shared<std::vector<std::string>>();
    auto wait = std::make_shared<bool>(false);
    cmd->add_option("targets", *names, "targets to back up");
    cmd->add_flag("--wait", *wait, "wait while another runner backs the target up, instead of failing");
    cmd->callback([&ctx, &exit_code, names, wait] {
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
                if (!ctx.json) {
                    std::printf("%s %s %llu bytes\n", t.name.c_str(), m.id.c_str(),
                                static_cast<unsigned long long>(m.stored_bytes));
                } else {
                    std::printf("%s\n",
                                nlohmann::json{{"target", t.name}, {"id", m.id}, {"stored_bytes", m.stored_bytes}}
                                    .dump()
                                    .c_str());
                }
                return {};
            },
            ctx.backup_failure_hook());
        ctx.export_run_metrics();
    });
}

} // namespace dbkeep::cli
