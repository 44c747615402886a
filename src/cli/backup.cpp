#include "cli/app.hpp"
#include "cli/context.hpp"
#include "core/cancel.hpp"
#include "job/backup.hpp"
#include "observe/log.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>

namespace dbkeep::cli {

void add_backup_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("backup", "back up now (all targets when none is named)");
    auto names = std::make_shared<std::vector<std::string>>();
    cmd->add_option("targets", *names, "targets to back up");
    cmd->callback([&ctx, &exit_code, names] {
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
            auto m = job::run_backup(*ctx.config(), *t, **storage);
            if (!m) {
                int rc = report(m.error());
                exit_code = exit_code == k_exit_ok ? rc : exit_code;
                ++failures;
                continue;
            }
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
