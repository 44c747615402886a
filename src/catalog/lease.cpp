#include "catalog/lease.hpp"

#include "core/hex.hpp"
#include "core/time.hpp"

#include "catalog/naming.hpp"
#include "observe/log.hpp"
#include "storage/storage.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pthread.h>
#include <sstream>
#include <unistd.h>

namespace dbkeep::catalog {
namespace {

std::string hostname()
{
    char buf[256] = {};
    ::gethostname(buf, sizeof buf - 1);
    return buf;
}

std::string read_first_line(const char* path)
{
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);
    return line;
}

std::string boot_id()
{
    return read_first_line("/proc/sys/kernel/random/boot_id");
}

std::string pid_namespace()
{
    std::error_code ec;
    auto target = std::filesystem::read_symlink("/proc/self/ns/pid", ec);
    return ec ? std::string() : target.string(); // "pid:[4026531836]"
}

// Field 22 of /proc/<pid>/stat (starttime), or 0 when the process does not exist or cannot be read.
unsigned long long process_start(int pid)
{
    std::string stat = read_first_line(("/proc/" + std::to_string(pid) + "/stat").c_str());
    auto close = stat.rfind(')');
    if (close == std::string::npos) {
        return 0;
    }
    std::istringstream rest(stat.substr(close + 1));
    std::string field;
    for (int i = 3; i <= 22 && rest >> field; ++i) {
        if (i == 22) {
            return std::strtoull(field.c_str(), nullptr, 10);
        }
    }
    return 0;
}

LeaseInfo new_lease(std::chrono::seconds ttl, std::chrono::system_clock::time_point now)
{
    LeaseInfo l;
    l.owner = random_hex(9);
    l.host = hostname();
    l.pid = static_cast<int>(::getpid());
    l.boot_id = boot_id();
    l.pid_namespace = pid_namespace();
    l.pid_start = process_start(l.pid);
    l.acquired_at = format_rfc3339(now);
    l.expires = now + ttl;
    l.expires_at = format_rfc3339(l.expires);
    return l;
}

// Reads the current lease; nullopt when there is none. An unreadable lease counts as expired.
Result<std::optional<LeaseInfo>> read_lease(storage::Storage& storage, const std::string& target)
{
    auto text = storage::get_object(storage, lease_key(target), 64 * 1024);
    if (!text) {
        if (text.error().kind == ErrorKind::not_found) {
            return std::optional<LeaseInfo>{};
        }
        return std::unexpected(text.error());
    }
    auto info = lease_from_json(*text);
    if (!info) {
        LeaseInfo broken;
        broken.owner = "unreadable";
        return std::optional<LeaseInfo>{broken};
    }
    return std::optional<LeaseInfo>{*info};
}

} // namespace

std::string lease_to_json(const LeaseInfo& l)
{
    return nlohmann::json{{"owner", l.owner},
                          {"host", l.host},
                          {"pid", l.pid},
                          {"boot_id", l.boot_id},
                          {"pid_namespace", l.pid_namespace},
                          {"pid_start", l.pid_start},
                          {"acquired_at", l.acquired_at},
                          {"expires_at", l.expires_at}}
        .dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<LeaseInfo> lease_from_json(const std::string& text)
{
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return std::nullopt;
    }
    try {
        LeaseInfo l;
        l.owner = j.at("owner").get<std::string>();
        l.host = j.value("host", "");
        l.pid = j.value("pid", 0);
        l.boot_id = j.value("boot_id", "");
        l.pid_namespace = j.value("pid_namespace", "");
        l.pid_start = j.value("pid_start", 0ULL);
        l.acquired_at = j.value("acquired_at", "");
        l.expires_at = j.at("expires_at").get<std::string>();
        auto t = parse_rfc3339(l.expires_at);
        if (!t) {
            return std::nullopt;
        }
        l.expires = *t;
        return l;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

bool lease_holder_is_dead_here(const LeaseInfo& holder)
{
    if (holder.pid <= 0 || holder.host.empty() || holder.boot_id.empty() || holder.pid_namespace.empty() ||
        holder.host != hostname() || holder.pid_namespace != pid_namespace()) {
        return false;
    }
    if (holder.boot_id != boot_id()) {
        return true; // this host rebooted since: every process of then is gone
    }
    if (::kill(holder.pid, 0) != 0) {
        return errno == ESRCH; // EPERM: alive, owned by another user
    }
    const auto start = process_start(holder.pid);
    return holder.pid_start != 0 && start != 0 && start != holder.pid_start; // the pid was reused
}

Result<LeaseAttempt> acquire_lease(storage::Storage& storage, const std::string& target, std::chrono::seconds ttl,
                                   std::chrono::system_clock::time_point now)
{
    LeaseAttempt attempt;
    attempt.mine = new_lease(ttl, now);
    const std::string key = lease_key(target);
    auto created = storage.create_if_absent(key, lease_to_json(attempt.mine));
    if (!created) {
        return std::unexpected(created.error());
    }
    if (*created) {
        attempt.outcome = LeaseOutcome::acquired;
        return attempt;
    }
    auto current = read_lease(storage, target);
    if (!current) {
        return std::unexpected(current.error());
    }
    if (!*current) {
        // Released between our create and our read: try once more.
        auto again = storage.create_if_absent(key, lease_to_json(attempt.mine));
        if (!again) {
            return std::unexpected(again.error());
        }
        attempt.outcome = *again ? LeaseOutcome::acquired : LeaseOutcome::busy;
        return attempt;
    }
    attempt.other = **current;
    if (attempt.other.owner != "unreadable" && attempt.other.expires > now) {
        if (attempt.other.owner == attempt.mine.owner || !lease_holder_is_dead_here(attempt.other)) {
            attempt.outcome = LeaseOutcome::busy;
            return attempt;
        }
        attempt.holder_dead = true;
        observe::warn("taking over the lease of a backup whose process is gone from this host",
                      {{"target", target},
                       {"previous_host", attempt.other.host},
                       {"previous_pid", std::to_string(attempt.other.pid)},
                       {"acquired_at", attempt.other.acquired_at},
                       {"expires_at", attempt.other.expires_at}});
    }
    // Expired: the one runner that creates the takeover marker for this expired holder takes it over.
    const std::string marker = target + "/lease-takeover-" +
                               (attempt.other.owner == "unreadable" ? random_suffix() : attempt.other.owner) + ".json";
    auto won = storage.create_if_absent(marker, lease_to_json(attempt.mine));
    if (!won) {
        return std::unexpected(won.error());
    }
    if (!*won) {
        attempt.outcome = LeaseOutcome::busy;
        return attempt;
    }
    attempt.mine.takeover_marker = marker;
    if (auto st = storage::put_object(storage, key, lease_to_json(attempt.mine)); !st) {
        (void)storage.remove({marker});
        return std::unexpected(st.error());
    }
    attempt.outcome = LeaseOutcome::took_over;
    return attempt;
}

Status renew_lease(storage::Storage& storage, const std::string& target, LeaseInfo& mine, std::chrono::seconds ttl,
                   std::chrono::system_clock::time_point now)
{
    auto current = read_lease(storage, target);
    if (!current) {
        return std::unexpected(current.error());
    }
    if (!*current || (*current)->owner != mine.owner) {
        return fail(ErrorKind::failed, "renew lease of", target, "the lease is no longer ours");
    }
    mine.expires = now + ttl;
    mine.expires_at = format_rfc3339(mine.expires);
    return storage::put_object(storage, lease_key(target), lease_to_json(mine));
}

Status release_lease(storage::Storage& storage, const std::string& target, const LeaseInfo& mine)
{
    auto current = read_lease(storage, target);
    if (!current) {
        return std::unexpected(current.error());
    }
    std::vector<std::string> keys;
    if (*current && (*current)->owner == mine.owner) {
        keys.push_back(lease_key(target));
    }
    if (!mine.takeover_marker.empty()) {
        keys.push_back(mine.takeover_marker);
    }
    return keys.empty() ? Status{} : storage.remove(keys);
}

HeldLease::HeldLease(storage::Storage& storage, std::string target, LeaseInfo mine, std::chrono::seconds ttl)
    : m_storage(storage), m_target(std::move(target)), m_mine(std::move(mine)), m_ttl(ttl)
{
    m_renewer = std::thread([this] {
        // SIGINT/SIGTERM go to a thread that polls for them, never to this one.
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGINT);
        sigaddset(&signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &signals, nullptr);
        auto period = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(100), m_ttl / 3);
        auto next = std::chrono::steady_clock::now() + period;
        while (!m_stop.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (std::chrono::steady_clock::now() < next) {
                continue;
            }
            next += period;
            if (auto st = renew_lease(m_storage, m_target, m_mine, m_ttl, std::chrono::system_clock::now()); !st) {
                observe::warn("cannot renew the lease", {{"target", m_target}, {"error", st.error().to_string()}});
            }
        }
    });
}

HeldLease::~HeldLease()
{
    m_stop.store(true);
    m_renewer.join();
    if (auto st = release_lease(m_storage, m_target, m_mine); !st) {
        observe::warn("cannot release the lease", {{"target", m_target}, {"error", st.error().to_string()}});
    }
}

} // namespace dbkeep::catalog
