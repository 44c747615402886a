// Scheduled proof: a target's `verify:` block run on its own schedule, from the daemon and from `run --due`
// alike. Each run checksum-verifies the latest backup (or all of them) and, where a scratch URL is given,
// test-restores the latest into it and compares its statistics with the manifest (job::run_verify).
//
// State lives in storage only (containers are ephemeral): each scheduled instant is claimed by creating
// `<target>/verified/<YYYYMMDDTHHMMSSZ>.json` with Storage::create_if_absent, so however many triggers fire,
// one runner verifies each period; when it ends it rewrites the file with the outcome:
//   {"instant", "claimed_by", "finished_at", "ok", "restored", "backup_id", "error"}
// The newest 20 records are kept.
#pragma once

#include "core/error.hpp"
#include "job/restore.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::config {
struct TargetConfig;
}
namespace dbkeep::storage {
class Storage;
}
namespace dbkeep::observe {
class Metrics;
}

namespace dbkeep::job {

struct ProofRun {
    bool due = false; // a verify instant passed since the last claimed one: it ran
    std::optional<std::chrono::system_clock::time_point> next; // when not due: the next verify instant
    std::string skipped;               // when due: why nothing ran (another runner claimed the period)
    std::vector<VerifyResult> results; // each backup verified (the test-restored one last)
    bool restored = false;             // a test restore ran and matched the manifest
    std::optional<Error> failure;      // the proof's first failure; empty when it passed
};

// Runs the target's `verify:` block when it is due at `now` (nothing when the target has none). A failed proof
// (a checksum or size mismatch, a test restore that fails or does not match, a backup that cannot be read, no
// backup at all) is ProofRun::failure, sent as `verify_failure` to the target's channels; a passing test
// restore sets metrics' dbkeep_last_verified_restore_timestamp_seconds. An error is returned only when the
// storage cannot be read to decide (also sent as `verify_failure`). Honours cancel::requested() (a cancelled
// proof is an error, its claim removed so the period is retried). Not thread-safe for one target.
Result<ProofRun> run_proof_if_due(const config::TargetConfig& target, storage::Storage& storage,
                                  std::chrono::system_clock::time_point now, observe::Metrics* metrics = nullptr);

// The start of the newest claimed verify period of the target (none: never verified), and, when that run
// passed with a test restore, when it finished (for metrics at start-up). For the daemon's schedule.
struct LastProof {
    std::optional<std::chrono::system_clock::time_point> instant;
    std::optional<std::chrono::system_clock::time_point> verified_restore_at;
};
Result<LastProof> last_proof(storage::Storage& storage, const std::string& target);

} // namespace dbkeep::job
