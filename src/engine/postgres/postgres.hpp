// PostgreSQL: pg_dump in custom format inside an exported repeatable-read snapshot, with exact row counts
// taken in the same snapshot; pg_restore to restore. Tools run through the target's Runner.
#pragma once

#include "core/secret.hpp"
#include "engine/engine.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace dbkeep::engine {

// A PostgreSQL target's connection and tools, as the configuration gives them (libpq keywords).
struct PostgresOptions {
    std::string host, user, dbname; // empty: libpq defaults / PG* environment
    int port = 0;                   // 0: libpq's default
    Secret password;
    std::string passfile;
    std::string sslmode; // one of libpq's sslmode values, or empty (validated at load)
    // Every other libpq keyword the url set (options, sslrootcert, target_session_attrs, connect_timeout, a
    // multi-host port list ...), as libpq's PQconninfoParse read it; the target's own connections use them.
    std::map<std::string, std::string> parameters;
    std::string pg_dump_path;    // overrides the search for a matching pg_dump
    std::string pg_restore_path; // likewise for pg_restore
    // The longest wait for a table lock: pg_dump's --lock-wait-timeout, and lock_timeout on dbkeep's own
    // sessions. A backup that cannot lock a table in time fails naming the table and the session holding it.
    std::chrono::seconds lock_wait_timeout{300};
    // Parallel dump (README "Big databases", docs/format.md): with jobs > 1 every table of at least
    // split_tables_larger_than bytes (heap, pg_relation_size) is copied in ctid-range chunks on `jobs`
    // connections into parts of the backup, all in one exported snapshot; pg_dump dumps everything else. Needs a
    // direct connection (runner: local); otherwise the dump is one stream, with a warning.
    int jobs = 1;
    std::uint64_t split_tables_larger_than = std::uint64_t{1} << 30;
    // A whole server (README "Whole servers", server.hpp): every database that allows connections and is not
    // a template (all_databases), or these databases, with the server's globals (roles, tablespaces), in one
    // backup. dbname is then empty: dbkeep connects to "postgres" for the listing and the globals.
    bool all_databases = false;
    std::vector<std::string> databases;
    // pg_dump patterns (its --exclude-table, --exclude-schema, --exclude-table-data; README "Leaving tables
    // out"), each passed as one argv item. With jobs > 1 any of them makes the dump one stream, with a warning.
    std::vector<std::string> exclude_tables, exclude_schemas, exclude_table_data;
};

// The engine for target `target` (its name, for messages) at `url` (secrets removed, for messages), running
// its tools through runner, which must outlive the engine. Never fails today; Result for future checks.
Result<std::unique_ptr<Engine>> make_postgres_engine(const std::string& target, const std::string& url,
                                                     const PostgresOptions& options, runner::Runner& runner);

// Picking the pg_dump for a server: exact major first, else the oldest newer one. Pure, for tests.
struct ToolCandidate {
    std::string path;
    int major = 0;       // 15
    std::string version; // "15.18"
};
std::optional<ToolCandidate> pick_tool(const std::vector<ToolCandidate>& candidates, int server_major);
// "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> {major 15, version "15.18"}
std::optional<ToolCandidate> parse_tool_version(const std::string& path, const std::string& output);

} // namespace dbkeep::engine
