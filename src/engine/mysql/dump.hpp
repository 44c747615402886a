// The MySQL backup: mariadb-dump streamed into the pipeline, read by DumpReader as it passes.
#pragma once

#include "engine/mysql/client.hpp"

namespace dbkeep::engine::mysql {

// Streams a consistent dump of the target's database(s) into out (write() only). details: "layout"
// ("database": one database dumped without CREATE DATABASE; "databases": --databases, each under its name),
// "databases", "charset"/"collation" (per database as "charset.DB" for several), "binlog_file",
// "binlog_position", "gtid_position" or "binlog" = "off", "non_transactional_tables". Fails when the tool fails
// (with all it said), the stream ends before its "Dump completed" trailer, the dump writes nothing for
// lock_wait_timeout (a lock wait), or when cancelled (the tool is killed).
Result<DumpInfo> dump_databases(runner::Runner& runner, const Target& target, stream::Sink& out);

// The facts a backup records, read from a stored dump (dbkeep repair) with the same DumpReader: row counts,
// versions, binary-log coordinates, non-transactional tables. The character sets and collations are not in a
// one-database dump and are left out (a restore then creates a missing database with the server's defaults).
// Fails with corruption when the stream ends before the "Dump completed" trailer.
Result<DumpInfo> inspect_dump(const Target& target, stream::Source& in);

} // namespace dbkeep::engine::mysql
