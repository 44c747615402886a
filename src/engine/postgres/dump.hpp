// A PostgreSQL dump: pg_dump in custom format, taking its own snapshot and locks as it does alone, with the
// row counts read from the archive itself as it streams (custom_format.hpp).
#pragma once

#include "engine/engine.hpp"
#include "engine/postgres/session.hpp"
#include "runner/runner.hpp"
#include "stream/sink.hpp"

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

// The DumpInfo that dump_database records, read back from a stored archive (the raw custom-format stream): each
// table's rows as stats, the archive's server and pg_dump versions, its TOC entries, large objects and archive
// version in details (no pg_dump_path: that is a fact of the dump's run, not of the archive). Reads in to its
// end. Fails with ErrorKind::corruption when in is not one complete custom-format archive, with in's error
// when reading fails, ErrorKind::cancelled on cancel::requested().
Result<DumpInfo> inspect_archive(stream::Source& in);

} // namespace dbkeep::engine::pg
