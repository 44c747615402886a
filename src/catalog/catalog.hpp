// What is stored: the backups of a target as found through their manifests.
#pragma once

#include "catalog/manifest.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::storage {
class Storage;
}

namespace dbkeep::catalog {

struct Listing {
    std::vector<Manifest> backups;       // newest first
    std::vector<std::string> orphans;    // object keys without a manifest (failed runs' leftovers)
    std::vector<std::string> unreadable; // manifest keys that failed to parse (reported, never deleted)
};

// Lists a target's backups. Fails (never returns a partial listing) when the storage listing fails.
Result<Listing> list_backups(storage::Storage& storage, const std::string& target);

// The start time of the newest backup of target (from the manifests in storage); nothing when there is none.
// Fails when the listing fails.
Result<std::optional<std::chrono::system_clock::time_point>> last_success(storage::Storage& storage,
                                                                          const std::string& target);

// A backup by id, "latest", or the newest at or before an RFC 3339 time (--at).
Result<Manifest> find_backup(storage::Storage& storage, const std::string& target, const std::string& selector);

} // namespace dbkeep::catalog
