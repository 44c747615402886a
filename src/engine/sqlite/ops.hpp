// The SQLite engine's operations, one file each: dump (dump.cpp), restore and its scratch file (restore.cpp),
// and the probes of `check` (probe.cpp). sqlite.cpp joins them behind engine::Engine.
#pragma once

#include "engine/sqlite/sqlite.hpp"

#include <map>
#include <string>
#include <vector>

namespace dbkeep::engine::sqlite {

struct Target {
    std::string name; // the target's name, for messages
    SqliteOptions options;
};

// Local runner: an online-backup copy into a private staging file, checked (integrity_check, row counts), then
// streamed into out. Other runners: the sqlite3 CLI's copy streamed from the runner into out and, at the same
// time, into a private staging file that is checked the same way. A copy whose integrity_check is not "ok"
// fails the dump (kind corruption). The staging folder is removed on every path.
Result<DumpInfo> dump_database(runner::Runner& runner, const Target& target, stream::Sink& out);

// The facts a backup records, read from a stored copy (dbkeep repair): the stream is written to a private
// staging file (removed on every path), checked (not SQLite: corruption; integrity_check not ok: corruption)
// and counted like dump_database's copy. tool is "unknown (repaired)": the file does not say how it was copied.
Result<DumpInfo> inspect_dump(const Target& target, stream::Source& in);

// Writes the dump to a private temp file in the destination's folder, fsyncs it, checks its integrity (and
// the row counts against options.expected_stats when given) and renames it over the destination. Refuses an
// existing destination unless options.force (or, with options.scratch, one marked as dbkeep's scratch copy),
// and refuses one that looks in use (-wal/-shm/-journal next to it, a lock held, a process holding it open)
// even with force. The temp file is removed on every failure path. Through another runner the sqlite3 CLI
// does the same there (sqlite_runner_restore_script; no /proc or lock check, no row counts); a scratch copy
// (verify --restore) is always made on this machine.
Status restore_database(runner::Runner& runner, const Target& target, stream::Source& in,
                        const RestoreOptions& options);

// Removes a scratch database that restore made with options.scratch (it carries a marker file beside it);
// leaves anything else alone.
Status drop_scratch_file(const std::string& to_url);

// Row counts of the (scratch) database at to_url, opened read-only and immutable.
Result<std::map<std::string, std::int64_t>> database_stats(const std::string& to_url);

std::vector<Finding> probe_target(runner::Runner& runner, const Target& target);

// The marker file that says dbkeep made the scratch database at path.
inline std::string scratch_marker(const std::string& path)
{
    return path + ".dbkeep-scratch";
}

} // namespace dbkeep::engine::sqlite
