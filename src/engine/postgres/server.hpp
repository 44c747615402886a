// A whole PostgreSQL server in one backup (a target with `databases: all` or a list): the globals (roles,
// role memberships and settings, tablespaces) as `pg_dumpall --globals-only` writes them, in the backup's data
// object, and one custom-format pg_dump archive per database, each a part of the backup (manifest format 2,
// details format=pgdump, database=NAME). docs/format.md describes the layout and restores it with psql and
// pg_restore alone.
#pragma once
#include "engine/engine.hpp"
#include "engine/postgres/session.hpp"
#include "runner/runner.hpp"
#include "stream/sink.hpp"
#include <string>
#include <string_view>
#include <vector>

namespace dbkeep::engine::pg {

// True for a target that backs up a whole server or a list of databases (PostgresOptions::all_databases or
// ::databases set).
bool is_server_target(const PostgresOptions& options);

// The pg_dumpall to use: beside the configured pg_dump_path, else empty (find_tool then searches for it).
std::string dumpall_override(const PostgresOptions& options);

// Dumps the target's databases (every one that allows connections and is not a template, or the configured
// list) through the runner (which must outlive the call): first the globals into out (pg_dumpall
// --globals-only; when the role cannot read pg_authid, again with --no-role-passwords, recorded in details
// "role_passwords"), then each database with dump_database into a part of its own (details format=pgdump,
// database=NAME, its rows, TOC entries and large objects). DumpInfo::stats keys are "database/schema.table";
// details "layout" is "server" and "databases" the names, joined by commas. Fails as the session, the tool
// search, pg_dumpall or any database's dump fail (a database of the list that does not exist is
// ErrorKind::not_found before anything is dumped), or when cancelled; the part being written is aborted and
// out is to be aborted by the caller, which also removes the parts already finished.
Result<DumpInfo> dump_server(runner::Runner& runner, const Target& target, stream::Sink& out, PartWriter& parts);

// Restores a whole-server backup into the server of options.to_url (its database, if any, is only where dbkeep
// connects; "postgres" when it names none), through the runner. `globals` is the backup's data object (the
// globals' SQL, already decrypted and decompressed; at most 64 MiB), options.parts/open_part its databases.
// Unless options.no_roles, the roles the destination lacks are created first with their attributes, passwords,
// memberships and settings (roles that exist are left as they are, named in the log); with a whole-server
// restore also the missing tablespaces. Then every database (options.database: that one only, into the --to
// URL's database when it names one, else under its own name; options.globals_only: none) is restored with
// restore_database: created like the source's, refused when it exists and holds objects (checked for every
// database before anything is written) unless options.clean. A failed restore drops the databases this
// restore created (unless options.keep_failed) and says which were restored. Roles it created stay (they may
// own objects elsewhere) and are named. Fails with ErrorKind::config for a bad url, an unknown
// options.database, a refused destination, verify --restore (options.scratch, not supported for whole
// servers); with ErrorKind::corruption when the globals are not pg_dumpall's SQL; otherwise as the session,
// psql or pg_restore fail.
Status restore_server(runner::Runner& runner, const Target& target, stream::Source& globals,
                      const RestoreOptions& options);

// One statement of pg_dumpall --globals-only output, classified for a restore that creates only what the
// destination lacks.
struct GlobalsStatement {
    enum class Kind {
        setting,    // SET ... (client_encoding, standard_conforming_strings ...)
        role,       // CREATE ROLE / ALTER ROLE / COMMENT ON ROLE / SECURITY LABEL ON ROLE `name`
        membership, // GRANT `name` TO `member` ... (role membership)
        tablespace, // CREATE / ALTER / COMMENT ON / GRANT ... ON TABLESPACE `name`
        other,      // anything else (GRANT ... ON PARAMETER ...)
    };
    Kind kind = Kind::other;
    std::string sql;     // the statement with its ';', comments and psql meta-commands left out
    std::string name;    // the role or tablespace (unquoted); for a membership the role granted
    std::string member;  // membership: the role that receives it
    std::string summary; // "CREATE ROLE app": the first words, for messages (never a password)
};

// Splits the SQL text of pg_dumpall --globals-only into statements with SqlSplitter (sql_splitter.hpp): a ';'
// inside a password, a quoted name, a dollar quote or a comment does not end a statement, and psql
// meta-command lines (\restrict, \connect ...) are left out. Fails with ErrorKind::corruption when the text ends inside
// a literal or a statement. Pure; thread-safe.
Result<std::vector<GlobalsStatement>> split_globals(std::string_view sql);

} // namespace dbkeep::engine::pg
