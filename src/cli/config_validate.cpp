#include "cli/app.hpp"
#include "cli/context.hpp"

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
            return;
        }
        std::printf("%s: ok\n%s", cfg->path.string().c_str(), config::to_string(*cfg).c_str());
    });
}

} // namespace dbkeep::cli
