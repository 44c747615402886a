// The manifest: the record of one backup, written last as its commit point. A backup exists when, and only
// when, its manifest exists. docs/format.md specifies the JSON.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dbkeep::catalog {

// The newest manifest format this dbkeep reads. Format 1: one data object. Format 2: the data object and
// further part objects (`parts`, a parallel PostgreSQL dump's table chunks). A backup with parts is written as
// format 2 so that a dbkeep that knows only format 1 refuses it instead of restoring the first object alone.
inline constexpr int k_manifest_format = 2;
inline constexpr int k_manifest_format_single = 1;

// What started a backup. Retention treats the two apart (catalog/retention.hpp): the periodic rules keep
// scheduled backups, `keep.manual` keeps manual ones, so a manual backup never displaces a scheduled one.
enum class Trigger {
    scheduled, // `run --due` or the daemon, on the target's schedule
    manual,    // `dbkeep backup`
};

// "scheduled" or "manual", as in the manifest's `trigger` field.
const char* trigger_name(Trigger trigger) noexcept;

// One further object of a backup (format 2): stored and checked like the data object, under a key
// catalog/naming.hpp's part_key gives (index in `parts` + 1). `details` are the engine's facts about it (for
// PostgreSQL: schema, table, columns as a JSON array, ctid page range, rows), read by that engine's restore.
struct Part {
    std::string key;
    std::uint64_t raw_bytes = 0;
    std::uint64_t stored_bytes = 0;
    std::string sha256; // of the stored object, lowercase hex
    std::map<std::string, std::string> details;

    bool operator==(const Part&) const = default;
};

struct Manifest {
    int format = k_manifest_format_single; // as read; to_json writes what the parts imply
    std::string id;                        // 20261125T000000Z-a1b2c3
    std::string target;
    std::string engine; // postgres | redis
    std::string server_version;
    std::string tool; // pg_dump, redis-replication
    std::string tool_version;
    std::string started_at; // RFC 3339 UTC, e.g. 2026-11-25T00:00:00.123Z
    std::string finished_at;
    std::int64_t started_unix_ms = 0;
    std::int64_t finished_unix_ms = 0;
    std::string object_key;         // the data object, relative to the storage root
    std::uint64_t raw_bytes = 0;    // the dump before compression
    std::uint64_t stored_bytes = 0; // the object as stored
    std::string sha256;             // of the stored object, lowercase hex
    std::string compression = "zstd";
    int compression_level = 3;
    std::string encryption;                         // "" or "age"
    std::vector<std::string> encryption_recipients; // public keys only
    std::string runner;                             // "local", "docker container x"
    std::string dbkeep_version;
    // Manifests written before the field existed read as scheduled: they keep the treatment they had (every
    // backup then counted for the periodic rules), so an upgrade removes nothing it kept before.
    Trigger trigger = Trigger::scheduled;
    std::map<std::string, std::int64_t> stats;  // table -> rows, db -> keys
    std::map<std::string, std::string> details; // engine-specific facts
    std::vector<Part> parts;                    // format 2 only; same compression and encryption as the object

    bool operator==(const Manifest&) const = default;
};

// The manifest as JSON (docs/format.md); `format` is written as k_manifest_format_single without parts and as
// k_manifest_format with them, whatever manifest.format says.
std::string to_json(const Manifest& manifest);

// Parses a manifest; `where` names the key for messages. Unknown fields are ignored (forward compatible);
// missing required fields, a `trigger` other than "scheduled" or "manual", a newer format, or parts in a format 1
// manifest fail with ErrorKind::corruption. A missing `trigger` reads as scheduled. Part keys are not checked
// here (catalog.hpp's readers check them against the backup's id).
Result<Manifest> parse_manifest(const std::string& json, const std::string& where);

} // namespace dbkeep::catalog
