// Backups under a lease, retention, and the "is it due?" question answered from storage alone (containers
// are ephemeral: no local state).
#pragma once

#include "catalog/manifest.hpp"
#include "catalog/retention.hpp"
#include "core/finding.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::config {
struct Config;
struct TargetConfig;
} // namespace dbkeep::config
namespace dbkeep::storage {
class Storage;
}
namespace dbkeep::observe {
class Metrics;
}

namespace dbkeep::job {

using TimePoint = std::chrono::system_clock::time_point;

struct LeasedBackupOptions {
    bool wait = false; // wait for a live lease to be released (backup --wait) instead of skipping
    bool prune = true; // apply retention after a successful backup
    // Recorded in the manifest: `dbkeep backup` is manual; `run --due` and the daemon are scheduled.
    catalog::Trigger trigger = catalog::Trigger::scheduled;
    // When set, the run is recorded there (started, succeeded, failed, or idle when skipped).
    observe::Metrics* metrics = nullptr;
};

struct LeasedBackupResult {
    std::optional<catalog::Manifest> manifest; // empty when skipped
    std::string skipped;                       // why nothing ran: "running on host h pid p until t"
};

// Takes the target's lease (renewed while the backup runs), backs up, applies retention, releases.
// Tells the target's notification channels: `start` once the lease is held, then `success` or `failure` (any
// error, the lease's included; a skip because another runner holds the lease sends nothing).
Result<LeasedBackupResult> backup_with_lease(const config::Config& config, const config::TargetConfig& target,
                                             storage::Storage& storage, const LeasedBackupOptions& options);

struct DueRun {
    bool due = false;                      // a scheduled instant passed since the newest backup: a backup was attempted
    std::optional<TimePoint> next;         // when not due: the next scheduled instant (none: no schedule, or never)
    LeasedBackupResult backup;             // when due: the backup, or why another runner's lease made it skip
    std::optional<TimePoint> last_success; // the newest backup in storage before this run (none: never)
};

// Sends `failure` with the error (redacted) to the target's notification channels: for failures before
// backup_with_lease runs (the storage does not open), which it cannot see.
void notify_failure(const config::TargetConfig& target, const Error& error);

// The dead-man's switch for one target (`check --freshness`): check::check_freshness, and when it fails,
// `missed` is sent to the target's channels with the finding and its remedy as the error. Meant to run on its
// own schedule, apart from the trigger that runs the backups, so a trigger that stopped firing is noticed.
// Never fails.
Finding check_overdue(const config::TargetConfig& target, storage::Storage& storage, TimePoint now);

// `run --due` for one target: backs up under the lease when its schedule says a backup is due and missing,
// judged from the manifests in storage alone (no local state). A target without a schedule is never due.
// Fails when the listing or the backup fails; either is sent to the target's channels as `failure`.
// With metrics, the run is recorded there, with the target's last success and next scheduled instant.
Result<DueRun> run_if_due(const config::Config& config, const config::TargetConfig& target, storage::Storage& storage,
                          TimePoint now, observe::Metrics* metrics = nullptr);

// How old an incomplete write (a temp file, a multipart upload) must be before the sweep discards it: a
// running backup's own is younger (it is written to continuously).
inline constexpr std::chrono::hours k_incomplete_write_age{24};

struct SweepReport {
    std::vector<std::string> discarded; // incomplete writes older than k_incomplete_write_age (their handles)
    std::vector<std::string> kept;      // younger ones: possibly a running backup's
};

// The sweep after every backup and prune: discards what is provably garbage, and only that: incomplete
// writes under the target's prefix older than k_incomplete_write_age (a SIGKILLed backup's temp file).
// Complete objects are never touched. With dry_run nothing is discarded. Fails when the listing fails.
Result<SweepReport> sweep_incomplete(storage::Storage& storage, const std::string& target, bool dry_run, TimePoint now);

struct PruneOptions {
    bool dry_run = false;
    bool orphans = false; // also delete complete objects without a manifest (older than k_incomplete_write_age)
};

struct PruneReport {
    std::vector<catalog::RetentionDecision> decisions; // newest first
    // Complete objects without a manifest. Kept and reported unless PruneOptions::orphans; then those older
    // than a day are in removed_orphans and the rest (possibly a backup being committed) stay here.
    std::vector<std::string> orphans;
    std::vector<std::string> removed_orphans;
    SweepReport swept;
    std::string skipped; // non-empty: no retention applied, and why
};

// Sweeps (sweep_incomplete), then applies the target's retention. Deletes only keys that its own listing of this target
// returned: never what a manifest names elsewhere. Removes nothing when the listing failed or a manifest
// was unreadable; removes a backup's manifest before its object so that a half-removed backup never looks
// complete. Each manifest's trigger decides which rules apply to it (a manual backup never displaces a
// scheduled one), except for a target without a schedule, whose backups (made by an outside trigger running
// `dbkeep backup`) all count as scheduled; a backup dated in the future is kept and takes no part in the rules
// (catalog/retention.hpp).
Result<PruneReport> run_prune(const config::TargetConfig& target, storage::Storage& storage,
                              const PruneOptions& options, TimePoint now);

} // namespace dbkeep::job
