// How backups are named in storage:
//   <target>/<YYYY>/<MM>/<backup-id>.<format>.zst[.age]   the data object
//   <target>/<YYYY>/<MM>/<backup-id>.part-NNNN.copy.zst[.age]  a further part (manifest format 2)
//   <target>/<YYYY>/<MM>/<backup-id>.manifest.json        the manifest, written last
//   <target>/lease.json                                   who is backing the target up now
// (keys are relative to the storage's root or prefix). backup-id = UTC start time + "-" + 6 hex chars.
#pragma once

#include "core/time.hpp"
#include <chrono>
#include <cstddef>
#include <optional>

#include <string>

namespace dbkeep::catalog {

using TimePoint = dbkeep::TimePoint;

// 20261125T000000Z-<suffix>; suffix is 6 lowercase hex characters.
std::string make_backup_id(TimePoint start, const std::string& suffix);
std::string random_suffix();

// The UTC start time encoded in a backup id, or nothing when the id is malformed.
std::optional<TimePoint> backup_time(const std::string& id);

// Folder of a backup: "<target>/<YYYY>/<MM>/".
std::string backup_folder(const std::string& target, const std::string& id);
std::string object_key(const std::string& target, const std::string& id, const std::string& format, bool encrypted);
// The key of part `number` (1-based, 1..9999) of a backup: "<folder><id>.part-0001.copy.zst[.age]". Its
// content is a COPY text stream (PostgreSQL's `COPY ... TO STDOUT` text format), compressed and encrypted like
// the data object.
std::string part_key(const std::string& target, const std::string& id, std::size_t number, bool encrypted);
std::string manifest_key(const std::string& target, const std::string& id);
std::string lease_key(const std::string& target);
// The dump format (object key extension) an engine writes: "pgdump" for postgres, "rdb" for redis, "sqlite" for sqlite;
// nothing for an engine this dbkeep does not know. Matches each engine's Engine::format().
std::optional<std::string> dump_format(const std::string& engine);
// Prefix under which all of a target's backups live: "<target>/".
std::string target_prefix(const std::string& target);

// If key is a manifest key, the backup id it names.
std::optional<std::string> id_from_manifest_key(const std::string& key);
// If key is a data object key (anything in a target's month folder that is not a manifest), its backup id.
std::optional<std::string> id_from_object_key(const std::string& key);

// A target name: letters, digits, '-', '_', '.', 1..64 chars, not starting with '.'.
bool valid_target_name(const std::string& name);

} // namespace dbkeep::catalog
