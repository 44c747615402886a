// Leases: who is backing a target up now, held in the storage itself (no local state), so that several
// schedulers (cron on two hosts, a CronJob and a daemon) never back up the same target at once.
//
// <target>/lease.json is created with Storage::create_if_absent (local: link() of a complete temp file;
// S3: PUT with If-None-Match: *). A lease past its expiry is taken over by whoever first creates
// <target>/lease-takeover-<expired owner>.json (create_if_absent again), then overwrites lease.json: of
// several runners racing for the same expired lease exactly one wins, and a slow runner that read the expired
// lease late cannot displace the winner. On a store without conditional create these races are not closed
// (check warns about it).
#pragma once

#include "core/error.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace dbkeep::storage {
class Storage;
}

namespace dbkeep::catalog {

struct LeaseInfo {
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

// Takes the target's lease: acquired when there was none; took_over when the holder's lease expired, or when
// its holder is dead on this host (lease_holder_is_dead_here: taken over at once, with a log line saying so);
// busy otherwise. Fails as the storage fails.
Result<LeaseAttempt> acquire_lease(storage::Storage& storage, const std::string& target, std::chrono::seconds ttl,
                                   std::chrono::system_clock::time_point now);

// Extends our lease; fails with ErrorKind::failed if it is no longer ours.
Status renew_lease(storage::Storage& storage, const std::string& target, LeaseInfo& mine, std::chrono::seconds ttl,
                   std::chrono::system_clock::time_point now);

// Removes the lease if it is still ours.
Status release_lease(storage::Storage& storage, const std::string& target, const LeaseInfo& mine);

// A held lease, renewed every ttl/3 by a background thread and released on destruction.
class HeldLease {
public:
    HeldLease(storage::Storage& storage, std::string target, LeaseInfo mine, std::chrono::seconds ttl);
    ~HeldLease();
    HeldLease(const HeldLease&) = delete;
    HeldLease& operator=(const HeldLease&) = delete;

private:
    storage::Storage& m_storage;
    std::string m_target;
    LeaseInfo m_mine;
    std::chrono::seconds m_ttl;
    std::atomic<bool> m_stop{false};
    std::thread m_renewer;
};

} // namespace dbkeep::catalog
