#include "cli/app.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>

namespace dbkeep::cli {

void add_config_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("config", "configuration file commands");
    cmd->require_subcommand(1);
    auto* validate = cmd->add_subcommand("validate", "load and validate the file; errors name file:line:column");
    validate->callback([&ctx, &exit_code] {
        const auto* cfg = ctx.config();
        if (!cfg) {
            exit_code = k_exit_usage;
            if (ctx.json) {
                nlohmann::json out{{"valid", false}};
                if (const auto* e = ctx.config_error()) {
                    out["error"] = error_json(*e);
                }
                print_json(out);
            }
            return;
        }
        if (!ctx.json) {
            std::printf("%s: ok\n%s", cfg->path.string().c_str(), config::to_string(*cfg).c_str());
            return;
        }
        nlohmann::json storages = nlohmann::json::array();
        for (const auto& [name, st] : cfg->storages) {
            storages.push_back({{"name", name}, {"type", st.type()}});
        }
        nlohmann::json targets = nlohmann::json::array();
        for (const auto& [name, t] : cfg->targets) {
            targets.push_back({{"name", name},
                               {"engine", t.engine_name()},
                               {"url", t.url},
                               {"storage", t.storage},
                               {"schedule", t.schedule ? nlohmann::json(t.schedule->text) : nlohmann::json()},
                               {"timezone", t.timezone},
                               {"runner", runner::runner_type(t.runner)},
                               {"encrypted", t.encryption.enabled()},
                               {"verify", t.verify ? nlohmann::json(t.verify->schedule.text) : nlohmann::json()},
                               {"notify_channels", t.notify.size()}});
        }
        print_json({{"valid", true}, {"path", cfg->path.string()}, {"storages", storages}, {"targets", targets}});
    });
}

} // namespace dbkeep::cli
