// What is stored: the backups of a target as found through their manifests.
//
// What storage says is checked before anything acts on it: a manifest counts as a backup only when it was
// found at the key its id implies, names this target and its own id, and its object key is exactly the one
// that its target, id, engine and encryption imply (catalog/naming.hpp). Anything else is reported as
// unreadable, and no caller reads, verifies or deletes what it names.
#pragma once

#include "catalog/manifest.hpp"
#include "core/time.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::storage {
class Storage;
}

namespace dbkeep::catalog {

// How far ahead of this machine's clock a backup id may be before the backup counts as dated in the future
// (written by a host whose clock ran ahead). Such a backup is kept and listed, but never counts as the last
// success (due, freshness) nor as the newest backup for retention.
inline constexpr std::chrono::minutes k_clock_skew_allowance{5};

struct UnreadableManifest {
    std::string key;    // the manifest's key
    std::string reason; // "not valid JSON", "object key ... is not the one its id implies (...)", ...
};

struct Listing {
    std::vector<Manifest> backups; // newest first; each passed the checks above
    // Data objects without any manifest key: complete objects whose manifest was lost, or leftovers of runs
    // that failed after the object was committed. Kept and reported; deleted only on request (prune --orphans).
    std::vector<std::string> orphans;
    std::vector<UnreadableManifest> unreadable; // reported, never read, verified or deleted
    std::vector<std::string> keys;              // every key listed under the target's prefix, sorted
};

// Lists a target's backups. Fails (never returns a partial listing) when the storage listing fails.
Result<Listing> list_backups(storage::Storage& storage, const std::string& target);

// The most parts a backup may have (catalog/naming.hpp numbers them with 4 digits).
inline constexpr std::size_t k_max_parts = 9999;

// The object key a manifest's target, id, engine and encryption imply (a whole PostgreSQL server's, with
// details.layout "server" and parts: `<id>.sql.zst`); nothing for an unknown engine or a malformed id. Pure.
std::optional<std::string> expected_object_key(const Manifest& manifest);

// Every object of a backup: its data object, then its parts in order. Pure.
std::vector<std::string> object_keys(const Manifest& manifest);

// The sizes of all of a backup's objects together (its data object and its parts): what it takes in storage
// and what its dump was before compression. Pure.
std::uint64_t total_stored_bytes(const Manifest& manifest);
std::uint64_t total_raw_bytes(const Manifest& manifest);

// True when the time in the backup id is later than now + k_clock_skew_allowance. Pure.
bool dated_in_future(const std::string& id, TimePoint now);

// The newest backup in listing that is not dated in the future; nullptr when there is none. Pure.
const Manifest* newest_trusted(const Listing& listing, TimePoint now);

// The newest backup of target that is not dated in the future: the same as newest_trusted(list_backups(...)),
// but it reads manifests newest first and stops at the first valid one (one listing and usually one GET, not
// one GET per backup). Nothing when there is none. Fails when the listing or a read fails.
Result<std::optional<Manifest>> newest_backup(storage::Storage& storage, const std::string& target, TimePoint now);

// The start time of newest_backup; nothing when there is none. Fails when the listing fails.
Result<std::optional<std::chrono::system_clock::time_point>> last_success(storage::Storage& storage,
                                                                          const std::string& target, TimePoint now);

// How the command that picks a backup takes one, for the hints of select_backup's errors: the command's name
// ("restore", "show"), and the option that takes an id and the one that takes a time; an empty option means
// the command's own argument (`dbkeep show TARGET ID`). The default is restore's --backup and --at.
struct SelectorSyntax {
    std::string command = "restore";
    std::string id_option = "--backup";
    std::string time_option = "--at";
};

// A backup by id, "latest" (or empty), or the newest at or before an RFC 3339 time (--at), from a listing of
// target. A backup dated in the future is chosen only by its id: "latest" is newest_trusted, --at skips such
// backups, and when every backup is dated in the future "latest" fails (ErrorKind::not_found) naming the
// newest one and the fix.
// Fails with ErrorKind::not_found when nothing matches; a selector that is neither an id nor a time says so,
// with the forms --at and --backup take. Hints name only the options of `syntax`: a command whose argument is
// the id (show) is told for a selector that is no id "no backup with id X" and to run `dbkeep list TARGET`, as
// for a missing id of the right shape. Pure.
Result<Manifest> select_backup(const Listing& listing, const std::string& target, const std::string& selector,
                               TimePoint now, const SelectorSyntax& syntax = {});

// select_backup over list_backups(storage, target); also fails when the listing fails or is empty.
Result<Manifest> find_backup(storage::Storage& storage, const std::string& target, const std::string& selector,
                             TimePoint now, const SelectorSyntax& syntax = {});

} // namespace dbkeep::catalog
