// A database engine: how to dump it into a byte stream and restore it from one. Each engine lives in its
// own file pair that exposes its options and a factory (postgres.hpp, redis.hpp); options.hpp joins them.
#pragma once

#include "core/error.hpp"
#include "core/finding.hpp"
#include "stream/sink.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dbkeep::runner {
class Runner;
}

namespace dbkeep::engine {

struct DumpInfo {
    std::string server_version;                 // "15.18"
    std::string tool;                           // "pg_dump", "redis-replication"
    std::string tool_version;                   // "15.18"
    std::map<std::string, std::int64_t> stats;  // "public.orders" -> rows; "db0" -> keys
    std::map<std::string, std::string> details; // engine-specific facts: "rdb_version" -> "11"
};

// One further object of the backup being written (a parallel dump's table chunk): a Sink into its own
// compression, encryption and SHA-256 pipeline and object. finish() completes the object (it is then listed in
// the manifest, in the order the parts were opened); abort() discards it.
class PartSink : public stream::Sink {
public:
    // Records a fact about the part in the manifest's `parts[].details` (schema, table, rows ...); before
    // finish(). Not thread-safe: one thread writes one part.
    virtual void set_detail(const std::string& key, const std::string& value) = 0;
};

// Opens the parts of one backup. open_part() is thread-safe; the backup job removes every part again when the
// backup fails, so an engine only aborts the part it has open.
class PartWriter {
public:
    virtual ~PartWriter() = default;
    // Fails when storage or the pipeline cannot be set up, or when the backup has catalog::k_max_parts parts.
    virtual Result<std::unique_ptr<PartSink>> open_part() = 0;
};

struct RestoreOptions {
    std::string to_url;   // destination database; secrets only through password
    std::string password; // from the URL or environment, never logged
    int jobs = 1;         // parallel restore where the engine supports it
    bool flush = false;   // empty the destination first (redis)
    bool merge = false;   // keep the destination's keys, replacing those the backup has (redis)
    bool force = false;   // restore into a destination whose memory limit looks too small, with a warning (redis)
    // What the backup's manifest says of the dump, for checks before the destination is touched: its
    // DumpInfo::stats ("db20" -> keys) and details ("rdb_version" -> "11"); empty when not known.
    std::map<std::string, std::int64_t> expected_stats;
    std::map<std::string, std::string> details;
    std::filesystem::path temp_dir; // where a seekable temp copy may be written (jobs > 1)
    // PostgreSQL: how a database that exists is treated and what pg_restore leaves out.
    bool clean = false;       // into a database holding objects: drop the dump's objects first (--clean --if-exists)
    bool keep_failed = false; // keep the database this restore created when the restore fails
    bool no_owner = false;    // pg_restore --no-owner
    bool no_acl = false;      // pg_restore --no-acl
    std::string role;         // pg_restore --role (and SET ROLE for the database's own statements)
    // A scratch database of verify --restore: one dbkeep made (marked by it) is dropped and made afresh, one
    // it did not make is refused when it holds objects; see Engine::drop_scratch.
    bool scratch = false;
    // A backup of more than one object (manifest format 2): each part's details as the dump recorded them, and
    // how to read part i (0-based; checked against its size and SHA-256 at its end; thread-safe). Empty for a
    // backup of one object.
    std::vector<std::map<std::string, std::string>> parts;
    std::function<Result<std::unique_ptr<stream::Source>>(std::size_t)> open_part;
    // A whole-server PostgreSQL backup (details layout=server): restore only this database (into the --to URL's
    // database when it names one, else under its own name), or only the globals (roles, tablespaces); and
    // whether the roles the destination lacks are created from the globals first (not with no_roles).
    std::string database;
    bool globals_only = false;
    bool no_roles = false;
    // PostgreSQL: restore only these tables ("schema.table" or "table") and schemas (restore --table/--schema;
    // pg_restore's -t/-n); both empty: the whole dump. Other engines refuse them.
    std::vector<std::string> tables;
    std::vector<std::string> schemas;
};

// What one stored object of a backup holds, for `dbkeep show`: facts the engine read in it, counts, and a
// listing (a table with named columns, e.g. a pg_dump archive's table of contents). All text is UTF-8 (names from
// a database in another encoding converted or escaped).
struct Contents {
    std::string kind;                              // "pg_dump custom archive", "rdb"; empty: not read by the engine
    std::map<std::string, std::string> facts;      // "archive_version" -> "1.14.0", "rdb_version" -> "11"
    std::map<std::string, std::int64_t> counts;    // "public.orders" -> rows, "db0" -> keys, "type hash" -> keys
    std::vector<std::string> columns;              // the listing's column names
    std::vector<std::vector<std::string>> entries; // the listing: one value per column each
};

class Engine {
public:
    virtual ~Engine() = default;

    // The object's format suffix before compression: "pgdump", "rdb".
    virtual std::string format() const = 0;

    // Streams a consistent dump into out (write() only: the caller finishes or aborts out). Fails when the
    // dump tool fails, the stream is empty, or cancel::requested(); out is then to be aborted.
    virtual Result<DumpInfo> dump(stream::Sink& out) = 0;

    // The same dump, where the engine may also write further objects through parts (a parallel dump, e.g.
    // PostgreSQL's `jobs:`). The default writes out alone. On failure every part the engine opened is either
    // aborted by it or removed by the caller.
    virtual Result<DumpInfo> dump_parts(stream::Sink& out, PartWriter& parts)
    {
        (void)parts;
        return dump(out);
    }

    // The statistics of a stored dump, read back from its raw stream (already decrypted and decompressed), in
    // the shape dump() records them: the same stats, server and tool versions as far as the dump holds them, and
    // details. For `dbkeep repair`, which rebuilds a lost manifest; needs no database. Reads `dump` to its end.
    // Fails with ErrorKind::corruption when the stream is not one complete dump of this engine (truncated,
    // malformed, followed by other data), with the reader's error when reading fails, and with
    // ErrorKind::cancelled on cancel::requested(). The default (an engine that cannot) fails with
    // ErrorKind::failed.
    virtual Result<DumpInfo> inspect(stream::Source& dump)
    {
        (void)dump;
        return fail(ErrorKind::failed, "inspect", format() + " dump",
                    "cannot read statistics of " + format() + " dumps");
    }

    // What one object of a stored backup holds (`dbkeep show`), read from its raw stream (already decrypted and
    // decompressed): the data object when `part` is false (details: the manifest's details), else a part
    // (details: that part's details, e.g. a parallel dump's table and ctid range, or a whole server's database).
    // May stop reading before the end: the caller reads the rest (so the object's checksum is checked there).
    // Fails with ErrorKind::corruption when the object is malformed, with the reader's error when reading fails,
    // and with ErrorKind::cancelled on cancel::requested(). The default reads a data object with inspect() (its
    // stats as counts, its details as facts) and leaves parts, and objects inspect() cannot read, unread (an
    // empty kind).
    virtual Result<Contents> contents(stream::Source& object, bool part,
                                      const std::map<std::string, std::string>& details)
    {
        (void)details;
        Contents out;
        if (part) {
            return out;
        }
        auto info = inspect(object);
        if (!info) {
            if (info.error().kind == ErrorKind::failed && info.error().operation == "inspect") {
                return out; // an engine that cannot inspect its dumps
            }
            return std::unexpected(info.error());
        }
        out.kind = format() + " dump";
        out.counts = std::move(info->stats);
        out.facts = std::move(info->details);
        if (!info->server_version.empty()) {
            out.facts["server_version"] = info->server_version;
        }
        return out;
    }

    // Restores a dump read from in (already decrypted and decompressed).
    virtual Status restore(stream::Source& in, const RestoreOptions& options) = 0;

    // Drops the scratch database a restore with RestoreOptions::scratch made (one dbkeep marked as its own);
    // leaves any other alone. Engines without databases to drop do nothing.
    virtual Status drop_scratch(const std::string& /*url*/, const std::string& /*password*/) { return {}; }

    // Statistics of a live database in the same shape as DumpInfo::stats (for verify --restore).
    virtual Result<std::map<std::string, std::int64_t>> stats(const std::string& url, const std::string& password) = 0;

    // `dbkeep check`: one finding per prerequisite (reachable, authenticated, permissions, tool versions).
    // Never throws or fails: problems are findings.
    virtual std::vector<Finding> probe() = 0;
};

} // namespace dbkeep::engine
