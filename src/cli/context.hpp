// What every subcommand shares: global options, loading the configuration, opening a target's storage,
// printing errors with the right exit code.
#pragma once

#include "config/config.hpp"
#include "core/error.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
}
namespace dbkeep::storage {
class Storage;
}

namespace dbkeep::cli {

struct Context {
    std::string config_path; // --config; '-': stdin; empty: $DBKEEP_CONFIG_YAML, $DBKEEP_CONFIG or ./dbkeep.yaml
    bool json = false;
    std::string log_level = "info";

    // Loads the configuration once; prints the error and returns nullptr on failure.
    const config::Config* config();
    // Why config() returned nullptr (nullptr when it did not, or has not run).
    const Error* config_error() const { return m_config_error ? &*m_config_error : nullptr; }
    // The named targets, or all when names is empty; prints an error for an unknown name.
    std::optional<std::vector<const config::TargetConfig*>> targets(const std::vector<std::string>& names);
    Result<std::unique_ptr<storage::Storage>> storage_for(const config::TargetConfig& target);

    // The loop every multi-target command shares: for each named target (all when names is empty) its storage
    // is opened and body runs with it. An error (opening the storage, or body's) is printed and the loop goes
    // on with the next target; SIGINT/SIGTERM stop it. Returns the exit code: usage for an unknown name or a
    // configuration that does not load, else the code of the first error, else failed when cancelled, else 0.
    using TargetBody = std::function<Status(const config::TargetConfig& target, storage::Storage& storage)>;
    // When the target's storage cannot be opened, on_storage_error (if set) sees the error before it is reported
    // (backup and run --due send it to the target's notification channels).
    using StorageErrorHook = std::function<void(const config::TargetConfig& target, const Error& error)>;
    int for_each_target(const std::vector<std::string>& names, const TargetBody& body,
                        const StorageErrorHook& on_storage_error = {});
    // The errors for_each_target reported, per target in order (for --json documents).
    struct TargetError {
        std::string target;
        Error error;
    };
    const std::vector<TargetError>& target_errors() const { return m_target_errors; }

    // The metrics of this one-shot run (`backup`, `run --due`) when `metrics:` is configured, else nullptr;
    // it starts from what the previous run's textfile said, so counters and timestamps carry over.
    observe::Metrics* run_metrics();
    // Writes run_metrics() to the textfile and the Pushgateway; a failure is logged and leaves the exit code.
    void export_run_metrics();
    // The StorageErrorHook of the commands that back up (`backup`, `run --due`): a storage that does not open
    // is a failed backup, told to the target's channels and counted in run_metrics().
    StorageErrorHook backup_failure_hook();

private:
    std::optional<config::Config> m_config;
    std::optional<Error> m_config_error;
    std::unique_ptr<observe::Metrics> m_metrics;
    std::vector<TargetError> m_target_errors;
    bool m_failed = false;
};

// The age identity files for reading encrypted backups: `flag` (--identity), else $DBKEEP_IDENTITY_FILE, else none.
std::vector<std::string> identity_files(const std::string& flag);

// Prints "dbkeep: <message>" (redacted) on stderr and returns the exit code for the error's kind.
int report(const Error& error);
int exit_code_for(const Error& error);

// The subcommands, one file each.
void add_backup_command(CLI::App& app, Context& ctx, int& exit_code);
void add_list_command(CLI::App& app, Context& ctx, int& exit_code);
void add_restore_command(CLI::App& app, Context& ctx, int& exit_code);
void add_verify_command(CLI::App& app, Context& ctx, int& exit_code);
void add_config_command(CLI::App& app, Context& ctx, int& exit_code);
void add_check_command(CLI::App& app, Context& ctx, int& exit_code);
void add_run_command(CLI::App& app, Context& ctx, int& exit_code);
void add_prune_command(CLI::App& app, Context& ctx, int& exit_code);
void add_daemon_command(CLI::App& app, Context& ctx, int& exit_code);
void add_keygen_command(CLI::App& app, Context& ctx, int& exit_code);
void add_repair_command(CLI::App& app, Context& ctx, int& exit_code);
void add_show_command(CLI::App& app, Context& ctx, int& exit_code);
void add_version_command(CLI::App& app, Context& ctx, int& exit_code);
// The text of `dbkeep --version`: observe::format_build_info of this build, newline-terminated lines.
std::string version_text();

} // namespace dbkeep::cli
