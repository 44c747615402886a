// `type: ecs`: the asynchronous marker protocol for places where a command can only be launched, not attached
// to (AWS ECS Exec is an interactive pty that is not binary-safe, returns no exit code and drops idle sessions).
//
// A run gets a staging folder `dbkeep-<time>-<random>` in a directory shared with the container (EFS), seen
// by dbkeep at `shared_dir` and inside the container at `remote_shared_dir`. dbkeep writes the command's
// environment there (mode 0600; the remote side deletes it as soon as it has read it), then runs the
// launcher (`aws ecs execute-command ...`, or any argv such as `docker exec -d CONTAINER`) with a small POSIX
// sh script that detaches itself and runs the command as
//     command 2> stderr | tee data | sha256sum
// and only then writes `status`: "<exit code> <bytes> <sha256>". dbkeep follows `data` while it grows and
// streams it on at once; at the end it compares the status with what it read (exit code, byte count,
// SHA-256). A missing status after `timeout` seconds without progress is a failure. Cancellation writes
// `cancel`, which a watchdog inside the container turns into SIGTERM/SIGKILL of the command. The staging
// folder is removed afterwards, and stale ones (older than a day) are removed by later runs.
#pragma once

#include "runner/runner.hpp"

#include <chrono>

namespace dbkeep::runner {

// A target's `runner: {type: ecs, ...}`. Either a launcher argv (any command the remote script is appended
// to, e.g. [docker, exec, -d, CONTAINER]) or cluster, container and one of service, family or task for
// `aws ecs execute-command`.
struct EcsOptions {
    std::vector<std::string> argv; // launcher; empty: aws ecs execute-command with cluster/task/container
    std::string cluster, task, container;
    std::string service, family;     // instead of task: the running task is looked up at the first command of a run
    std::string region, endpoint;    // for the aws CLI (--region, --endpoint-url); empty: its own defaults
    std::string shared_dir;          // the shared folder as dbkeep sees it
    std::string remote_shared_dir;   // the same folder inside the container; empty: shared_dir
    std::chrono::seconds timeout{0}; // idle timeout without progress; 0: the default (15 minutes)
};

// The task to run in: options.task, or the one RUNNING task of options.service / options.family in
// options.cluster, found with `aws ecs list-tasks` and `aws ecs describe-tasks` (the launcher's CLI, so the
// same credentials and region as ECS Exec). When several run (a rolling deploy), the one started last
// (ties: the greatest ARN) is chosen and logged. Returns its ARN, or a clear error when none runs, the CLI
// fails, or its answer is not what ECS returns (never throws). Without argv only.
Result<std::string> resolve_ecs_task(const EcsOptions& options);

// The hint for an `aws ecs` call that failed, by what the AWS CLI said on stderr: no credentials, an expired
// session token, a refused permission, no such cluster or service each have their own; any other message gets
// the list of what to check. Pure.
std::string ecs_cli_hint(const std::string& err);

// The runner for options. The staging protocol is described above; the launcher must be on this machine.
std::unique_ptr<Runner> make_ecs_runner(const EcsOptions& options);

// Removes staging folders in shared_dir older than max_age (cancelling what may still run there). Returns how
// many were removed.
std::size_t clean_stale_ecs_staging(const std::string& shared_dir, std::chrono::seconds max_age);

} // namespace dbkeep::runner
