#include "cli/app.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "job/scheduled.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>

namespace dbkeep::cli {

void add_prune_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("prune", "apply retention: prints keep/remove and the reason for each backup");
    auto target = std::make_shared<std::string>();
    auto dry_run = std::make_shared<bool>(false);
    auto orphans = std::make_shared<bool>(false);
    cmd->add_option("target", *target, "only this target");
    cmd->add_flag("--dry-run", *dry_run, "print what would be removed, remove nothing");
    cmd->add_flag("--orphans", *orphans, "also delete objects without a manifest (older than a day)");
    cmd->callback([&ctx, &exit_code, target, dry_run, orphans] {
        std::vector<std::string> names;
        if (!target->empty()) {
            names.push_back(*target);
        }
        nlohmann::json items = nlohmann::json::array();
        int kept = 0;
        int removed = 0;
        exit_code = ctx.for_each_target(names, [&](const config::TargetConfig& t, storage::Storage& storage) -> Status {
            auto r = job::run_prune(t, storage, {.dry_run = *dry_run, .orphans = *orphans},
                                    std::chrono::system_clock::now());
            if (!r) {
                return std::unexpected(r.error());
            }
            for (const auto& d : r->decisions) {
                (d.keep ? kept : removed) += 1;
            }
            removed += static_cast<int>(r->removed_orphans.size() + r->swept.discarded.size());
            if (ctx.json) {
                const char* removal = *dry_run ? "would_remove" : "remove";
                for (const auto& d : r->decisions) {
                    items.push_back({{"target", t.name},
                                     {"id", d.id},
                                     {"action", d.keep ? "keep" : removal},
                                     {"reasons", d.reasons}});
                }
                for (const auto& o : r->removed_orphans) {
                    items.push_back({{"target", t.name}, {"key", o}, {"action", removal}, {"kind", "orphan"}});
                }
                for (const auto& o : r->orphans) {
                    items.push_back({{"target", t.name}, {"key", o}, {"action", "keep"}, {"kind", "orphan"}});
                }
                for (const auto& w : r->swept.discarded) {
                    items.push_back({{"target", t.name}, {"key", w}, {"action", removal}, {"kind", "incomplete"}});
                }
                if (!r->skipped.empty()) {
                    items.push_back({{"target", t.name}, {"action", "skipped"}, {"reason", r->skipped}});
                }
                return {};
            }
            if (!r->skipped.empty()) {
                std::printf("%s: %s\n", t.name.c_str(), printable(r->skipped).c_str());
            }
            for (const auto& d : r->decisions) {
                std::string reasons;
                for (const auto& why : d.reasons) {
                    reasons += (reasons.empty() ? "" : ", ") + why;
                }
                std::printf("%-12s %-24s %-6s %s\n", t.name.c_str(), d.id.c_str(),
                            d.keep ? "keep" : (*dry_run ? "would remove" : "remove"), reasons.c_str());
            }
            for (const auto& o : r->removed_orphans) {
                // Keys come from storage: their control characters are escaped, never sent to the terminal.
                std::printf("%-12s %s %s (no manifest, --orphans)\n", t.name.c_str(), printable(o).c_str(),
                            *dry_run ? "would remove" : "removed");
            }
            for (const auto& o : r->orphans) {
                std::printf("%-12s %s kept: no manifest (an orphan; `prune %s --orphans` deletes it once a day "
                            "old)\n",
                            t.name.c_str(), printable(o).c_str(), t.name.c_str());
            }
            for (const auto& w : r->swept.discarded) {
                std::printf("%-12s %s %s (an incomplete write older than a day)\n", t.name.c_str(),
                            printable(w).c_str(), *dry_run ? "would remove" : "removed");
            }
            return {};
        });
        if (ctx.json) {
            print_items(std::move(items), ctx);
        } else if (exit_code != k_exit_usage) {
            const auto failed = ctx.target_errors().size();
            print_summary(
                "prune: " + std::to_string(kept) + " kept, " + std::to_string(removed) +
                (*dry_run ? " would be removed (dry run)" : " removed") +
                (failed > 0 ? ", " + std::to_string(failed) + " target" + (failed == 1 ? "" : "s") + " FAILED" : ""));
        }
    });
}

} // namespace dbkeep::cli
