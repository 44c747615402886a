#include "cli/app.hpp"
#include "cli/context.hpp"
#include "observe/build_info.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace dbkeep::cli {

std::string version_text()
{
    return observe::format_build_info(observe::build_info());
}

void add_version_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("version", "print the version, commit, build type and library versions");
    auto json_flag = std::make_shared<bool>(false);
    cmd->add_flag("--json", *json_flag, "print JSON");
    cmd->callback([&ctx, &exit_code, json_flag] {
        const observe::BuildInfo info = observe::build_info();
        if (*json_flag || ctx.json) {
            nlohmann::json j{{"version", info.version}, {"commit", info.commit}, {"build_type", info.build_type}};
            for (const auto& [name, version] : info.libraries) {
                j["libraries"][name] = version;
            }
            std::printf("%s\n", j.dump(2).c_str());
        } else {
            std::fputs(observe::format_build_info(info).c_str(), stdout);
        }
        exit_code = k_exit_ok;
    });
}

} // namespace dbkeep::cli
