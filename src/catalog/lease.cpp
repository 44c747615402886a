#include "catalog/lease.hpp"

#include "core/cancel.hpp"
#include "core/hex.hpp"
#include "core/time.hpp"

#include "catalog/naming.hpp"
#include "observe/log.hpp"
#include "storage/storage.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
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

// FNV-1a of bytes as 16 hex characters: names the takeover marker of an unreadable lease by its content, so
// that of several runners taking the same unreadable lease over exactly one wins.
std::string content_name(const std::string& bytes)
{
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : bytes) {
        h = (h ^ c) * 1099511628211ull;
    }
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, h >>= 4) {
        out[static_cast<std::size_t>(i)] = k_digits[h & 15];
    }
    return out;
}

// What a lease object says. An unreadable one is held, not free: its owner is "unreadable-<content name>" and
// it expires ttl after the time the store gives the object (now + ttl when the store cannot say).
Result<std::optional<LeaseInfo>> read_lease_object(storage::Storage& storage, const std::string& key,
                                                   std::chrono::seconds ttl, std::chrono::system_clock::time_point now)
{
    auto text = storage::get_object(storage, key, 64 * 1024);
    if (!text) {
        if (text.error().kind == ErrorKind::not_found) {
            return std::optional<LeaseInfo>{};
        }
        return std::unexpected(text.error());
    }
    if (auto info = lease_from_json(*text)) {
        return std::optional<LeaseInfo>{*info};
    }
    LeaseInfo broken;
    broken.owner = "unreadable-" + content_name(*text);
    broken.expires = now + ttl;
    if (auto st = storage.stat(key); st && st->modified_unix > 0) {
        broken.expires = std::chrono::system_clock::time_point(std::chrono::seconds(st->modified_unix)) + ttl;
    }
    broken.expires_at = format_rfc3339(broken.expires);
    observe::warn(
        "the lease object is unreadable: it is treated as held until the store dates it older than "
        "the lease ttl",
        {{"key", key}, {"held_until", broken.expires_at}, {"hint", "if no backup is running, delete " + key}});
    return std::optional<LeaseInfo>{broken};
}

Result<std::optional<LeaseInfo>> read_lease(storage::Storage& storage, const std::string& target,
                                            std::chrono::seconds ttl, std::chrono::system_clock::time_point now)
{
    return read_lease_object(storage, lease_key(target), ttl, now);
}

std::string claims_prefix(const std::string& target)
{
    return target + "/lease-claims/";
}

std::string claim_key(const std::string& target, const std::string& owner)
{
    return claims_prefix(target) + owner + ".json";
}

std::string holder_text(const LeaseInfo& l)
{
    return l.owner.starts_with("unreadable-")
               ? "an unreadable lease"
               : "host " + l.host + " pid " + std::to_string(l.pid) + " since " + l.acquired_at;
}

struct Claims {
    std::vector<LeaseInfo> live;    // other runners' claims that count
    std::optional<LeaseInfo> stale; // one stale claim removed (expired, dead here, or unreadable and old)
};

// Other runners' claims. A claim that is provably stale is removed (that is the takeover); `held_only` counts
// only claims of runners that hold the lease, not those still trying.
Result<Claims> other_claims(storage::Storage& storage, const std::string& target, const std::string& owner,
                            std::chrono::seconds ttl, std::chrono::system_clock::time_point now, bool held_only)
{
    Claims out;
    auto listed = storage.list(claims_prefix(target));
    if (!listed) {
        return std::unexpected(listed.error());
    }
    for (const auto& object : *listed) {
        if (object.key == claim_key(target, owner) || !object.key.ends_with(".json")) {
            continue;
        }
        auto claim = read_lease_object(storage, object.key, ttl, now);
        if (!claim) {
            return std::unexpected(claim.error());
        }
        if (!*claim) {
            continue; // withdrawn since the listing
        }
        const LeaseInfo& other = **claim;
        if (other.expires <= now || lease_holder_is_dead_here(other)) {
            if (auto st = storage.remove({object.key}); !st) {
                return std::unexpected(st.error());
            }
            out.stale = other;
            continue;
        }
        if (!held_only || other.state != "trying") {
            out.live.push_back(other);
        }
    }
    return out;
}

Result<LeaseAttempt> acquire_by_claims(storage::Storage& storage, const std::string& target, std::chrono::seconds ttl,
                                       std::chrono::system_clock::time_point now)
{
    LeaseAttempt attempt;
    attempt.mine = new_lease(ttl, now);
    attempt.mine.protocol = LeaseProtocol::claims;
    const std::string mine_key = claim_key(target, attempt.mine.owner);
    for (int round = 0;; ++round) {
        attempt.mine.state = "trying";
        if (auto st = storage::put_object(storage, mine_key, lease_to_json(attempt.mine)); !st) {
            return std::unexpected(st.error());
        }
        auto others = other_claims(storage, target, attempt.mine.owner, ttl, now, false);
        if (others && others->live.empty()) {
            attempt.mine.state = "held";
            if (auto st = storage::put_object(storage, mine_key, lease_to_json(attempt.mine)); !st) {
                (void)storage.remove({mine_key});
                return std::unexpected(st.error());
            }
            attempt.outcome = others->stale ? LeaseOutcome::took_over : LeaseOutcome::acquired;
            if (others->stale) {
                attempt.other = *others->stale;
            }
            return attempt;
        }
        (void)storage.remove({mine_key});
        if (!others) {
            return std::unexpected(others.error());
        }
        attempt.other = others->live.front();
        const bool held = std::any_of(others->live.begin(), others->live.end(),
                                      [](const LeaseInfo& l) { return l.state != "trying"; });
        if (held || round == 3) {
            attempt.outcome = LeaseOutcome::busy;
            return attempt;
        }
        // Only runners still trying: all withdraw, and each retries after its own random delay.
        const auto delay = std::chrono::milliseconds(200 + std::stoi(random_hex(1), nullptr, 16) * 4);
        for (auto until = std::chrono::steady_clock::now() + delay; std::chrono::steady_clock::now() < until;) {
            if (cancel::requested()) {
                return fail_cancelled("take the lease of", target);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        now += delay;
    }
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
                          {"expires_at", l.expires_at},
                          {"state", l.state}}
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
        l.state = j.value("state", "");
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

Result<LeaseProtocol> lease_protocol_for(storage::Storage& storage, const std::string& target)
{
    if (!storage.supports_conditional_create()) {
        return LeaseProtocol::claims;
    }
    const std::string key = target + "/lease-probe-" + random_hex(6) + ".json";
    auto first = storage.create_if_absent(key, "first");
    if (!first) {
        return std::unexpected(first.error());
    }
    auto second = storage.create_if_absent(key, "second");
    auto kept = storage::get_object(storage, key, 64);
    const cancel::Shield cleanup;
    (void)storage.remove({key});
    if (!second) {
        return std::unexpected(second.error());
    }
    if (!kept) {
        return std::unexpected(kept.error());
    }
    const bool exact = *first && !*second && *kept == "first";
    if (!exact) {
        observe::debug("the store accepts conditional create but does not honour it: leases use per-runner claims",
                       {{"storage", storage.describe()}});
    }
    return exact ? LeaseProtocol::conditional_create : LeaseProtocol::claims;
}

Result<LeaseAttempt> acquire_lease(storage::Storage& storage, const std::string& target, std::chrono::seconds ttl,
                                   std::chrono::system_clock::time_point now, LeaseProtocol protocol)
{
    if (protocol == LeaseProtocol::claims) {
        return acquire_by_claims(storage, target, ttl, now);
    }
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
    auto current = read_lease(storage, target, ttl, now);
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
    if (attempt.other.expires > now) {
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
    // Expired: the one runner that creates the takeover marker for this expired holder (an unreadable lease:
    // for its content) takes it over.
    const std::string marker = target + "/lease-takeover-" + attempt.other.owner + ".json";
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
    const bool claims = mine.protocol == LeaseProtocol::claims;
    const std::string key = claims ? claim_key(target, mine.owner) : lease_key(target);
    auto current = read_lease_object(storage, key, ttl, now);
    if (!current) {
        return std::unexpected(current.error());
    }
    if (!*current || (*current)->owner != mine.owner) {
        return fail(ErrorKind::conflict, "renew lease of", target,
                    *current ? "the lease is no longer ours: " + holder_text(**current) + " took it over"
                             : "the lease is no longer ours: another runner removed it as expired");
    }
    mine.expires = now + ttl;
    mine.expires_at = format_rfc3339(mine.expires);
    return storage::put_object(storage, key, lease_to_json(mine));
}

Status confirm_lease(storage::Storage& storage, const std::string& target, const LeaseInfo& mine,
                     std::chrono::system_clock::time_point now)
{
    const std::chrono::seconds ttl = std::chrono::duration_cast<std::chrono::seconds>(mine.expires - now);
    if (mine.protocol == LeaseProtocol::conditional_create) {
        auto current = read_lease(storage, target, ttl, now);
        if (!current) {
            return std::unexpected(current.error());
        }
        if (!*current || (*current)->owner != mine.owner) {
            return fail(ErrorKind::conflict, "confirm the lease of", target,
                        *current ? holder_text(**current) + " took the lease over"
                                 : "the lease was removed by another runner");
        }
        return {};
    }
    auto own = storage::get_object(storage, claim_key(target, mine.owner), 64 * 1024);
    if (!own) {
        return own.error().kind == ErrorKind::not_found
                   ? fail(ErrorKind::conflict, "confirm the lease of", target,
                          "another runner found this run's lease claim expired and removed it")
                   : Status{std::unexpected(own.error())};
    }
    auto others = other_claims(storage, target, mine.owner, ttl, now, true);
    if (!others) {
        return std::unexpected(others.error());
    }
    if (!others->live.empty()) {
        return fail(ErrorKind::conflict, "confirm the lease of", target,
                    holder_text(others->live.front()) + " holds the lease too");
    }
    return {};
}

Status release_lease(storage::Storage& storage, const std::string& target, const LeaseInfo& mine)
{
    if (mine.protocol == LeaseProtocol::claims) {
        return storage.remove({claim_key(target, mine.owner)});
    }
    auto current = read_lease(storage, target, std::chrono::seconds(0), std::chrono::system_clock::now());
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
            std::lock_guard lock(m_mutex);
            if (m_lost) {
                continue;
            }
            if (auto st = renew_lease(m_storage, m_target, m_mine, m_ttl, std::chrono::system_clock::now()); !st) {
                observe::warn("cannot renew the lease", {{"target", m_target}, {"error", st.error().to_string()}});
                if (st.error().kind == ErrorKind::conflict) {
                    m_lost = st.error();
                }
            }
        }
    });
}

Status HeldLease::confirm()
{
    std::lock_guard lock(m_mutex);
    if (m_lost) {
        return std::unexpected(*m_lost);
    }
    if (auto st = confirm_lease(m_storage, m_target, m_mine, std::chrono::system_clock::now()); !st) {
        if (st.error().kind == ErrorKind::conflict) {
            m_lost = st.error();
        }
        return st;
    }
    return {};
}

HeldLease::~HeldLease()
{
    m_stop.store(true);
    m_renewer.join();
    // Cleanup that a signal must not stop: a lease left behind blocks the next run for its ttl.
    const cancel::Shield cleanup;
    std::lock_guard lock(m_mutex);
    if (m_lost) {
        return; // another runner holds it now
    }
    if (auto st = release_lease(m_storage, m_target, m_mine); !st) {
        observe::warn("cannot release the lease", {{"target", m_target}, {"error", st.error().to_string()}});
    }
}

} // namespace dbkeep::catalog
