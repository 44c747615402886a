#include "cli/app.hpp"

#include "cli/context.hpp"
#include "core/cancel.hpp"
#include "observe/log.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <unistd.h>

namespace dbkeep::cli {

namespace {

int run_unguarded(int argc, char** argv)
{
    CLI::App app{"dbkeep: database backups that stream through zstd (and age) into local or S3 storage", "dbkeep"};
    app.set_version_flag("-V,--version", [] {
        std::string text = version_text();
        text.pop_back(); // CLI11 adds the final newline
        return text;
    });
    app.require_subcommand(1);
    app.fallthrough(); // global options may follow the subcommand
    Context ctx;
    app.add_option("-c,--config", ctx.config_path,
                   "configuration file, - for stdin (default: $DBKEEP_CONFIG_YAML, $DBKEEP_CONFIG or ./dbkeep.yaml)");
    app.add_flag("--json", ctx.json, "JSON output and JSON log lines");
    app.add_option("--log-level", ctx.log_level, "debug, info, warn or error")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));

    int exit_code = k_exit_ok;
    add_backup_command(app, ctx, exit_code);
    add_list_command(app, ctx, exit_code);
    add_restore_command(app, ctx, exit_code);
    add_verify_command(app, ctx, exit_code);
    add_config_command(app, ctx, exit_code);
    add_check_command(app, ctx, exit_code);
    add_run_command(app, ctx, exit_code);
    add_prune_command(app, ctx, exit_code);
    add_repair_command(app, ctx, exit_code);
    add_show_command(app, ctx, exit_code);
    add_daemon_command(app, ctx, exit_code);
    add_keygen_command(app, ctx, exit_code);
    add_version_command(app, ctx, exit_code);

    // Logging is configured before any subcommand callback runs.
    app.parse_complete_callback([&] {
        observe::Level level = observe::Level::info;
        observe::parse_level(ctx.log_level, level);
        observe::configure_logging({.level = level, .json = ctx.json || !::isatty(2)});
    });
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? k_exit_ok : k_exit_usage;
    }
    if (cancel::requested() && exit_code == k_exit_ok) {
        exit_code = k_exit_failed;
    }
    return exit_code;
}

[[noreturn]] void on_terminate() noexcept
{
    // An exception escaped a thread (or a noexcept function): nothing can unwind any more, but the exit is 1
    // with a message, not an abort.
    static const char k_msg[] = "dbkeep: internal error: an unexpected exception ended a thread; this is a bug, "
                                "please report it\n";
    (void)::write(2, k_msg, sizeof k_msg - 1);
    ::_exit(k_exit_failed);
}

} // namespace

int run(int argc, char** argv) noexcept
{
    cancel::install_signal_handlers();
    std::set_terminate(on_terminate);
    // The one top-level guard: an exception that escapes a command (a bug) has unwound everything below it by
    // the time it is caught here (storage writers aborted, leases released, child processes killed), and
    // becomes exit 1 with a clear message.
    try {
        return run_unguarded(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dbkeep: internal error: %s; this is a bug, please report it\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "dbkeep: internal error: an unknown exception; this is a bug, please report it\n");
    }
    return k_exit_failed;
}

} // namespace dbkeep::cli
