#include "support/workspace.hpp"

#include "support/wait.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace dbkeep::test {

Workspace::Workspace(const std::string& tag) : m_dir(tag) {}

void Workspace::write_config(const std::string& yaml) const
{
    write_file(config_path(), yaml);
}

std::string Workspace::local_storage_yaml() const
{
    return "storages:\n  default:\n    type: local\n    path: " + backups().string() + "\n";
}

RunOptions Workspace::with_env(RunOptions options) const
{
    for (const auto& [name, value] : env) {
        options.env.emplace(name, value);
    }
    return options;
}

RunResult Workspace::dbkeep(std::vector<std::string> args, RunOptions options) const
{
    args.insert(args.begin(), {"--config", config_path().string()});
    return run_dbkeep(args, with_env(std::move(options)));
}

std::unique_ptr<Background> Workspace::start_dbkeep(std::vector<std::string> args, const std::string& log_name,
                                                    RunOptions options) const
{
    args.insert(args.begin(), {dbkeep_binary(), "--config", config_path().string()});
    return std::make_unique<Background>(args, with_env(std::move(options)), (dir() / log_name).string());
}

std::vector<std::string> Workspace::files_ending(const std::string& suffix) const
{
    std::vector<std::string> out;
    for (const auto& f : stored_files()) {
        if (f.ends_with(suffix)) {
            out.push_back(f);
        }
    }
    return out;
}

bool Workspace::wait_for_a_newer_backup_id() const
{
    std::string newest;
    for (const auto& m : manifests()) {
        newest = std::max(newest, std::filesystem::path(m).filename().string().substr(0, 16));
    }
    if (newest.empty()) {
        return false;
    }
    return wait_until([&] {
        const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
        std::tm tm{};
        gmtime_r(&now, &tm);
        char second[32];
        std::strftime(second, sizeof second, "%Y%m%dT%H%M%SZ", &tm);
        return std::string(second) > newest;
    });
}

std::string Workspace::write_script(const std::string& name, const std::string& body) const
{
    namespace fs = std::filesystem;
    auto path = dir() / name;
    write_file(path, "#!/bin/sh\n" + body + "\n");
    fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    return path.string();
}

} // namespace dbkeep::test
