// Restoring a stored backup: into a live database through the engine, or into a file (the plain dump).
#pragma once

#include "catalog/manifest.hpp"
#include "job/pipeline.hpp"

#include <filesystem>
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

struct RestoreRequest {
    std::string selector = "latest"; // backup id, "latest" or an RFC 3339 time (--at)
    std::string to_url;              // restore into this database ...
    std::filesystem::path output;    // ... or write the plain dump here ("-" = stdout)
    int jobs = 1;
    bool flush = false;
    bool merge = false;   // restore into a non-empty destination, keeping its other keys (redis)
    bool force = false;   // restore although the destination's maxmemory looks too small (redis)
    std::string password; // for to_url, from the environment; never logged
    // PostgreSQL (engine::RestoreOptions): restore over existing objects, keep a failed restore's database,
    // leave out owners or privileges, restore as another role.
    bool clean = false;
    bool keep_failed = false;
    bool no_owner = false;
    bool no_acl = false;
    std::string role;
    // A whole-server PostgreSQL backup: restore (or write with --output) only this database, or only the
    // globals; and leave the roles the destination lacks uncreated.
    std::string database;
    bool globals_only = false;
    bool no_roles = false;
    bool scratch = false; // verify --restore's scratch database
    ReadOptions read;
    // PostgreSQL: restore only these tables and schemas (engine::RestoreOptions::tables/schemas); a config
    // error for other engines and with output.
    std::vector<std::string> tables;
    std::vector<std::string> schemas;
};

// What a restore of request restores when it is part of the backup, for the log and the summary: "table orders,
// table public.items, schema sales" (--table, --schema), "database shop" (--database), "the globals"
// (--globals); empty for the whole backup. Pure.
std::string restored_part(const RestoreRequest& request);

// Returns the manifest of the restored backup. Logs "restore complete" with what was restored: the whole
// backup's raw_bytes, or for a part (restored_part) "restored" and its "tables" and "schemas", never the whole
// backup's size as if it had all been restored.
Result<catalog::Manifest> run_restore(const config::TargetConfig& target, storage::Storage& storage,
                                      const RestoreRequest& request);

struct VerifyRequest {
    std::string selector; // empty: every backup of the target (with restore_to: the latest)
    ReadOptions read;
    std::string restore_to;       // non-empty: test-restore into this scratch database and compare statistics
    std::string restore_password; // for restore_to
    bool keep = false;            // leave the scratch database in place (else it is dropped after the comparison)
    bool force = false;           // Redis: test-restore although the scratch's maxmemory looks too small (warns)
    bool no_owner = false;        // PostgreSQL: pg_restore --no-owner, --no-acl, --role for the test restore
    bool no_acl = false;
    std::string role;
};
struct VerifyResult {
    catalog::Manifest manifest;
    std::optional<Error> error; // empty when the backup verified
};

// Reads each selected backup whole: size and SHA-256 against the manifest, and a full decompression (and
// decryption) so a damaged frame is found.
Result<std::vector<VerifyResult>> run_verify(const config::TargetConfig& target, storage::Storage& storage,
                                             const VerifyRequest& request);

} // namespace dbkeep::job
