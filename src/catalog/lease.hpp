// Leases: who is backing a target up now, held in the storage itself (no local state), so that several
// schedulers (cron on two hosts, a CronJob and a daemon) never back up the same target at once.
//
// <target>/lease.json is created with Storage::create_if_absent (local: link() of a complete temp file;
// S3: PUT with If-None-Match: *). A lease past its expiry is taken over by whoever first creates
// <target>/lease-takeover-<expired owner>.json (create_if_absent again), then overwrites lease.json: of
// several runners racing for the same expired lease exactly one wins, and a slow runner that read the expired
// lease late cannot displace the winner. An unreadable lease.json is held, not free, until the store dates it
// older than the ttl; then the runner that creates the marker named after its content takes it over.
//
// Some S3-compatible servers accept If-None-Match and ignore it (s3rver). lease_protocol_for() finds out with
// two real requests; on such a store the claims protocol is used instead: each runner writes its own
// <target>/lease-claims/<owner>.json ("trying"), lists the claims, and holds the lease ("held") only when no
// other live claim is there; otherwise it withdraws and retries after a random delay. On a store where a
// listing shows every completed write (S3 since 2020, local folders) two runners never both hold it: the later
// writer's listing sees the earlier claim. Before committing, a holder confirms the lease (HeldLease::confirm):
// a holder paused past its ttl and taken over aborts instead of committing.
#pragma once

#include "core/error.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace dbkeep::storage {
class Storage;
}

namespace dbkeep::catalog {

// How a store makes the lease exact: conditional create of lease.json, or per-runner claims.
enum class LeaseProtocol { conditional_create, claims };

struct LeaseInfo {
    LeaseProtocol protocol = LeaseProtocol::conditional_create;
    std::string state; // claims only: "trying" while acquiring, "held" once acquired
    std::string owner; // random id of the holder
    std::string host;
    int pid = 0;
    // Where the holder's pid means something: the kernel's boot id, the pid namespace and the process's start
    // time (clock ticks since boot, /proc/<pid>/stat). Empty / 0 in leases of older versions.
    std::string boot_id, pid_namespace;
    unsigned long long pid_start = 0;
    std::string acquired_at, expires_at; // RFC 3339
    std::chrono::system_clock::time_point expires;
    std::string takeover_marker; // key of the marker we created when taking over, removed on release
};

std::string lease_to_json(const LeaseInfo& info);
std::optional<LeaseInfo> lease_from_json(const std::string& json);

enum class LeaseOutcome { acquired, took_over, busy };

struct LeaseAttempt {
    LeaseOutcome outcome = LeaseOutcome::busy;
    LeaseInfo mine;           // when acquired or took_over
    LeaseInfo other;          // busy: the live holder; took_over: the expired (or dead) holder
    bool holder_dead = false; // took_over a lease not yet expired whose process is gone from this host
};

// True when `holder` was written on this host (same hostname, boot id and pid namespace) by a process that is
// no longer running (its pid is gone, or now belongs to a process started at another time). False whenever
// that cannot be told (another host, a lease without those fields).
bool lease_holder_is_dead_here(const LeaseInfo& holder);

// Which protocol keeps leases exact on this store: writes a probe object twice with create_if_absent under
// <target>/ (the second must be refused and leave the first content) and removes it. Fails as the storage fails.
Result<LeaseProtocol> lease_protocol_for(storage::Storage& storage, const std::string& target);

// Takes the target's lease: acquired when there was none; took_over when the holder's lease expired, or when
// its holder is dead on this host (lease_holder_is_dead_here: taken over at once, with a log line saying so);
// busy otherwise (an unreadable lease is busy until the store dates it older than ttl). Fails as the storage
// fails, or cancelled while the claims protocol waits to retry.
Result<LeaseAttempt> acquire_lease(storage::Storage& storage, const std::string& target, std::chrono::seconds ttl,
                                   std::chrono::system_clock::time_point now,
                                   LeaseProtocol protocol = LeaseProtocol::conditional_create);

// Extends our lease; fails with ErrorKind::failed if it is no longer ours.
Status renew_lease(storage::Storage& storage, const std::string& target, LeaseInfo& mine, std::chrono::seconds ttl,
                   std::chrono::system_clock::time_point now);

// Ok when the lease is still ours (claims: our claim is there and no other runner holds one); fails with
// ErrorKind::conflict naming the new holder otherwise, or as the storage fails.
Status confirm_lease(storage::Storage& storage, const std::string& target, const LeaseInfo& mine,
                     std::chrono::system_clock::time_point now);

// Removes the lease if it is still ours.
Status release_lease(storage::Storage& storage, const std::string& target, const LeaseInfo& mine);

// A held lease, renewed every ttl/3 by a background thread and released on destruction, even after
// SIGINT/SIGTERM (the release runs inside a cancel::Shield). Thread-safe.
class HeldLease {
public:
    HeldLease(storage::Storage& storage, std::string target, LeaseInfo mine, std::chrono::seconds ttl);
    ~HeldLease();
    HeldLease(const HeldLease&) = delete;
    HeldLease& operator=(const HeldLease&) = delete;

    // Call right before committing work done under the lease: fails with ErrorKind::conflict when a renewal
    // found the lease taken over, or when confirm_lease() does now; the caller must then abort, not commit.
    Status confirm();

private:
    storage::Storage& m_storage;
    std::string m_target;
    LeaseInfo m_mine;
    std::chrono::seconds m_ttl;
    std::mutex m_mutex; // m_mine and m_lost, shared with the renewer
    std::optional<Error> m_lost;
    std::atomic<bool> m_stop{false};
    std::thread m_renewer;
};

} // namespace dbkeep::catalog
