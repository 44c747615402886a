// A PostgreSQL dump: pg_dump in custom format, taking its own snapshot and locks as it does alone, with the
// row counts read from the archive itself as it streams (custom_format.hpp).
#pragma once

#include "engine/engine.hpp"
#include "engine/postgres/session.hpp"
#include "runner/runner.hpp"
#include "stream/sink.hpp"

#include <string>
#include <utility>
#include <vector>

namespace dbkeep::engine::pg {

// Streams `pg_dump --format=custom --compress=0` for the target into out (write() only), through the runner
// (which must outlive the call). No session of dbkeep's holds a snapshot or a lock while pg_dump runs: the
// server version (to pick the pg_dump that fits) is asked before it starts. DumpInfo::stats holds each
// dumped table's rows ("schema.table", UTF-8, escaped where not convertible) counted in the archive's COPY data,
// and details its large objects, TOC entries and archive version; an archive version this dbkeep cannot read
// is dumped without counts (details "row_counts" says why). Fails as the server, the tool search, pg_dump or out
// fail, when pg_dump writes nothing, when its output is not a complete custom-format archive
// (ErrorKind::corruption), or when cancelled; out is then to be aborted.
Result<DumpInfo> dump_database(runner::Runner& runner, const Target& target, stream::Sink& out);

// What a parallel dump (parallel.hpp) changes in the pg_dump run: the snapshot it imports (pg_dump --snapshot;
// its exporting transaction stays open until pg_dump has ended) and the tables whose rows it leaves out
// (--exclude-table-data, as exact "schema"."table" patterns; their rows are the dump's parts).
struct DumpPlan {
    std::string snapshot;
    std::vector<std::pair<std::string, std::string>> exclude_table_data; // (schema, table)
};
Result<DumpInfo> dump_database(runner::Runner& runner, const Target& target, stream::Sink& out, const DumpPlan& plan);

// The error for a lock wait that timed out: the sessions holding the table locks when they can be named (asked
// on a fresh session), what the tool or query said (`said`), and what to do. ErrorKind::conflict.
Error lock_timeout_error(runner::Runner& runner, const Target& target, const std::string& said);

// A pattern for pg_dump's --table/--exclude-table-data matching exactly schema.table: both double-quoted, with
// quotes doubled (pg_dump's pattern rules: inside double quotes every character is literal).
std::string exact_table_pattern(const std::string& schema, const std::string& table);

// The DumpInfo that dump_database records, read back from a stored archive (the raw custom-format stream): each
// table's rows as stats, the archive's server and pg_dump versions, its TOC entries, large objects and archive
// version in details (no pg_dump_path: that is a fact of the dump's run, not of the archive). The exclusions are
// recorded as dump_database records them, from `pg` (the target's configuration now, which the archive does not
// hold): its exclude_* patterns in details and, with exclude_table_data, 0 rows for each table the archive
// holds without data, so that verify --restore agrees with a repaired manifest as with the original. Reads in to
// its end. Fails with ErrorKind::corruption when in is not one complete custom-format archive, with in's error
// when reading fails, ErrorKind::cancelled on cancel::requested().
Result<DumpInfo> inspect_archive(stream::Source& in, const PostgresOptions& pg = {});

// What one object of a stored PostgreSQL backup holds (Engine::contents): a custom-format archive (it starts with
// PGDMP) is read to its end into kind "pg_dump custom archive", facts (archive version, database, encoding,
// server and pg_dump versions, TOC entries, large objects), counts (each table's COPY rows, "schema.table") and
// its TOC as `pg_restore -l` lists it (columns id, table_oid, oid, section, desc, schema ("-" for none), name,
// owner, rows: a TABLE DATA entry's rows or a BLOBS entry's large objects), names converted to UTF-8. Anything
// else (a COPY chunk, a SQL script) is read no further than its first 5 bytes and has kind details["format"]
// (or "data") and no listing. Fails as inspect_archive does.
Result<Contents> object_contents(stream::Source& in, const std::map<std::string, std::string>& details);

} // namespace dbkeep::engine::pg
