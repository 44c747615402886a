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
            if (!t->schedule) {
                observe::debug("no schedule: skipped", {{"target", t->name}});
                continue;
            }
            const auto* schedule = &*t->schedule;
            const auto* zone = t->zone;
            auto storage = ctx.storage_for(*t);
            if (!storage) {
                report(storage.error());
                ++failures;
                continue;
            }
            auto last = catalog::last_success(**storage, t->name);
            if (!last) {
                report(last.error());
                ++failures;
                continue;
            }
            auto now = std::chrono::system_clock::now();
            if (!schedule::due(*schedule, zone, *last, now)) {
                auto next = schedule::next_fire(*schedule, zone, now);
                std::printf("%s not due (next %s)\n", t->name.c_str(), next ? format_rfc3339(*next).c_str() : "never");
                continue;
            }
            auto r = job::backup_with_lease(*ctx.config(), *t, **storage, {});
            if (!r) {
                report(r.error());
                ++failures;
                continue;
            }
            if (!r->manifest) {
                std::printf("%s skipped: %s\n", t->name.c_str(), r->skipped.c_str());
                continue;
            }
            std::printf("%s %s %llu bytes\n", t->name.c_str(), r->manifest->id.c_str(),
                        static_cast<unsigned long long>(r->manifest->stored_bytes));
        }
        if (failures > 0 || cancel::requested()) {
            exit_code = k_exit_failed;
        }
    });
}

} // namespace dbkeep::cli
