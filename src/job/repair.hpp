// `dbkeep repair`: rebuilds the manifest of an orphan (a complete data object whose manifest was lost, e.g. by a
// copy with --exclude '*.json' or a lifecycle rule) by reading the object itself, so that a restorable backup
// is listed, restored and kept by retention again. An object that cannot be read whole is never given one.
#pragma once

#include "catalog/manifest.hpp"
#include "job/pipeline.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::config {
struct TargetConfig;
}
namespace dbkeep::storage {
class Storage;
}

namespace dbkeep::job {

// What an orphan's key says, when it is a key this target writes.
struct OrphanName {
    std::string id; // 20261125T000000Z-a1b2c3
    bool encrypted = false;
};

// The id and encryption of key when it is exactly the object key that target, an id and format imply
// (catalog::object_key, with or without ".age"); otherwise an ErrorKind::corruption error saying why (a key
// another engine, target or naming wrote), and the object must not be touched. Pure.
Result<OrphanName> parse_orphan_key(const std::string& target, const std::string& format, const std::string& key);

struct RepairOptions {
    ReadOptions read;     // age identities / passphrase for encrypted objects
    bool dry_run = false; // read and report; write no manifest
    // Called before each manifest is committed (the CLI: HeldLease::confirm); a failure stops the repair there
    // with that error (manifests already committed stay). Empty: nothing to confirm.
    std::function<Status()> before_commit;
    // The clock, injected for tests; defaults to system_clock::now. Only the `repaired` mark reads it.
    std::function<std::chrono::system_clock::time_point()> now;
};

struct RepairResult {
    std::string key;                           // the orphan's object key
    std::optional<catalog::Manifest> manifest; // the rebuilt manifest (also under dry_run); empty on failure
    std::optional<Error> error;                // why it was not repaired; empty when it was (or would be)
    bool written = false;                      // the manifest was committed (never under dry_run)
};

// Repairs every orphan of target (catalog::list_backups(...).orphans), one result per orphan in key order.
// Each object is read once: SHA-256 and size of the stored bytes, decryption, decompression and the engine's
// inspect() (Engine::inspect), which gives the statistics a backup would have recorded. Its manifest is then
// committed with Storage::create_if_absent, never over an existing one. What the object does not hold comes
// from elsewhere and is marked by details["repaired"] (when the manifest was rebuilt): the start time from the
// id (finished = started), the trigger (scheduled), the compression level, the runner and, for Redis, the dump
// tool from the target's configuration now, and an encrypted object's recipients too (details
// "recipients_source" says so: an age header does not name its X25519 recipients). A key that is not one this target
// writes, an object that cannot be read whole (damaged, truncated, no or the wrong identity) or whose engine
// cannot be read gets no manifest: its result carries the cause. Fails as a whole only when the listing fails,
// the engine cannot be set up, or on cancel::requested() (ErrorKind::cancelled; manifests already committed
// stay).
Result<std::vector<RepairResult>> run_repair(const config::TargetConfig& target, storage::Storage& storage,
                                             const RepairOptions& options);

} // namespace dbkeep::job
