#include "cli/app.hpp"
#include "cli/context.hpp"
#include "core/cancel.hpp"
#include "job/scheduled.hpp"
#include "observe/log.hpp"
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
        auto targets = ctx.targets(*names);
        if (!targets) {
            exit_code = k_exit_usage;
            return;
        }
        int failures = 0;
        for (const auto* t : *targets) {
            if (cancel::requested()) {
                break;
            }
            auto storage = ctx.storage_for(*t);
            if (!storage) {
                exit_code = std::max(exit_code, report(storage.error()));
                ++failures;
                continue;
            }
            auto r = job::backup_with_lease(*ctx.config(), *t, **storage, {.wait = *wait});
            if (!r) {
                int rc = report(r.error());
                exit_code = exit_code == k_exit_ok ? rc : exit_code;
                ++failures;
                continue;
            }
            if (!r->manifest) {
                report(Error{ErrorKind::failed, "back up", t->name, r->skipped, "use --wait to wait for it"});
                ++failures;
                continue;
            }
            const auto* m = &*r->manifest;
            if (!ctx.json) {
                std::printf("%s %s %llu bytes\n", t->name.c_str(), m->id.c_str(),
                            static_cast<unsigned long long>(m->stored_bytes));
            } else {
                std::printf("{\"target\":\"%s\",\"id\":\"%s\",\"stored_bytes\":%llu}\n", t->name.c_str(), m->id.c_str(),
                            static_cast<unsigned long long>(m->stored_bytes));
            }
        }
        if (failures > 0 && exit_code == k_exit_ok) {
            exit_code = k_exit_failed;
        }
    });
}

} // namespace dbkeep::cli
