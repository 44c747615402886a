#include "engine/redis/restore.hpp"

#include "core/cancel.hpp"
#include "engine/redis/rdb.hpp"
#include "engine/redis/redis.hpp"
#include "engine/redis/replica_load.hpp"
#include "observe/log.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <thread>
#include <vector>

namespace dbkeep::engine::redis {
namespace {

constexpr std::size_t k_read_size = 1 << 20;
constexpr std::size_t k_batch_commands = 1000;
constexpr std::size_t k_batch_bytes = 16u << 20;

// Where restore sends its pipelined commands: a RESP connection (replies checked batch by batch), or
// `redis-cli --pipe` where the runner runs (it checks the replies and reports the errors at its end: one pipe
// per database).
class CommandQueue {
public:
    virtual ~CommandQueue() = default;
    virtual const std::string& endpoint() const = 0;
    // Queues one command; returns the bytes now queued.
    virtual std::size_t append(std::initializer_list<std::string_view> args) = 0;
    // Sends what is queued; `labels` say what each queued command was, for messages.
    virtual Status drain(const std::vector<std::string>& labels, int rdb_version) = 0;
    // After the last drain.
    virtual Status finish() { return {}; }
    // After a drain (nothing queued): switches the commands that follow to database db and returns SELECT's
    // reply, read before anything else is sent. Fails when the server cannot be reached.
    virtual Result<resp::Reply> select(int db) = 0;
};

std::string payload_version_hint(int rdb_version)
{
    return "the destination redis is older than the one that wrote the backup (rdb version " +
           std::to_string(rdb_version) + "): restore into the same or a newer version";
}

class ConnectionQueue final : public CommandQueue {
public:
    explicit ConnectionQueue(resp::Connection& conn) : m_conn(conn) {}
    const std::string& endpoint() const override { return m_conn.endpoint(); }
    std::size_t append(std::initializer_list<std::string_view> args) override { return m_conn.append(args); }
    Result<resp::Reply> select(int db) override
    {
        const std::string index = std::to_string(db);
        m_conn.append({"SELECT", index});
        if (auto st = m_conn.flush(); !st) {
            return std::unexpected(st.error());
        }
        return m_conn.read_reply();
    }
    Status drain(const std::vector<std::string>& labels, int rdb_version) override
    {
        if (auto st = m_conn.flush(); !st) {
            return st;
        }
        std::optional<Error> first;
        for (const auto& label : labels) {
            auto r = m_conn.read_reply();
            if (!r) {
                return std::unexpected(r.error());
            }
            if (r->is_error() && !first) {
                auto e = error_reply(*r, "restore", label + " on " + m_conn.endpoint()).error();
                if (r->text.find("payload version") != std::string::npos) {
                    e.hint = payload_version_hint(rdb_version);
                }
                first = std::move(e);
            }
        }
        if (first) {
            return std::unexpected(*first);
        }
        return {};
    }

private:
    resp::Connection& m_conn;
};

// The first line of redis-cli's output that is an error reply; empty when none is.
std::string first_error_line(const std::string& output)
{
    for (std::size_t pos = 0; pos < output.size();) {
        auto nl = output.find('\n', pos);
        std::string line = output.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? output.size() : nl + 1;
        if (looks_like_error_reply(line)) {
            return line;
        }
    }
    return {};
}

class PipeQueue final : public CommandQueue {
public:
    PipeQueue(runner::Runner& runner, const Endpoint& ep, Server& server)
        : m_runner(runner), m_ep(ep), m_server(server), m_what(server.endpoint())
    {
    }
    ~PipeQueue() override
    {
        if (m_proc) {
            m_proc->kill();
        }
        if (m_reader.joinable()) {
            m_reader.join();
        }
    }

    Status start()
    {
        auto cmd = redis_cli(m_ep, {"--pipe", "--pipe-timeout", "0"});
        cmd.with_stdin = true;
        auto proc = m_runner.start(cmd);
        if (!proc) {
            return wrap(proc.error(), "run redis-cli --pipe for " + m_what);
        }
        m_proc = std::move(*proc);
        // redis-cli prints error replies as they come: keep reading so it never blocks.
        m_reader = std::thread([this] {
            std::uint8_t buf[16384];
            for (;;) {
                auto n = m_proc->out().read(buf);
                if (!n || *n == 0) {
                    break;
                }
                if (m_output.size() < (1 << 20)) {
                    m_output.append(reinterpret_cast<const char*>(buf), *n);
                }
            }
        });
        return {};
    }

    const std::string& endpoint() const override { return m_what; }

    std::size_t append(std::initializer_list<std::string_view> args) override
    {
        m_out += "*" + std::to_string(args.size()) + "\r\n";
        for (auto a : args) {
            m_out += "$" + std::to_string(a.size()) + "\r\n";
            m_out.append(a);
            m_out += "\r\n";
        }
        return m_out.size();
    }

    Status drain(const std::vector<std::string>&, int rdb_version) override
    {
        m_rdb_version = rdb_version;
        if (m_out.empty()) {
            return {};
        }
        auto st = m_proc->in()->write(as_bytes(m_out));
        m_out.clear();
        if (!st) {
            return finish_with(st.error());
        }
        return {};
    }

    Status finish() override { return finish_with(std::nullopt); }

    // redis-cli --pipe reports errors only at its end: the running pipe is finished (its errors checked), the
    // SELECT tried on a connection of its own, and a new pipe started in that database.
    Result<resp::Reply> select(int db) override
    {
        if (auto st = finish(); !st) {
            return std::unexpected(st.error());
        }
        auto r = m_server.command({"SELECT", std::to_string(db)});
        if (!r) {
            // redis-cli may exit non-zero for an error reply: its message is then the refusal.
            if (r.error().kind == ErrorKind::transient || r.error().kind == ErrorKind::not_found) {
                return r;
            }
            return resp::Reply{.type = resp::Reply::Type::error, .text = r.error().message};
        }
        if (r->is_error()) {
            return r;
        }
        m_output.clear();
        if (auto st = start(); !st) {
            return std::unexpected(st.error());
        }
        append({"SELECT", std::to_string(db)});
        return r;
    }

private:
    Status finish_with(std::optional<Error> write_error)
    {
        if (!m_proc) {
            return write_error ? Status(std::unexpected(*write_error)) : Status();
        }
        (void)m_proc->in()->finish();
        auto status = m_proc->wait();
        if (m_reader.joinable()) {
            m_reader.join();
        }
        const std::string err = m_proc->error_output();
        m_proc.reset();
        if (!status) {
            return std::unexpected(status.error());
        }
        if (!status->ok()) {
            // Error replies come one per line before the summary: on stdout, or on stderr (of which only the
            // tail is kept, so its first line may be cut).
            std::string first = first_error_line(m_output);
            if (first.empty()) {
                first = first_error_line(err);
            }
            if (!first.empty()) {
                Error e{looks_like_error_reply(first) && first.starts_with("NOPERM") ? ErrorKind::auth
                                                                                     : ErrorKind::failed,
                        "restore into", m_what, first, ""};
                if (first.find("payload version") != std::string::npos) {
                    e.hint = payload_version_hint(m_rdb_version);
                }
                return std::unexpected(e);
            }
            return std::unexpected(cli_error(err, *status, m_what, "restore into"));
        }
        if (write_error) {
            return std::unexpected(*write_error);
        }
        return {};
    }

    runner::Runner& m_runner;
    Endpoint m_ep;
    Server& m_server;
    std::string m_what;
    std::unique_ptr<runner::Process> m_proc;
    std::thread m_reader;
    std::string m_out, m_output;
    int m_rdb_version = 0;
};

// 1234567 -> "1,234,567", for messages.
std::string count_text(std::int64_t n)
{
    std::string digits = std::to_string(n < 0 ? -n : n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) {
            out += ',';
        }
        out += digits[i];
    }
    return n < 0 ? "-" + out : out;
}

std::string keys_text(std::int64_t n)
{
    return count_text(n) + (n == 1 ? " key" : " keys");
}

// "db 0", "db 0 and db 5", "db 0, db 3 and db 5".
std::string dbs_text(const std::vector<int>& dbs)
{
    std::string out;
    for (std::size_t i = 0; i < dbs.size(); ++i) {
        if (i > 0) {
            out += i + 1 == dbs.size() ? " and " : ", ";
        }
        out += "db " + std::to_string(dbs[i]);
    }
    return out;
}

// The keys per database as "1,200 keys" and "db 0 and db 5"; an empty count when there are none.
std::pair<std::string, std::string> per_db_text(const std::map<int, std::int64_t>& per_db)
{
    std::int64_t total = 0;
    std::vector<int> dbs;
    for (const auto& [db, n] : per_db) {
        if (n > 0) {
            total += n;
            dbs.push_back(db);
        }
    }
    return total == 0 ? std::pair<std::string, std::string>{} : std::pair{keys_text(total), dbs_text(dbs)};
}

// "restored 1,200 keys into db 0 and db 5" or "no key was restored".
std::string restored_text(const std::map<int, std::int64_t>& restored)
{
    auto [keys, dbs] = per_db_text(restored);
    return keys.empty() ? std::string("no key was restored") : "restored " + keys + " into " + dbs;
}

// "1,200 keys sent to db 0 and db 5", for failures after which some keys sent may have been refused.
std::string sent_text(const std::map<int, std::int64_t>& sent)
{
    auto [keys, dbs] = per_db_text(sent);
    return keys.empty() ? std::string("no key sent") : keys + " sent to " + dbs;
}

// 6812345 -> "6.5 MiB (6,812,345 bytes)", for messages.
std::string bytes_text(std::int64_t n)
{
    char mib[32];
    std::snprintf(mib, sizeof mib, "%.1f MiB", static_cast<double>(n) / (1024.0 * 1024.0));
    return std::string(mib) + " (" + count_text(n) + " bytes)";
}

// A number from the manifest's details; nothing when absent or not a number.
std::optional<std::int64_t> detail_int(const RestoreOptions& options, const std::string& name)
{
    auto it = options.details.find(name);
    if (it == options.details.end()) {
        return std::nullopt;
    }
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || p != it->second.data() + it->second.size() || v < 0) {
        return std::nullopt;
    }
    return v;
}

// Refuses (or, with options.force, warns about) a destination whose maxmemory cannot hold what the backup's
// source held: the memory its keys took there (used_memory less the server's own start-up memory and what
// eviction does not count, as the manifest records them) on top of what the destination holds after the
// optional flush. Skipped, with a note, when the manifest does not record the source's memory or the
// destination does not say its limit.
Status check_memory(Server& server, const RestoreOptions& options)
{
    const std::string& ep = server.endpoint();
    auto used = detail_int(options, "used_memory");
    if (!used) {
        observe::info("the destination's maxmemory was not compared with the backup: its manifest does not record "
                      "the source's memory (a backup taken before dbkeep recorded it, or INFO was denied)",
                      {{"server", ep}});
        return {};
    }
    const std::int64_t keys_memory =
        std::max<std::int64_t>(0, *used - detail_int(options, "used_memory_startup").value_or(0) -
                                      detail_int(options, "mem_not_counted_for_evict").value_or(0));
    auto max_text = config_get(server, "maxmemory");
    auto memory = info_section(server, "memory");
    if (!max_text || !memory) {
        observe::info("the destination's maxmemory was not compared with the backup: " +
                          (!max_text ? max_text.error().message : memory.error().message),
                      {{"server", ep}});
        return {};
    }
    std::int64_t maxmemory = 0;
    std::from_chars(max_text->data(), max_text->data() + max_text->size(), maxmemory);
    if (maxmemory <= 0) {
        return {}; // no limit
    }
    const std::string policy = config_get(server, "maxmemory-policy").value_or("unknown");
    // What the destination holds that counts against maxmemory: after FLUSHALL, its start-up memory.
    const std::int64_t held =
        std::max<std::int64_t>(0, options.flush && info_int(*memory, "used_memory_startup") >= 0
                                      ? info_int(*memory, "used_memory_startup")
                                      : info_int(*memory, "used_memory") -
                                            std::max<std::int64_t>(0, info_int(*memory, "mem_not_counted_for_evict")));
    const std::int64_t needed = held + keys_memory;
    if (needed <= maxmemory) {
        return {};
    }
    const std::string consequence = policy == "noeviction" ? "it would refuse writes (OOM) part-way through the restore"
                                    : policy.starts_with("volatile")
                                        ? "it would evict keys with an expiry and then refuse writes (OOM) part-way"
                                        : "it would evict keys while they are restored";
    const std::string message = "the backup's keys took " + bytes_text(keys_memory) +
                                " of memory on its source (used_memory " + count_text(*used) +
                                "), the destination holds " + bytes_text(held) + " and has maxmemory " +
                                bytes_text(maxmemory) + " (maxmemory-policy " + policy + "): " + consequence;
    if (options.force) {
        observe::warn("restoring despite --force: " + message, {{"server", ep}});
        return {};
    }
    return fail(ErrorKind::config, "restore into", ep, message + "; nothing was written",
                "raise the destination's maxmemory to at least " + count_text(needed) +
                    " bytes (CONFIG SET maxmemory " + std::to_string(needed) +
                    ", and in its redis.conf), or add --force to restore anyway");
}

// "db20" -> 20; nothing for another name.
std::optional<int> db_index(const std::string& name)
{
    if (!name.starts_with("db") || name.size() < 3) {
        return std::nullopt;
    }
    int v = 0;
    auto [p, ec] = std::from_chars(name.data() + 2, name.data() + name.size(), v);
    if (ec != std::errc() || p != name.data() + name.size() || v < 0) {
        return std::nullopt;
    }
    return v;
}

// Whether a host name or address is this machine's loopback, where a server can connect back to dbkeep.
bool is_loopback(const std::string& host)
{
    return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

std::int64_t keyspace_total(const std::map<std::string, std::int64_t>& keyspace)
{
    std::int64_t n = 0;
    for (const auto& [db, keys] : keyspace) {
        n += keys;
    }
    return n;
}

Result<std::map<std::string, std::int64_t>> keyspace_of(Server& server)
{
    auto r = server.command({"INFO", "keyspace"});
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->is_error()) {
        auto e = error_reply(*r, "count the keys (INFO keyspace) of", server.endpoint()).error();
        if (r->text.starts_with("NOPERM")) { // a missing password (NOAUTH) keeps error_reply's hint
            e.hint = "the restore checks the destination's keys before and after: allow INFO to the user "
                     "(ACL SETUSER <user> +info)";
        }
        return std::unexpected(e);
    }
    return engine::parse_redis_keyspace(r->text);
}

// The INFO stats counters the restore watches: -1 when absent.
struct Counters {
    std::int64_t evicted = -1;
    std::int64_t expired = -1;
};

Result<Counters> counters_of(Server& server)
{
    auto stats = info_section(server, "stats");
    if (!stats) {
        return std::unexpected(stats.error());
    }
    return Counters{info_int(*stats, "evicted_keys"), info_int(*stats, "expired_keys")};
}

Status flush_all(Server& server)
{
    auto r = server.command({"FLUSHALL"});
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->is_error()) {
        return error_reply(*r, "flush", server.endpoint());
    }
    return {};
}

// Refuses an RDB version the destination's Redis cannot load.
Status check_rdb_version(int rdb_version, const std::string& dest_version, const std::string& where,
                         const std::string& endpoint)
{
    auto max = max_rdb_version_loaded_by(dest_version);
    if (!max || rdb_version <= *max) {
        return {};
    }
    const std::string oldest = oldest_redis_loading(rdb_version);
    return fail(ErrorKind::config, "restore into", endpoint,
                "the destination runs Redis " + dest_version + ", which loads rdb versions up to " +
                    std::to_string(*max) + ", and the backup is rdb version " + std::to_string(rdb_version) + " (" +
                    where + "); nothing was written",
                oldest.empty() ? "restore into a newer Redis, or write the file with --output"
                               : "restore into Redis " + oldest +
                                     " or newer, or write the file with --output and load it into such a server");
}

// SELECT's refusal as the error the restore stops with.
Error select_error(const resp::Reply& reply, int db, const std::string& done, const std::string& endpoint,
                   const std::string& databases)
{
    Error e = error_reply(reply, "restore into", endpoint).error();
    e.message = done + "; SELECT " + std::to_string(db) + " failed: " + reply.text +
                "; nothing was written into any other database";
    if (reply.text.starts_with("NOPERM")) { // a missing password (NOAUTH) keeps error_reply's hint
        e.hint = "allow SELECT to the restore user (ACL SETUSER <user> +select)";
    } else if (reply.text.find("out of range") != std::string::npos) {
        e.hint = (databases.empty() ? std::string("the destination has fewer databases than the backup uses")
                                    : "the destination has " + databases + " databases") +
                 ": set `databases " + std::to_string(db + 1) +
                 "` (or more) in its configuration and restart it, then restore again";
    }
    return e;
}

struct Sent {
    std::map<int, std::int64_t> restored;    // keys per database whose RESTORE the server took
    std::map<int, std::int64_t> near_expiry; // of those, keys that were due to expire within a minute
};

// Which of a key's LRU/LFU facts its RESTORE carries: Redis 7 refuses IDLETIME and FREQ together ("syntax
// error") and keeps only the one its maxmemory-policy tracks (FREQ under an LFU policy, IDLETIME otherwise), so
// the one the destination keeps is sent; when its policy is unknown, whichever the RDB has (FREQ first).
enum class Access { none, idle, freq };
Access access_to_send(const rdb::Entry& e, std::optional<bool> dest_lfu)
{
    const bool idle = e.idle_s >= 0, freq = e.freq >= 0;
    if (idle && freq && dest_lfu) {
        return *dest_lfu ? Access::freq : Access::idle;
    }
    return freq ? Access::freq : idle ? Access::idle : Access::none;
}

// dest_lfu: whether the destination's maxmemory-policy is an LFU one; nothing when unknown.
Result<Sent> restore_into(CommandQueue& conn, stream::Source& in, std::vector<std::uint8_t> prefix,
                          const std::string& databases, std::optional<bool> dest_lfu)
{
    const std::string ep = conn.endpoint();
    auto clock_ms = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
    auto now_ms = clock_ms();
    int current_db = 0;
    int rdb_version = 0;
    Sent sent;
    std::int64_t batch_keys = 0, batch_near = 0, keys = 0, expired = 0, functions = 0;
    std::vector<std::string> labels; // what each pending reply answers, for messages
    std::size_t queued = 0;
    auto last_report = std::chrono::steady_clock::now();
    rdb::Parser* self = nullptr; // the parser below, for the file's rdb version inside its callback

    auto drain = [&]() -> Status {
        auto st = conn.drain(labels, rdb_version);
        labels.clear();
        queued = 0;
        now_ms = clock_ms();
        if (!st) {
            auto e = st.error();
            const std::string done = restored_text(sent.restored);
            e.message += "; before this batch of commands, " + done +
                         (batch_keys > 0 ? "; this batch wrote only into db " + std::to_string(current_db) : "");
            return std::unexpected(e);
        }
        sent.restored[current_db] += batch_keys;
        sent.near_expiry[current_db] += batch_near;
        batch_keys = batch_near = 0;
        return st;
    };
    auto maybe_drain = [&]() -> Status {
        if (labels.size() >= k_batch_commands || queued >= k_batch_bytes) {
            return drain();
        }
        return {};
    };

    rdb::Parser parser(
        rdb::ParserOptions{.capture_values = true},
        [&](const rdb::Entry& e) -> Status {
            rdb_version = self->summary().rdb_version;
            if (e.expire_ms >= 0 && e.expire_ms <= now_ms) {
                ++expired;
                return {};
            }
            if (e.db != current_db) {
                // Keys of the new database go out only once the server has said yes to SELECT.
                if (auto st = drain(); !st) {
                    return st;
                }
                auto r = conn.select(e.db);
                if (!r) {
                    auto err = r.error();
                    err.message += "; before switching to db " + std::to_string(e.db) +
                                   ", every key sent went into its own database (" + sent_text(sent.restored) + ")";
                    return std::unexpected(err);
                }
                if (r->is_error()) {
                    return std::unexpected(select_error(*r, e.db, restored_text(sent.restored), ep, databases));
                }
                current_db = e.db;
            }
            auto payload = rdb::dump_payload(e.type, e.value, rdb_version);
            const std::string ttl = std::to_string(e.expire_ms >= 0 ? e.expire_ms : 0);
            switch (access_to_send(e, dest_lfu)) {
            case Access::freq:
                queued =
                    conn.append({"RESTORE", e.key, ttl, payload, "REPLACE", "ABSTTL", "FREQ", std::to_string(e.freq)});
                break;
            case Access::idle:
                queued = conn.append(
                    {"RESTORE", e.key, ttl, payload, "REPLACE", "ABSTTL", "IDLETIME", std::to_string(e.idle_s)});
                break;
            case Access::none: queued = conn.append({"RESTORE", e.key, ttl, payload, "REPLACE", "ABSTTL"}); break;
            }
            labels.push_back("key '" + std::string(e.key.substr(0, 200)) + "'");
            ++batch_keys;
            ++keys;
            if (e.expire_ms >= 0 && e.expire_ms <= now_ms + 60'000) {
                ++batch_near;
            }
            if (auto now = std::chrono::steady_clock::now(); now - last_report >= std::chrono::seconds(10)) {
                last_report = now;
                observe::info("restoring redis keys", {{"server", ep}, {"keys", std::to_string(keys)}});
            }
            return maybe_drain();
        },
        [&](std::string_view code) -> Status {
            queued = conn.append({"FUNCTION", "LOAD", "REPLACE", code});
            labels.push_back("function library");
            ++functions;
            return maybe_drain();
        });
    self = &parser;

    auto feed = [&](Bytes data) -> Status {
        auto used = parser.feed(data);
        if (!used) {
            return std::unexpected(used.error());
        }
        if (*used != data.size()) {
            return fail(ErrorKind::corruption, "restore into", ep, "data follows the end of the rdb");
        }
        return {};
    };
    if (auto st = feed(Bytes(prefix.data(), prefix.size())); !st) {
        return std::unexpected(st.error());
    }
    std::vector<std::uint8_t> buf(k_read_size);
    for (;;) {
        if (cancel::requested()) {
            return fail_cancelled("restore into", ep);
        }
        auto n = in.read(buf);
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            break;
        }
        if (auto st = feed(Bytes(buf.data(), *n)); !st) {
            return std::unexpected(st.error());
        }
    }
    if (auto st = parser.finish(); !st) {
        return std::unexpected(st.error());
    }
    if (auto st = drain(); !st) {
        return std::unexpected(st.error());
    }
    if (auto st = conn.finish(); !st) {
        auto e = st.error();
        e.message += "; every key sent went into its own database (" + sent_text(sent.restored) + ")";
        return std::unexpected(e);
    }
    observe::info("redis keys sent", {{"server", ep},
                                      {"keys", std::to_string(keys)},
                                      {"skipped_expired", std::to_string(expired)},
                                      {"function_libraries", std::to_string(functions)}});
    return sent;
}

// Reads the RDB's header ("REDIS0011") from in, before anything is written; returns the bytes read (to be
// parsed first) and the version.
Result<std::pair<std::vector<std::uint8_t>, int>> read_header(stream::Source& in, const std::string& endpoint)
{
    std::vector<std::uint8_t> head;
    std::vector<std::uint8_t> buf(k_read_size);
    while (head.size() < 9) {
        auto n = in.read(buf);
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            break;
        }
        head.insert(head.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
    }
    int version = 0;
    bool ok = head.size() >= 9 && std::string_view(reinterpret_cast<const char*>(head.data()), 5) == "REDIS";
    for (std::size_t i = 5; ok && i < 9; ++i) {
        ok = head[i] >= '0' && head[i] <= '9';
        version = version * 10 + (head[i] - '0');
    }
    if (!ok) {
        return fail(ErrorKind::corruption, "restore into", endpoint,
                    "the backup is not an rdb file (it does not start with REDIS and a version); nothing was written");
    }
    return std::pair{std::move(head), version};
}

// What the destination can take, asked before anything is written.
struct Destination {
    std::string version;     // "7.0.15"; empty when INFO server did not say
    std::string databases;   // CONFIG GET databases; empty when not allowed
    std::optional<bool> lfu; // whether its maxmemory-policy is an LFU one; nothing when not allowed
};

Result<Destination> check_destination(Server& server, const RestoreOptions& options)
{
    const std::string& ep = server.endpoint();
    Destination d;
    auto info = info_section(server, "server");
    if (!info) {
        auto e = info.error();
        if (e.message.find("NOPERM") != std::string::npos) {
            e.hint = "the restore checks the destination's version and keys first: allow INFO to the user "
                     "(ACL SETUSER <user> +info)";
        }
        return std::unexpected(e);
    }
    d.version = (*info)["redis_version"];
    if (auto databases = config_get(server, "databases"); databases) {
        d.databases = *databases;
    }
    if (auto policy = config_get(server, "maxmemory-policy"); policy) {
        d.lfu = policy->find("lfu") != std::string::npos;
    }
    if (auto it = options.details.find("rdb_version"); it != options.details.end()) {
        int v = 0;
        auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
        if (ec == std::errc() && p == it->second.data() + it->second.size()) {
            auto src = options.details.find("redis_version");
            if (auto st = check_rdb_version(v, d.version,
                                            "per its manifest" + (src == options.details.end()
                                                                      ? std::string()
                                                                      : ", written by Redis " + src->second),
                                            ep);
                !st) {
                return std::unexpected(st.error());
            }
        }
    }
    // Every database the backup has keys in must be one this user may select here.
    std::vector<int> dbs;
    for (const auto& [name, keys] : options.expected_stats) {
        if (auto db = db_index(name); db && keys > 0 && *db != 0) {
            dbs.push_back(*db);
        }
    }
    for (int db : dbs) {
        auto r = server.command({"SELECT", std::to_string(db)});
        if (!r) {
            return std::unexpected(r.error());
        }
        if (r->is_error()) {
            auto e = select_error(*r, db, "the backup has keys in " + dbs_text(dbs), ep, d.databases);
            e.message = "the backup has keys in " + dbs_text(dbs) + " and SELECT " + std::to_string(db) +
                        " failed: " + r->text + "; nothing was written";
            return std::unexpected(e);
        }
    }
    if (!dbs.empty()) {
        auto r = server.command({"SELECT", "0"});
        if (!r) {
            return std::unexpected(r.error());
        }
        if (r->is_error()) {
            return std::unexpected(error_reply(*r, "restore into", ep).error());
        }
    }
    if (!options.flush && !options.merge) {
        auto keyspace = keyspace_of(server);
        if (!keyspace) {
            return std::unexpected(keyspace.error());
        }
        if (auto total = keyspace_total(*keyspace); total > 0) {
            std::string where;
            for (const auto& [db, keys] : *keyspace) {
                where += (where.empty() ? "" : ", ") + db + ": " + count_text(keys);
            }
            return fail(ErrorKind::config, "restore into", ep,
                        "the destination is not empty: it holds " + keys_text(total) + " (" + where +
                            "); nothing was written",
                        "add --merge to keep its keys (the backup's keys replace those of the same name), or "
                        "--flush --yes to delete every key first");
        }
    }
    if (auto st = check_memory(server, options); !st) {
        return std::unexpected(st.error());
    }
    return d;
}

// After the restore: every key sent is there, and the server evicted none.
Status check_restored(Server& server, const Sent& sent, const Counters& before, bool merge, const std::string& done)
{
    const std::string& ep = server.endpoint();
    auto after = counters_of(server);
    if (!after) {
        return std::unexpected(after.error());
    }
    auto keyspace = keyspace_of(server);
    if (!keyspace) {
        return std::unexpected(keyspace.error());
    }
    const std::int64_t expired =
        before.expired >= 0 && after->expired >= before.expired ? after->expired - before.expired : 0;
    std::string missing;
    std::int64_t missing_total = 0;
    for (const auto& [db, n] : sent.restored) {
        if (n == 0) {
            continue;
        }
        auto it = keyspace->find("db" + std::to_string(db));
        const std::int64_t have = it == keyspace->end() ? 0 : it->second;
        auto near = sent.near_expiry.find(db);
        const std::int64_t may_expire = expired + (near == sent.near_expiry.end() ? 0 : near->second);
        if (have + may_expire < n) {
            missing += (missing.empty() ? "" : ", ") + std::string("db ") + std::to_string(db) + " holds " +
                       count_text(have) + " of the " + keys_text(n) + " restored into it";
            missing_total += n - have;
        }
    }
    const std::int64_t evicted =
        before.evicted >= 0 && after->evicted > before.evicted ? after->evicted - before.evicted : 0;
    if (evicted > 0) {
        std::string limit;
        if (auto m = config_get(server, "maxmemory"); m) {
            limit = " (maxmemory " + *m;
            if (auto p = config_get(server, "maxmemory-policy"); p) {
                limit += ", maxmemory-policy " + *p;
            }
            limit += ")";
        }
        return fail(ErrorKind::failed, "restore into", ep,
                    done + ", but the destination evicted " + keys_text(evicted) + " meanwhile" + limit +
                        (missing.empty() ? std::string() : ": " + missing) + (merge ? " (its own keys included)" : ""),
                    "give the destination enough memory (maxmemory) for the backup, or set maxmemory-policy "
                    "noeviction so a full server refuses instead of evicting, then restore again with --flush --yes");
    }
    if (!missing.empty()) {
        return fail(ErrorKind::failed, "restore into", ep,
                    done + ", but " + keys_text(missing_total) + " are missing: " + missing,
                    "something deleted keys while the restore ran (another client, FLUSHALL): restore again with "
                    "--flush --yes when nothing else writes to the destination");
    }
    return {};
}

} // namespace

std::optional<int> max_rdb_version_loaded_by(std::string_view redis_version)
{
    int major = 0, minor = 0;
    const char* p = redis_version.data();
    const char* end = p + redis_version.size();
    auto r1 = std::from_chars(p, end, major);
    if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != '.') {
        return std::nullopt;
    }
    auto r2 = std::from_chars(r1.ptr + 1, end, minor);
    if (r2.ec != std::errc()) {
        return std::nullopt;
    }
    const int v = major * 100 + minor;
    // rdb.h's RDB_VERSION by the release that raised it, newest first.
    static constexpr std::pair<int, int> k_history[] = {{806, 13}, {704, 12}, {702, 11}, {700, 10}, {500, 9},
                                                        {400, 8},  {302, 7},  {206, 6},  {204, 5}};
    if (v > k_history[0].first) {
        return std::nullopt; // newer than the history we know: its limit is unknown
    }
    for (const auto& [since, rdb] : k_history) {
        if (v >= since) {
            return rdb;
        }
    }
    return std::nullopt;
}

std::string oldest_redis_loading(int rdb_version)
{
    static constexpr std::pair<int, const char*> k_oldest[] = {
        {5, "2.4"}, {6, "2.6"}, {7, "3.2"}, {8, "4.0"}, {9, "5.0"}, {10, "7.0"}, {11, "7.2"}, {12, "7.4"}, {13, "8.6"}};
    for (const auto& [rdb, version] : k_oldest) {
        if (rdb == rdb_version) {
            return version;
        }
    }
    return {};
}

Status restore_rdb(runner::Runner& runner, const Endpoint& ep, stream::Source& in, const RestoreOptions& options)
{
    auto session = open_session(runner, ep);
    if (!session) {
        return std::unexpected(session.error());
    }
    Server& server = *session->server;
    auto dest = check_destination(server, options);
    if (!dest) {
        return std::unexpected(dest.error());
    }
    auto header = read_header(in, server.endpoint());
    if (!header) {
        return std::unexpected(header.error());
    }
    if (auto st = check_rdb_version(header->second, dest->version, "per the file's header", server.endpoint()); !st) {
        return st;
    }
    if (options.flush && !options.merge && session->connection && is_loopback(ep.host)) {
        // The whole destination is to be replaced and it runs here: let it load the RDB itself.
        auto before = counters_of(server);
        if (!before) {
            return std::unexpected(before.error());
        }
        auto loaded = load_as_master(server, in, header->first,
                                     {.listen_host = ep.host == "::1" ? "::1" : "127.0.0.1",
                                      .reconnect = [&ep] { return open_connection(ep); }});
        if (!loaded) {
            return std::unexpected(loaded.error());
        }
        if (*loaded == ReplicaLoad::loaded) {
            // The payload passed its SHA-256 before its end was sent, so the manifest's key counts are its own.
            Sent sent;
            for (const auto& [name, keys] : options.expected_stats) {
                if (auto db = db_index(name); db && keys > 0) {
                    sent.restored[*db] = keys;
                }
            }
            const std::string done = restored_text(sent.restored) + " by full synchronisation";
            if (auto st = check_restored(server, sent, *before, false, done); !st) {
                return st;
            }
            observe::info("redis restore finished", {{"server", server.endpoint()}, {"restored", done}});
            return {};
        }
    }
    if (options.flush) {
        if (auto st = flush_all(server); !st) {
            return st;
        }
    }
    auto before = counters_of(server);
    if (!before) {
        return std::unexpected(before.error());
    }
    Result<Sent> sent = Sent{};
    if (!session->connection) {
        PipeQueue queue(runner, ep, server);
        if (auto st = queue.start(); !st) {
            return st;
        }
        sent = restore_into(queue, in, std::move(header->first), dest->databases, dest->lfu);
    } else {
        ConnectionQueue queue(*session->connection);
        sent = restore_into(queue, in, std::move(header->first), dest->databases, dest->lfu);
    }
    if (!sent) {
        return std::unexpected(sent.error());
    }
    const std::string done = restored_text(sent->restored);
    if (auto st = check_restored(server, *sent, *before, options.merge, done); !st) {
        return st;
    }
    observe::info("redis restore finished", {{"server", server.endpoint()}, {"restored", done}});
    return {};
}

} // namespace dbkeep::engine::redis
