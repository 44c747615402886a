// Where an integration test runs the dbkeep binary: a temp folder holding dbkeep.yaml and a local backups
// folder, the binary run against that file with the test's environment, and what it stored.
#pragma once

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dbkeep::test {

class Workspace {
public:
    explicit Workspace(const std::string& tag = "dbkeep-it");

    const std::filesystem::path& dir() const { return m_dir.path(); }
    std::filesystem::path config_path() const { return dir() / "dbkeep.yaml"; }
    std::filesystem::path backups() const { return dir() / "backups"; }

    // Writes dbkeep.yaml as given.
    void write_config(const std::string& yaml) const;
    // `storages:` with one local storage named default in backups().
    std::string local_storage_yaml() const;

    // Added to the environment of every run (a run's own RunOptions::env wins): secrets for ${VAR}.
    std::map<std::string, std::string> env;

    // `dbkeep --config dbkeep.yaml ARGS...`, waited for.
    RunResult dbkeep(std::vector<std::string> args, RunOptions options = {}) const;
    // The same in the background, its stdout and stderr in log(log_name).
    std::unique_ptr<Background> start_dbkeep(std::vector<std::string> args, const std::string& log_name,
                                             RunOptions options = {}) const;
    std::string log(const std::string& log_name) const { return read_file(dir() / log_name); }

    // Every file below backups(), relative and sorted (none when it does not exist).
    std::vector<std::string> stored_files() const { return list_files(backups()); }
    std::vector<std::string> files_ending(const std::string& suffix) const;
    std::vector<std::string> manifests() const { return files_ending(".manifest.json"); }

    // Backup ids begin with their UTC second (20261125T000000Z): waits until the clock has passed the second
    // of the newest stored backup, so that the next backup sorts after it. False when none is stored.
    bool wait_for_a_newer_backup_id() const;

    // An executable shell script in dir(); returns its path.
    std::string write_script(const std::string& name, const std::string& body) const;

private:
    RunOptions with_env(RunOptions options) const;

    TempDir m_dir;
};

} // namespace dbkeep::test
