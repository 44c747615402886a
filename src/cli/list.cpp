#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "cli/app.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/human.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dbkeep::cli {
namespace {
} // namespace

void add_list_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("list", "backups, newest first, from the manifests in storage");
    auto target_name = std::make_shared<std::string>();
    auto json_flag = std::make_shared<bool>(false);
    cmd->add_option("target", *target_name, "only this target");
    cmd->add_flag("--json", *json_flag, "print JSON");
    cmd->callback([&ctx, &exit_code, target_name, json_flag] {
        std::vector<std::string> names;
        if (!target_name->empty()) {
            names.push_back(*target_name);
        }
        bool as_json = *json_flag || ctx.json;
        nlohmann::json all = nlohmann::json::array();
        if (!as_json) {
            std::printf("%-12s %-24s %-24s %10s %10s %9s\n", "TARGET", "ID", "STARTED", "SIZE", "RAW", "DURATION");
        }
        const auto now = std::chrono::system_clock::now();
        std::size_t count = 0;
        std::uint64_t stored = 0;
        exit_code = ctx.for_each_target(names, [&](const config::TargetConfig& t, storage::Storage& storage) -> Status {
            auto listing = catalog::list_backups(storage, t.name);
            if (!listing) {
                return std::unexpected(listing.error());
            }
            for (const auto& m : listing->backups) {
                ++count;
                stored += catalog::total_stored_bytes(m);
                const bool future = catalog::dated_in_future(m.id, now);
                if (as_json) {
                    auto j = nlohmann::json::parse(catalog::to_json(m));
                    j["status"] = future ? "dated_in_future" : "ok";
                    all.push_back(std::move(j));
                } else {
                    std::printf(
                        "%-12s %-24s %-24s %10s %10s %9s%s%s\n", t.name.c_str(), m.id.c_str(),
                        printable(m.started_at).c_str(), human_size(catalog::total_stored_bytes(m)).c_str(),
                        human_size(catalog::total_raw_bytes(m)).c_str(),
                        human_duration(m.finished_unix_ms - m.started_unix_ms).c_str(),
                        m.trigger == catalog::Trigger::manual ? "  manual" : "",
                        future ? "  DATED IN THE FUTURE (the clock of the host that wrote it ran ahead?): kept, not "
                                 "counted for schedule, freshness, retention or `latest`"
                               : "");
                }
            }
            // What is not a backup but is kept: shown so that nothing disappears silently.
            for (const auto& key : listing->orphans) {
                if (as_json) {
                    all.push_back({{"target", t.name}, {"status", "orphan"}, {"key", key}});
                } else {
                    std::printf("%-12s ORPHAN %s: a complete object without a manifest (kept; `dbkeep prune %s "
                                "--orphans` deletes it)\n",
                                t.name.c_str(), printable(key).c_str(), t.name.c_str());
                }
            }
            for (const auto& bad : listing->unreadable) {
                if (as_json) {
                    all.push_back(
                        {{"target", t.name}, {"status", "unreadable"}, {"key", bad.key}, {"reason", bad.reason}});
                } else {
                    std::printf("%-12s UNREADABLE %s: %s (never read, verified or deleted)\n", t.name.c_str(),
                                printable(bad.key).c_str(), printable(bad.reason).c_str());
                }
            }
            return {};
        });
        if (as_json) {
            print_items(std::move(all), ctx);
        } else if (exit_code != k_exit_usage) {
            print_summary("list: " + std::to_string(count) + " backup" + (count == 1 ? "" : "s") + ", " +
                          human_size(stored) + " stored");
        }
    });
}

} // namespace dbkeep::cli
