#include "job/restore.hpp"
#include "catalog/catalog.hpp"
#include "cli/app.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/human.hpp"
#include "core/url.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

namespace dbkeep::cli {

struct RestoreArgs {
    std::string target, backup = "latest", at, to, output, identity, role, database;
    int jobs = 1;
    bool flush = false, merge = false, force = false, yes = false;
    bool clean = false, keep_failed = false, no_owner = false, no_acl = false;
    bool globals = false, no_roles = false;
    std::vector<std::string> tables, schemas;
};

void add_restore_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("restore", "restore a backup into a database (--to) or a file (--output)");
    auto a = std::make_shared<RestoreArgs>();
    cmd->add_option("target", a->target, "the target whose backup to restore")->required();
    auto* backup = cmd->add_option("--backup", a->backup, "backup id or 'latest' (default)");
    cmd->add_option("--at", a->at, "the newest backup at or before this time (RFC 3339)")->excludes(backup);
    auto* to = cmd->add_option("--to", a->to, "destination database URL (password from DBKEEP_RESTORE_PASSWORD)");
    auto* out = cmd->add_option("--output", a->output, "write the plain dump to this file ('-' for stdout)");
    to->excludes(out);
    cmd->add_option("--jobs", a->jobs, "parallel restore jobs (PostgreSQL; uses a temp file)")
        ->check(CLI::Range(1, 64));
    auto* flush = cmd->add_flag("--flush", a->flush, "empty the destination first (Redis; needs --yes)");
    cmd->add_flag("--merge", a->merge,
                  "restore into a non-empty destination, keeping its other keys and replacing the backup's (Redis)")
        ->excludes(flush);
    cmd->add_flag("--force", a->force,
                  "restore although the destination's maxmemory looks too small for the backup (Redis; warns); "
                  "replace an existing database file that is not in use (SQLite)");
    cmd->add_flag("--clean", a->clean,
                  "restore into a database holding objects, dropping the dump's objects first (PostgreSQL)");
    cmd->add_flag("--keep-failed", a->keep_failed,
                  "keep the database a failed restore created (PostgreSQL; it is dropped otherwise)");
    cmd->add_flag("--no-owner", a->no_owner, "do not restore object owners (PostgreSQL)");
    cmd->add_flag("--no-acl", a->no_acl, "do not restore privileges (PostgreSQL)");
    cmd->add_option("--role", a->role, "restore as this role (PostgreSQL: SET ROLE)");
    auto* database = cmd->add_option(
        "--database", a->database,
        "of a whole-server backup, restore only this database (PostgreSQL; into --to's database, else its own name)");
    cmd->add_flag("--globals", a->globals,
                  "of a whole-server backup, restore only the roles and tablespaces (PostgreSQL)")
        ->excludes(database);
    cmd->add_flag("--no-roles", a->no_roles,
                  "do not create the roles the destination lacks from a whole-server backup (PostgreSQL)");
    cmd->add_flag("--yes", a->yes, "confirm destructive options");
    cmd->add_option("--identity", a->identity, "age identity file for encrypted backups (or DBKEEP_IDENTITY_FILE)");
    cmd->add_option("--table", a->tables,
                    "restore only this table, schema.table or table (PostgreSQL; repeatable; pg_restore -t)")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_option("--schema", a->schemas, "restore only this schema (PostgreSQL; repeatable; pg_restore -n)")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->callback([&ctx, &exit_code, a] {
        if (a->to.empty() && a->output.empty()) {
            exit_code =
                report(Error{ErrorKind::config, "restore", a->target, "say where to: --to URL or --output FILE"});
            return;
        }
        if (a->flush && !a->yes) {
            exit_code =
                report(Error{ErrorKind::config, "restore", a->target, "--flush deletes every key first: add --yes"});
            return;
        }
        auto targets = ctx.targets({a->target});
        if (!targets) {
            exit_code = k_exit_usage;
            return;
        }
        const auto& t = *targets->front();
        auto storage = ctx.storage_for(t);
        if (!storage) {
            exit_code = report(storage.error());
            return;
        }
        job::RestoreRequest req;
        req.selector = a->at.empty() ? a->backup : a->at;
        req.to_url = a->to;
        req.output = a->output;
        req.jobs = a->jobs;
        req.flush = a->flush;
        req.merge = a->merge;
        req.force = a->force;
        req.clean = a->clean;
        req.keep_failed = a->keep_failed;
        req.no_owner = a->no_owner;
        req.no_acl = a->no_acl;
        req.role = a->role;
        req.database = a->database;
        req.globals_only = a->globals;
        req.no_roles = a->no_roles;
        req.tables = a->tables;
        req.schemas = a->schemas;
        if (const char* pw = std::getenv("DBKEEP_RESTORE_PASSWORD")) {
            req.password = pw;
        }
        req.read.identity_files = identity_files(a->identity);
        req.read.passphrase = t.encryption.passphrase.reveal();
        const auto started = std::chrono::steady_clock::now();
        auto m = job::run_restore(t, **storage, req);
        // `--output -` writes the dump itself on stdout: nothing else may go there.
        const bool quiet = a->output == "-";
        if (!m) {
            exit_code = report(m.error());
            if (ctx.json && !quiet) {
                print_json(failed_target_json(t.name, m.error()));
            }
            return;
        }
        const auto took = elapsed_ms(started);
        const std::string part = job::restored_part(req);
        if (quiet) {
            return;
        }
        if (ctx.json) {
            nlohmann::json doc{{"target", t.name},
                               {"status", "ok"},
                               {"id", m->id},
                               {"raw_bytes", catalog::total_raw_bytes(*m)},
                               {"duration_seconds", static_cast<double>(took) / 1000.0}};
            // A part of the backup: what was restored (raw_bytes stays the backup's size, as documented).
            if (!part.empty()) {
                doc["restored"] = part;
            }
            if (a->to.empty()) {
                doc["output"] = a->output;
            } else {
                doc["to"] = redact_url(a->to);
            }
            print_json(doc);
        } else {
            // The one line is the summary: "restored orders 20261201T020000Z-a1b2c3 (4.0 MiB) into URL, in 3.1s";
            // of a part, what was restored and not the whole backup's size: "restored table items of orders
            // 20261201T020000Z-a1b2c3 into URL, in 0.4s".
            const std::string what = part.empty()
                                         ? t.name + " " + m->id + " (" + human_size(catalog::total_raw_bytes(*m)) + ")"
                                         : part + " of " + t.name + " " + m->id;
            print_summary("restored " + printable(what) + " into " + (a->to.empty() ? a->output : redact_url(a->to)) +
                          ", in " + human_duration(took));
        }
    });
}

} // namespace dbkeep::cli
