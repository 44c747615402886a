#include "cli/app.hpp"
#include "cli/context.hpp"
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
        exit_code = ctx.for_each_target(names, [&](const config::TargetConfig& t, storage::Storage& storage) -> Status {
            auto r = job::run_prune(t, storage, {.dry_run = *dry_run, .orphans = *orphans},
                                    std::chrono::system_clock::now());
            if (!r) {
                return std::unexpected(r.error());
            }
            if (!r->skipped.empty()) {
                std::printf("%s: %s\n", t.name.c_str(), r->skipped.c_str());
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
                std::printf("%-12s %s %s (no manifest, --orphans)\n", t.name.c_str(), o.c_str(),
                            *dry_run ? "would remove" : "removed");
            }
            for (const auto& o : r->orphans) {
                std::printf("%-12s %s kept: no manifest (an orphan; `prune %s --orphans` deletes it once a day "
                            "old)\n",
                            t.name.c_str(), o.c_str(), t.name.c_str());
            }
            for (const auto& w : r->swept.discarded) {
                std::printf("%-12s %s %s (an incomplete write older than a day)\n", t.name.c_str(), w.c_str(),
                            *dry_run ? "would remove" : "removed");
            }
            return {};
        });
    });
}

} // namespace dbkeep::cli
