#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "cli/app.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/cancel.hpp"
#include "core/human.hpp"
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

// What one `run --due` did, for its JSON document and its summary line.
struct RunTally {
    bool json = false;
    nlohmann::json items = nlohmann::json::array();
    int backed_up = 0, not_due = 0, skipped = 0, verified = 0, verify_not_due = 0;
};

std::string when(const std::optional<TimePoint>& t)
{
    return t ? format_rfc3339(*t) : "never";
}

Status backup_if_due(Context& ctx, const config::TargetConfig& t, storage::Storage& storage, RunTally& tally)
{
    auto run = job::run_if_due(*ctx.config(), t, storage, std::chrono::system_clock::now(), ctx.run_metrics());
    if (!run) {
        return std::unexpected(run.error());
    }
    nlohmann::json item{{"target", t.name}, {"job", "backup"}};
    if (!run->due) {
        ++tally.not_due;
        item["status"] = "not_due";
        item["next"] = run->next ? nlohmann::json(format_rfc3339(*run->next)) : nlohmann::json();
        if (!tally.json) {
            std::printf("%s not due (next %s)\n", t.name.c_str(), when(run->next).c_str());
        }
    } else if (!run->backup.manifest) {
        ++tally.skipped;
        item["status"] = "skipped";
        item["reason"] = run->backup.skipped;
        if (!tally.json) {
            std::printf("%s skipped: %s\n", t.name.c_str(), run->backup.skipped.c_str());
        }
    } else {
        ++tally.backed_up;
        const auto& m = *run->backup.manifest;
        item["status"] = "ok";
        item["id"] = m.id;
        item["stored_bytes"] = catalog::total_stored_bytes(m);
        item["raw_bytes"] = catalog::total_raw_bytes(m);
        if (!tally.json) {
            std::printf("%s %s %llu bytes\n", t.name.c_str(), m.id.c_str(),
                        static_cast<unsigned long long>(catalog::total_stored_bytes(m)));
        }
    }
    tally.items.push_back(std::move(item));
    return {};
}

// The target's `verify:` block when due: one line saying what it did; a failed proof is the run's error.
Status prove_if_due(Context& ctx, const config::TargetConfig& t, storage::Storage& storage, RunTally& tally)
{
    auto proof = job::run_proof_if_due(t, storage, std::chrono::system_clock::now(), ctx.run_metrics());
    if (!proof) {
        return std::unexpected(proof.error());
    }
    nlohmann::json item{{"target", t.name}, {"job", "verify"}};
    if (!proof->due) {
        ++tally.verify_not_due;
        item["status"] = "not_due";
        item["next"] = proof->next ? nlohmann::json(format_rfc3339(*proof->next)) : nlohmann::json();
        if (!tally.json) {
            std::printf("%s verify not due (next %s)\n", t.name.c_str(), when(proof->next).c_str());
        }
    } else if (!proof->skipped.empty()) {
        item["status"] = "skipped";
        item["reason"] = proof->skipped;
        if (!tally.json) {
            std::printf("%s verify skipped: %s\n", t.name.c_str(), proof->skipped.c_str());
        }
    } else if (proof->failure) {
        return std::unexpected(*proof->failure); // reported (and put in the JSON document) as the target's error
    } else {
        ++tally.verified;
        item["status"] = "ok";
        item["backups"] = proof->results.size();
        item["restored"] = proof->restored;
        if (!tally.json) {
            std::printf("%s verify ok: %zu backup%s read back%s\n", t.name.c_str(), proof->results.size(),
                        proof->results.size() == 1 ? "" : "s",
                        proof->restored ? ", the test restore matched the manifest" : "");
        }
    }
    tally.items.push_back(std::move(item));
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
        const auto started = std::chrono::steady_clock::now();
        RunTally tally;
        tally.json = ctx.json;
        exit_code = ctx.for_each_target(
            *names,
            [&](const config::TargetConfig& t, storage::Storage& storage) -> Status {
                if (!t.schedule && !t.verify) {
                    observe::debug("no schedule: skipped", {{"target", t.name}});
                    return {};
                }
                Status backed_up;
                if (t.schedule) {
                    backed_up = backup_if_due(ctx, t, storage, tally);
                }
                if (!t.verify || cancel::requested()) {
                    return backed_up;
                }
                // The proof runs after the backup (and even when it failed: the stored backups still need it).
                Status proved = prove_if_due(ctx, t, storage, tally);
                return backed_up ? proved : backed_up;
            },
            ctx.backup_failure_hook());
        ctx.export_run_metrics();
        if (cancel::requested()) {
            exit_code = k_exit_failed;
        }
        const auto failed = ctx.target_errors().size();
        if (ctx.json) {
            print_items(std::move(tally.items), ctx);
        } else if (exit_code != k_exit_usage) {
            std::string line = "run --due: " + std::to_string(tally.backed_up) + " backed up, " +
                               std::to_string(tally.not_due) + " up to date";
            if (tally.skipped > 0) {
                line += ", " + std::to_string(tally.skipped) + " skipped (lease held)";
            }
            if (tally.verified > 0 || tally.verify_not_due > 0) {
                line += ", " + std::to_string(tally.verified) + " verified";
            }
            if (failed > 0) {
                line += ", " + std::to_string(failed) + " FAILED";
            }
            print_summary(line + ", in " + human_duration(elapsed_ms(started)));
        }
    });
}

} // namespace dbkeep::cli
