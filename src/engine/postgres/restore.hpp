// A PostgreSQL restore: pg_restore where the runner runs, fed from the dump's source (or from a temp file for
// a parallel restore), into a database that is created like the source's when it does not exist yet.
#pragma once

#include "engine/engine.hpp"
#include "engine/postgres/custom_format.hpp"
#include "engine/postgres/session.hpp"
#include "runner/runner.hpp"
#include "stream/sink.hpp"

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dbkeep::engine::pg {

// Restores the custom-format dump read from in into options.to_url (a postgres:// url with a database; the
// url's password, else options.password), through the runner (which must outlive the call).
// A database that does not exist is created as the dump's DATABASE entries say (read from the dump's table of
// contents by pg_restore --create --schema-only): from template0 with the source's encoding, locale and
// locale provider, then its ALTER DATABASE ... SET settings, owner, comment and ACL under the new name; a
// statement the server refuses is an error before any object is restored. A database that exists and holds
// user objects is refused unless options.clean (pg_restore --clean --if-exists). A failed restore drops the
// database it created unless options.keep_failed. A single-job restore runs in one transaction, so an input
// found corrupt at its end (SHA-256) commits nothing. With options.scratch (verify --restore) a database this
// function marked earlier is dropped and made afresh, and one it did not make is refused when it holds
// objects; the database it makes or adopts is marked (setting dbkeep.scratch) for drop_scratch_database.
// With jobs > 1 the
// dump is first written to a file of mode 0600 (O_EXCL | O_NOFOLLOW) in a private folder (mkdtemp, mode 0700)
// made in options.temp_dir ($TMPDIR, else /tmp, when empty); both are removed on every path. pg_restore's
// errors keep everything it said (DETAIL and HINT included). Fails with ErrorKind::config
// for a bad url, as the connection, CREATE DATABASE, the tool search or pg_restore fail; an input that is
// corrupt or cancelled stops pg_restore at once.
//
// With options.tables or options.schemas (restore --table/--schema) only part of the dump is restored: the
// dump always goes to the private temp file first (its SHA-256 is checked there, before anything is written),
// every name is checked against the dump's table of contents (one it does not hold is an ErrorKind::config
// error before the destination is touched), and pg_restore gets a list (-L) of the entries select_entries
// chose; of a parallel dump only the named tables' parts are loaded. Into an existing database the named
// tables and schemas must be absent there unless options.clean.
Status restore_database(runner::Runner& runner, const Target& target, stream::Source& in,
                        const RestoreOptions& options);

// What a partial restore takes from a dump's table of contents. A --table name ("schema.table" or "table",
// pg_restore -t) matches TABLE, VIEW, MATERIALIZED VIEW, FOREIGN TABLE and SEQUENCE entries by their schema-
// qualified or bare name; a --schema name (pg_restore -n) matches the SCHEMA entry and every entry in it.
// A table comes with its data, indexes, constraints, defaults (and the sequences they use), comments,
// privileges, policies and statistics, and with its foreign keys, triggers and rules when everything they
// depend on is selected too; the SCHEMA entry of a selected table's schema is added when `existing_schemas`
// lacks it. Names compare as bytes in the dump's encoding. Pure.
struct EntrySelection {
    std::vector<std::int64_t> ids;                        // dump ids, in TOC order
    std::set<std::pair<std::string, std::string>> tables; // (schema, name) of the selected relations
    std::set<std::string> schemas;                        // the schemas --schema named
};
// The names no entry matches, each as "table NAME" or "schema NAME"; empty when all are in the dump.
std::vector<std::string> missing_names(const std::vector<pgdump::TocEntry>& toc, const std::vector<std::string>& tables,
                                       const std::vector<std::string>& schemas);
EntrySelection select_entries(const std::vector<pgdump::TocEntry>& toc, const std::vector<std::string>& tables,
                              const std::vector<std::string>& schemas, const std::set<std::string>& existing_schemas);

// Whether `name` is one of the databases every server has for itself (postgres, template0, template1, exactly,
// case-sensitive as PostgreSQL names are): never a scratch database for verify --restore, which drops it.
// Pure; thread-safe.
bool reserved_database(std::string_view name);

// Drops the database of url when restore_database marked it as a scratch database; leaves any other (and a
// missing one) alone. Fails as the connection or DROP DATABASE fails.
Status drop_scratch_database(runner::Runner& runner, const Target& target, const std::string& url,
                             const std::string& password);

// The remedy for a refusal a restore met (pg_restore's message, or the server's answer to CREATE DATABASE or the
// source database's settings), by the cause it names: a missing role, too few locks for a single-job
// restore, a locale or collation the server lacks, no right to create databases; empty for any other. Pure.
std::string restore_remedy(const std::string& message);
// Whether the database of conn holds user objects (schemas besides public, relations, functions, types,
// extensions besides plpgsql, large objects): a restore into it would fail half-way. Fails as the query fails.
Result<bool> holds_user_objects(Connection& conn);

} // namespace dbkeep::engine::pg
