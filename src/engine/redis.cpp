#include "engine/redis.hpp"

#include "check/finding.hpp"
#include "config/config.hpp"
#include "config/url.hpp"
#include "core/cancel.hpp"
#include "engine/rdb.hpp"
#include "engine/resp.hpp"
#include "observe/log.hpp"
#include "runner/runner.hpp"

#include <charconv>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

namespace dbkeep::engine {
namespace {

constexpr std::size_t k_chunk = 1 << 20;
constexpr std::size_t k_eof_mark_size = 40;
constexpr std::size_t k_batch_commands = 1000;
constexpr std::size_t k_batch_bytes = 16u << 20;

struct Endpoint {
    std::string host;
    int port = 6379;
    std::string username;
    Secret password;
};

Result<std::unique_ptr<resp::Connection>> open_connection(const Endpoint& ep)
{
    resp::ConnectOptions options;
    options.host = ep.host;
    options.port = ep.port;
    auto conn = resp::Connection::connect(options);
    if (!conn) {
        return conn;
    }
    if (auto st = (*conn)->auth(ep.username, ep.password); !st) {
        return std::unexpected(st.error());
    }
    return conn;
}

Result<Endpoint> endpoint_from_url(const std::string& url, const std::string& password, const std::string& what)
{
    auto u = config::parse_url(url);
    if (!u || (u->scheme != "redis") || u->host.empty()) {
        return fail(ErrorKind::config, what, config::redact_url(url),
                    "expected a url like redis://[user:password@]host:port");
    }
    Endpoint ep;
    ep.host = u->host;
    ep.port = u->port > 0 ? u->port : 6379;
    ep.username = u->user;
    ep.password = Secret(!u->password.empty() ? u->password : password);
    return ep;
}

Status error_reply(const resp::Reply& r, const std::string& operation, const std::string& object)
{
    if (r.text.starts_with("NOPERM") || r.text.starts_with("NOAUTH") || r.text.starts_with("WRONGPASS")) {
        return fail(ErrorKind::auth, operation, object, r.text, "check the user's password and ACL permissions");
    }
    return fail(ErrorKind::failed, operation, object, r.text);
}

Result<std::map<std::string, std::string>> info_section(resp::Connection& conn, const char* section)
{
    auto r = conn.command({"INFO", section});
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->is_error()) {
        return std::unexpected(error_reply(*r, std::string("run INFO ") + section + " on", conn.endpoint()).error());
    }
    return parse_redis_info(r->text);
}

Result<std::string> config_get(resp::Connection& conn, const char* name)
{
    auto r = conn.command({"CONFIG", "GET", name});
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->is_error()) {
        return std::unexpected(error_reply(*r, std::string("run CONFIG GET ") + name + " on", conn.endpoint()).error());
    }
    if (r->type != resp::Reply::Type::array || r->elements.size() < 2) {
        return fail(ErrorKind::failed, std::string("run CONFIG GET ") + name + " on", conn.endpoint(),
                    "the server returned no value");
    }
    return r->elements[1].text;
}

// Feeds bytes to the RDB parser and to the sink, in step.
class PayloadPump {
public:
    explicit PayloadPump(stream::Sink& out) : m_out(out) {}

    // Returns how many bytes of data belonged to the RDB (the rest follows its end).
    Result<std::size_t> push(Bytes data)
    {
        auto consumed = m_parser.feed(data);
        if (!consumed) {
            return consumed;
        }
        if (*consumed > 0) {
            if (auto st = m_out.write(data.first(*consumed)); !st) {
                return std::unexpected(st.error());
            }
            m_bytes += *consumed;
        }
        return consumed;
    }

    rdb::Parser& parser() { return m_parser; }
    std::uint64_t bytes() const { return m_bytes; }

private:
    stream::Sink& m_out;
    rdb::Parser m_parser;
    std::uint64_t m_bytes = 0;
};

void fill_info(DumpInfo& info, const rdb::Summary& s, std::uint64_t bytes)
{
    info.details["rdb_version"] = std::to_string(s.rdb_version);
    if (auto it = s.aux.find("redis-ver"); it != s.aux.end()) {
        info.details["redis_version"] = it->second;
        if (info.server_version.empty()) {
            info.server_version = it->second;
        }
    }
    info.details["rdb_bytes"] = std::to_string(bytes);
    info.details["keys_with_expiry"] = std::to_string(s.keys_with_expiry);
    info.details["rdb_checksum"] = s.checksum_verified ? "verified" : "disabled by the server";
    if (s.functions > 0) {
        info.details["function_libraries"] = std::to_string(s.functions);
    }
    for (const auto& [db, keys] : s.keys_per_db) {
        info.stats["db" + std::to_string(db)] = keys;
    }
}

// An INFO field as a number; -1 when absent or not a number.
std::int64_t info_int(const std::map<std::string, std::string>& info, const std::string& name)
{
    auto it = info.find(name);
    if (it == info.end()) {
        return -1;
    }
    std::int64_t v = -1;
    auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    return ec == std::errc() ? v : -1;
}

std::string strip_newlines(std::string line)
{
    auto first = line.find_first_not_of('\n');
    return first == std::string::npos ? std::string() : line.substr(first);
}

class RedisEngine final : public Engine {
public:
    RedisEngine(const config::TargetConfig& target, runner::Runner& runner) : m_target(target), m_runner(runner)
    {
        const auto& r = target.redis;
        m_endpoint = Endpoint{r.host, r.port, r.username, r.password};
    }

    std::string format() const override { return "rdb"; }

    Result<DumpInfo> dump(stream::Sink& out) override
    {
        auto conn = open_connection(m_endpoint);
        if (!conn) {
            return std::unexpected(conn.error());
        }
        DumpInfo info;
        // INFO may be denied to a narrow backup user: the version then comes from the RDB's aux fields.
        if (auto server = info_section(**conn, "server"); server) {
            info.server_version = (*server)["redis_version"];
        }
        info.tool_version = DBKEEP_VERSION;
        Status st;
        if (m_target.redis.mode == "bgsave") {
            info.tool = "redis-bgsave";
            st = dump_bgsave(**conn, out, info);
        } else {
            info.tool = "redis-replication";
            st = dump_replication(**conn, out, info);
        }
        if (!st) {
            return std::unexpected(st.error());
        }
        return info;
    }

    Status restore(stream::Source& in, const RestoreOptions& options) override
    {
        auto ep = endpoint_from_url(options.to_url, options.password, "restore " + m_target.name + " to");
        if (!ep) {
            return std::unexpected(ep.error());
        }
        auto conn = open_connection(*ep);
        if (!conn) {
            return std::unexpected(conn.error());
        }
        return restore_into(**conn, in, options.flush);
    }

    Result<std::map<std::string, std::int64_t>> stats(const std::string& url, const std::string& password) override
    {
        auto ep = endpoint_from_url(url, password, "count keys of");
        if (!ep) {
            return std::unexpected(ep.error());
        }
        auto conn = open_connection(*ep);
        if (!conn) {
            return std::unexpected(conn.error());
        }
        auto r = (*conn)->command({"INFO", "keyspace"});
        if (!r) {
            return std::unexpected(r.error());
        }
        if (r->is_error()) {
            return std::unexpected(error_reply(*r, "run INFO keyspace on", (*conn)->endpoint()).error());
        }
        return parse_redis_keyspace(r->text);
    }

    std::vector<check::Finding> probe() override
    {
        std::vector<check::Finding> out;
        const std::string where = m_endpoint.host + ":" + std::to_string(m_endpoint.port);
        auto conn = open_connection(m_endpoint);
        if (!conn) {
            const auto& e = conn.error();
            out.push_back(check::failed("redis.connect", e.message,
                                        e.kind == ErrorKind::auth
                                            ? "check the username and password of the target"
                                            : "check host and port, that redis is running, and firewalls"));
            return out;
        }
        auto server = info_section(**conn, "server");
        out.push_back(check::pass("redis.connect", "connected to Redis " +
                                                       (server ? (*server)["redis_version"] : std::string("?")) +
                                                       " at " + where));
        if (m_target.redis.mode == "bgsave") {
            auto dir = config_get(**conn, "dir");
            if (!dir) {
                out.push_back(check::failed("redis.bgsave", "cannot read the rdb location: " + dir.error().message,
                                            "allow CONFIG GET and BGSAVE for the user, or use mode: replication"));
            } else {
                out.push_back(check::pass("redis.bgsave", "rdb files are written to " + *dir));
            }
            return out;
        }
        // REPLCONF only records a capability on this connection; PSYNC itself cannot be tried without a sync,
        // so its permission is checked with ACL DRYRUN where the user may run it.
        auto r = (*conn)->command({"REPLCONF", "capa", "eof"});
        const char* remedy = "ACL SETUSER <user> +psync +replconf, or set 'mode: bgsave' on the target";
        if (!r || r->is_error()) {
            out.push_back(
                check::failed("redis.replication", "REPLCONF refused: " + (r ? r->text : r.error().message), remedy));
            return out;
        }
        auto who = (*conn)->command({"ACL", "WHOAMI"});
        std::string user = who && !who->is_error() ? who->text : "default";
        auto dry = (*conn)->command({"ACL", "DRYRUN", user, "PSYNC", "?", "-1"});
        if (dry && !dry->is_error() && dry->text == "OK") {
            out.push_back(check::pass("redis.replication", "user " + user + " may run REPLCONF and PSYNC"));
        } else if (dry && !dry->is_error()) {
            out.push_back(check::failed("redis.replication", dry->text, remedy));
        } else {
            out.push_back(check::warn("redis.replication",
                                      "REPLCONF allowed; PSYNC permission could not be checked (ACL DRYRUN denied)",
                                      "run a backup to confirm, or grant +psync to the user"));
        }
        return out;
    }

private:
    Status dump_replication(resp::Connection& conn, stream::Sink& out, DumpInfo& info)
    {
        const std::string& ep = conn.endpoint();
        const char* hint = "grant the user replication rights (ACL SETUSER <user> +psync +replconf), or set "
                           "'mode: bgsave' on the target";
        auto r = conn.command({"REPLCONF", "capa", "eof", "capa", "psync2"});
        if (!r) {
            return std::unexpected(r.error());
        }
        if (r->is_error()) {
            auto e = error_reply(*r, "start replication from", ep).error();
            e.hint = hint;
            return std::unexpected(e);
        }
        conn.append({"PSYNC", "?", "-1"});
        if (auto st = conn.flush(); !st) {
            return st;
        }
        auto line = conn.read_line();
        if (!line) {
            return std::unexpected(line.error());
        }
        *line = strip_newlines(*line);
        if (line->starts_with("-")) {
            auto e = error_reply(resp::Reply{.type = resp::Reply::Type::error, .text = line->substr(1)},
                                 "start replication (PSYNC) from", ep)
                         .error();
            e.hint = hint;
            return std::unexpected(e);
        }
        if (!line->starts_with("+FULLRESYNC")) {
            return fail(ErrorKind::failed, "start replication (PSYNC) from", ep,
                        "unexpected answer '" + line->substr(0, 80) + "'");
        }
        // Before the payload the master may send bare newlines as keepalives while it prepares the RDB.
        auto header = conn.read_line();
        if (!header) {
            return std::unexpected(header.error());
        }
        *header = strip_newlines(*header);
        if (!header->starts_with("$")) {
            return fail(ErrorKind::failed, "read replication payload from", ep,
                        "unexpected payload header '" + header->substr(0, 80) + "'");
        }
        PayloadPump pump(out);
        std::vector<std::uint8_t> buf(k_chunk);
        info.details["replication_payload"] = header->starts_with("$EOF:") ? "diskless" : "disk";
        if (header->starts_with("$EOF:")) {
            // Diskless: the RDB is followed by a 40-byte random mark instead of being announced by length.
            std::string mark = header->substr(5);
            if (mark.size() != k_eof_mark_size) {
                return fail(ErrorKind::failed, "read replication payload from", ep, "invalid end-of-payload mark");
            }
            std::string tail;
            while (tail.size() < k_eof_mark_size) {
                auto n = conn.read_some(buf);
                if (!n) {
                    return std::unexpected(n.error());
                }
                if (*n == 0) {
                    return fail(ErrorKind::transient, "read replication payload from", ep,
                                "the server closed the connection before the end of the payload");
                }
                Bytes chunk(buf.data(), *n);
                if (!pump.parser().done()) {
                    auto used = pump.push(chunk);
                    if (!used) {
                        return wrap(used.error(), "read replication payload from " + ep);
                    }
                    chunk = chunk.subspan(*used);
                }
                tail.append(as_chars(chunk));
            }
            if (tail.compare(0, k_eof_mark_size, mark) != 0) {
                return fail(ErrorKind::corruption, "read replication payload from", ep,
                            "the payload does not end with the announced mark");
            }
        } else {
            std::uint64_t left = 0;
            try {
                left = std::stoull(header->substr(1));
            } catch (...) {
                return fail(ErrorKind::failed, "read replication payload from", ep, "invalid payload length");
            }
            while (left > 0) {
                auto n = conn.read_some(MutableBytes(buf.data(), std::min<std::uint64_t>(left, buf.size())));
                if (!n) {
                    return std::unexpected(n.error());
                }
                if (*n == 0) {
                    return fail(ErrorKind::transient, "read replication payload from", ep,
                                "the server closed the connection before the end of the payload");
                }
                auto used = pump.push(Bytes(buf.data(), *n));
                if (!used) {
                    return wrap(used.error(), "read replication payload from " + ep);
                }
                if (*used != *n) {
                    return fail(ErrorKind::corruption, "read replication payload from", ep,
                                "data follows the end of the rdb");
                }
                left -= *n;
            }
        }
        if (auto st = pump.parser().finish(); !st) {
            return wrap(st.error(), "read replication payload from " + ep);
        }
        fill_info(info, pump.parser().summary(), pump.bytes());
        return {};
    }

    Status wait_for_bgsave(resp::Connection& conn, std::int64_t saves_before, std::int64_t lastsave_before,
                           bool have_saves)
    {
        for (;;) {
            if (cancel::requested()) {
                return fail(ErrorKind::cancelled, "wait for BGSAVE on", conn.endpoint(), "cancelled by signal");
            }
            auto p = info_section(conn, "persistence");
            if (!p) {
                return std::unexpected(p.error());
            }
            if ((*p)["rdb_bgsave_in_progress"] == "0") {
                bool finished = false;
                if (have_saves) {
                    finished = info_int(*p, "rdb_saves") > saves_before;
                } else {
                    finished = info_int(*p, "rdb_last_save_time") != lastsave_before;
                }
                if (finished || (*p)["rdb_last_bgsave_status"] != "ok") {
                    if ((*p)["rdb_last_bgsave_status"] != "ok") {
                        return fail(ErrorKind::failed, "run BGSAVE on", conn.endpoint(), "the background save failed",
                                    "see the redis log (disk full? permissions of 'dir'?)");
                    }
                    return {};
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }

    Status dump_bgsave(resp::Connection& conn, stream::Sink& out, DumpInfo& info)
    {
        const std::string& ep = conn.endpoint();
        for (int attempt = 0;; ++attempt) {
            auto before = info_section(conn, "persistence");
            if (!before) {
                return std::unexpected(before.error());
            }
            bool have_saves = before->contains("rdb_saves");
            std::int64_t saves = info_int(*before, "rdb_saves");
            std::int64_t lastsave = info_int(*before, "rdb_last_save_time");
            auto r = conn.command({"BGSAVE"});
            if (!r) {
                return std::unexpected(r.error());
            }
            if (r->is_error()) {
                if (r->text.find("in progress") != std::string::npos && attempt < 100) {
                    // Another save runs: wait for it, then ask for ours so the file is not older than now.
                    if (auto st = wait_for_bgsave(conn, saves, lastsave, have_saves); !st) {
                        return st;
                    }
                    continue;
                }
                return error_reply(*r, "run BGSAVE on", ep);
            }
            if (auto st = wait_for_bgsave(conn, saves, lastsave, have_saves); !st) {
                return st;
            }
            break;
        }
        auto dir = config_get(conn, "dir");
        if (!dir) {
            return wrap(dir.error(), "find the rdb file (set 'mode: replication' if CONFIG is disabled)");
        }
        auto file = config_get(conn, "dbfilename");
        if (!file) {
            return std::unexpected(file.error());
        }
        std::string path = *dir + "/" + *file;
        observe::debug("reading rdb file", {{"path", path}, {"runner", m_runner.describe()}});
        auto proc = m_runner.start(runner::Command{.argv = {"cat", path}});
        if (!proc) {
            return std::unexpected(proc.error());
        }
        PayloadPump pump(out);
        std::vector<std::uint8_t> buf(k_chunk);
        for (;;) {
            auto n = (*proc)->out().read(buf);
            if (!n) {
                (*proc)->kill();
                return std::unexpected(n.error());
            }
            if (*n == 0) {
                break;
            }
            auto used = pump.push(Bytes(buf.data(), *n));
            if (!used) {
                (*proc)->kill();
                return wrap(used.error(), "read " + path);
            }
            if (*used != *n) {
                (*proc)->kill();
                return fail(ErrorKind::corruption, "read", path, "data follows the end of the rdb");
            }
        }
        auto status = (*proc)->wait();
        if (!status) {
            return std::unexpected(status.error());
        }
        if (!status->ok()) {
            return fail(ErrorKind::failed, "read rdb file", path,
                        "cat " + status->describe() + ": " + (*proc)->error_output().substr(0, 500),
                        "the rdb file must be readable where the target's runner runs");
        }
        if (auto st = pump.parser().finish(); !st) {
            return wrap(st.error(), "read " + path);
        }
        fill_info(info, pump.parser().summary(), pump.bytes());
        info.details["rdb_path"] = path;
        return {};
    }

    Status restore_into(resp::Connection& conn, stream::Source& in, bool flush)
    {
        const std::string ep = conn.endpoint();
        if (flush) {
            auto r = conn.command({"FLUSHALL"});
            if (!r) {
                return std::unexpected(r.error());
            }
            if (r->is_error()) {
                return error_reply(*r, "flush", ep);
            }
        }
        const auto now_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        int current_db = 0;
        int rdb_version = 0;
        std::int64_t restored = 0, expired = 0, functions = 0;
        std::vector<std::string> labels; // what each pending reply answers, for messages
        std::size_t queued = 0;
        auto last_report = std::chrono::steady_clock::now();
        rdb::Parser* self = nullptr; // the parser below, for the file's rdb version inside its callback

        auto drain = [&]() -> Status {
            if (auto st = conn.flush(); !st) {
                return st;
            }
            std::optional<Error> first;
            for (const auto& label : labels) {
                auto r = conn.read_reply();
                if (!r) {
                    return std::unexpected(r.error());
                }
                if (r->is_error() && !first) {
                    auto e = error_reply(*r, "restore", label + " on " + ep).error();
                    if (r->text.find("payload version") != std::string::npos) {
                        e.hint = "the destination redis is older than the one that wrote the backup (rdb version " +
                                 std::to_string(rdb_version) + "): restore into the same or a newer version";
                    }
                    first = std::move(e);
                }
            }
            labels.clear();
            queued = 0;
            if (first) {
                return std::unexpected(*first);
            }
            return {};
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
                    queued = conn.append({"SELECT", std::to_string(e.db)});
                    labels.push_back("select database " + std::to_string(e.db));
                    current_db = e.db;
                }
                auto payload = rdb::dump_payload(e.type, e.value, rdb_version);
                queued = conn.append({"RESTORE", e.key, std::to_string(e.expire_ms >= 0 ? e.expire_ms : 0), payload,
                                      "REPLACE", "ABSTTL"});
                labels.push_back("key '" + std::string(e.key.substr(0, 200)) + "'");
                ++restored;
                if (auto now = std::chrono::steady_clock::now(); now - last_report >= std::chrono::seconds(10)) {
                    last_report = now;
                    observe::info("restoring redis keys", {{"server", ep}, {"keys", std::to_string(restored)}});
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

        std::vector<std::uint8_t> buf(k_chunk);
        for (;;) {
            if (cancel::requested()) {
                return fail(ErrorKind::cancelled, "restore into", ep, "cancelled by signal");
            }
            auto n = in.read(buf);
            if (!n) {
                return std::unexpected(n.error());
            }
            if (*n == 0) {
                break;
            }
            auto used = parser.feed(Bytes(buf.data(), *n));
            if (!used) {
                return std::unexpected(used.error());
            }
            if (*used != *n) {
                return fail(ErrorKind::corruption, "restore into", ep, "data follows the end of the rdb");
            }
        }
        if (auto st = parser.finish(); !st) {
            return st;
        }
        if (auto st = drain(); !st) {
            return st;
        }
        observe::info("redis restore finished", {{"server", ep},
                                                 {"keys", std::to_string(restored)},
                                                 {"skipped_expired", std::to_string(expired)},
                                                 {"function_libraries", std::to_string(functions)}});
        return {};
    }

    const config::TargetConfig& m_target;
    runner::Runner& m_runner;
    Endpoint m_endpoint;
};

} // namespace

std::map<std::string, std::string> parse_redis_info(std::string_view text)
{
    std::map<std::string, std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        auto line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.empty() || line[0] == '#') {
            continue;
        }
        auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        out[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 1));
    }
    return out;
}

std::map<std::string, std::int64_t> parse_redis_keyspace(std::string_view text)
{
    std::map<std::string, std::int64_t> out;
    for (const auto& [name, value] : parse_redis_info(text)) {
        if (!name.starts_with("db") || !value.starts_with("keys=")) {
            continue;
        }
        auto comma = value.find(',');
        try {
            out[name] = std::stoll(value.substr(5, comma == std::string::npos ? std::string::npos : comma - 5));
        } catch (...) {
            continue;
        }
    }
    return out;
}

Result<std::unique_ptr<Engine>> make_redis_engine(const config::TargetConfig& target, runner::Runner& runner)
{
    const auto& r = target.redis;
    if (r.mode != "replication" && r.mode != "bgsave") {
        return fail(ErrorKind::config, "open redis engine for", target.name,
                    "unknown mode '" + r.mode + "' (expected replication or bgsave)");
    }
    if (r.tls) {
        return fail(ErrorKind::config, "open redis engine for", target.name, "rediss:// (TLS) is not supported yet");
    }
    return std::make_unique<RedisEngine>(target, runner);
}

} // namespace dbkeep::engine
