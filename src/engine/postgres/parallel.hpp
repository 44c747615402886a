// A parallel PostgreSQL dump and its restore: the big tables' rows copied in ctid-range chunks on several
// connections, each chunk a part of the backup, everything else dumped by pg_dump, all in one exported
// snapshot. docs/format.md specifies the layout and the shell commands that restore it without dbkeep.
#pragma once

#include "engine/engine.hpp"
#include "engine/postgres/session.hpp"
#include "runner/runner.hpp"
#include "stream/sink.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::engine::pg {

// One chunk of a split table: its rows in heap pages [first_page, end_page) (end_page nothing: to the end of
// the table, so that pages added after the size was read are never missed).
struct Chunk {
    std::string schema, table;        // as the catalog names them (UTF-8)
    std::vector<std::string> columns; // stored columns in attnum order (no generated or dropped ones)
    std::uint64_t first_page = 0;
    std::optional<std::uint64_t> end_page;
};

// The chunks of a table of `pages` heap pages for `jobs` connections: at least 4 per connection (so one table
// keeps every connection busy to its end), more for a big table so that no chunk holds more than
// `chunk_pages` pages, always a multiple of `jobs`; the last chunk is open-ended. A table of fewer pages than
// that gets one chunk per page. Pure.
std::vector<Chunk> plan_chunks(const std::string& schema, const std::string& table,
                               const std::vector<std::string>& columns, std::uint64_t pages, int jobs,
                               std::uint64_t chunk_pages);

// The statement that copies a chunk out: COPY (SELECT cols FROM ONLY t WHERE ctid range) TO STDOUT, every
// name quoted. Pure.
std::string chunk_copy_out_sql(const Chunk& chunk);

// The statement that loads a chunk: COPY t (cols) FROM STDIN, every name quoted (COPY t FROM STDIN for a
// table without stored columns). Pure.
std::string chunk_copy_in_sql(const Chunk& chunk);

// A part's details in the manifest and back: schema, table, columns (a JSON array of names), first_page,
// end_page ("" for open-ended), rows, format ("copy-text"), client_encoding, and copy_sql (chunk_copy_in_sql,
// for a restore by hand; never executed by dbkeep). from_details fails with
// ErrorKind::corruption when a detail is missing or malformed (a manifest is input, never trusted).
std::map<std::string, std::string> chunk_details(const Chunk& chunk);
Result<Chunk> chunk_from_details(const std::map<std::string, std::string>& details);

// The dump with parts: with target.postgres.jobs > 1 and a local runner, takes ACCESS SHARE locks on the
// tables of at least split_tables_larger_than bytes and then exports a snapshot (so no TRUNCATE can slip
// between the snapshot and the lock: a window narrower than pg_dump's own), copies those tables' chunks on
// `jobs` connections that import the snapshot into parts, and runs pg_dump --snapshot with their data
// excluded into out. DumpInfo as dump_database's, with each split table's rows summed from its chunks and
// details parallel_jobs, split_tables and parts. Without a table to split, with jobs 1 or another runner,
// it is dump_database; so it is (with a warning) when the target has exclude_tables, exclude_schemas or
// exclude_table_data. Fails as dump_database does, as a part fails, or when cancelled; every part it opened
// is then aborted or finished (the caller removes finished ones).
Result<DumpInfo> dump_parallel(runner::Runner& runner, const Target& target, stream::Sink& out, PartWriter& parts);

// Loads the parts of a parallel dump (options.parts, options.open_part) into the database `params` names, on
// max(1, options.jobs) connections, each chunk in one COPY statement that the server discards whole when its
// part's checksum is found wrong at its end. Fails on the first chunk that fails (the others are stopped),
// when a chunk's rows differ from its details' rows (ErrorKind::corruption), or when cancelled.
Status load_parts(const ConnectParams& params, const RestoreOptions& options);

} // namespace dbkeep::engine::pg
