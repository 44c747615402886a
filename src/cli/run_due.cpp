#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "cli/app.hpp"
#include "cli/context.hpp"
#include "core/cancel.hpp"
#include "core/time.hpp"
#include "job/proof.hpp"
#include "job/scheduled.hpp"
#include "observe/log.hpp"
#include "schedule/cron.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>

namespace dbkeep::cli {

namespace {

Status backup_if_due(Context& ctx, const config::TargetConfig& t, storage::Storage& storage)
{
    auto run = job::run_if_due(*ctx.config(), t, storage, std::chrono::system_clock::now(), ctx.run_metrics());
    if (!run) {
        return std::unexpected(run.error());
    }
    if (!run->due) {
        std::printf("%s not due (next %s)\n", t.name.c_str(), run->next ? format_rfc3339(*run->next).c_str() : "never");
    } else if (!run->backup.manifest) {
        std::printf("%s skipped: %s\n", t.name.c_str(), run->backup.skipped.c_str());
    } else {
        std::printf("%s %s %llu bytes\n", t.name.c_str(), run->backup.manifest->id.c_str(),
                    static_cast<unsigned long long>(run->backup.manifest->stored_bytes));
    }
    return {};
}

// The target's `verify:` block when due: one line saying what it did; a failed proof is the run's error.
Status prove_if_due(Context& ctx, const config::TargetConfig& t, storage::Storage& storage)
{
    auto proof = job::run_proof_if_due(t, storage, std::chrono::system_clock::now(), ctx.run_metrics());
    if (!proof) {
        return std::unexpected(proof.error());
    }
    if (!proof->due) {
        std::printf("%s verify not due (next %s)\n", t.name.c_str(),
                    proof->next ? format_rfc3339(*proof->next).c_str() : "never");
    } else if (!proof->skipped.empty()) {
        std::printf("%s verify skipped: %s\n", t.name.c_str(), proof->skipped.c_str());
    } else if (proof->failure) {
        return std::unexpected(*proof->failure);
    } else {
        std::printf("%s verify ok: %zu backup%s read back%s\n", t.name.c_str(), proof->results.size(),
                    proof->results.size() == 1 ? "" : "s",
                    proof->restored ? ", the test restore matched the manifest" : "");
    }
    return {};
}

} // namespace

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
                if (!t.schedule && !t.verify) {
                    observe::debug("no schedule: skipped", {{"target", t.name}});
                    return {};
                }
                Status backed_up;
                if (t.schedule) {
                    backed_up = backup_if_due(ctx, t, storage);
                }
                if (!t.verify || cancel::requested()) {
                    return backed_up;
                }
                // The proof runs after the backup (and even when it failed: the stored backups still need it).
                Status proved = prove_if_due(ctx, t, storage);
                return backed_up ? proved : backed_up;
            },
            ctx.backup_failure_hook());
        ctx.export_run_metrics();
        if (cancel::requested()) {
            exit_code = k_exit_failed;
        }
    });
}

} // namespace dbkeep::cli
