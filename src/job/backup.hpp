// One backup of one target, end to end: engine dump -> zstd -> [age] -> sha256 -> object writer, then the
// manifest as the commit point. Any failure aborts the object and writes no manifest.
#pragma once

#include "catalog/manifest.hpp"

#include <chrono>
#include <functional>

namespace dbkeep::config {
struct Config;
struct TargetConfig;
} // namespace dbkeep::config
namespace dbkeep::storage {
class Storage;
}

namespace dbkeep::job {

struct BackupOptions {
    // The clock, injected for tests; defaults to system_clock::now.
    std::function<std::chrono::system_clock::time_point()> now;
    // Called after the object is complete and before its manifest is written (the commit point); a failure
    // aborts the backup: the object is removed and no manifest is written. The lease's confirm() goes here.
    std::function<Status()> before_commit;
    // What started the backup, recorded in the manifest (retention keeps the two apart).
    catalog::Trigger trigger = catalog::Trigger::scheduled;
};

// Backs up target into storage (which the caller opened for the target's storage config).
Result<catalog::Manifest> run_backup(const config::Config& config, const config::TargetConfig& target,
                                     storage::Storage& storage, const BackupOptions& options = {});

} // namespace dbkeep::job
