#include "engine/redis/redis.hpp"

#include "core/cancel.hpp"
#include "core/finding.hpp"
#include "core/url.hpp"
#include "engine/redis/rdb.hpp"
#include "engine/redis/resp.hpp"
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
    auto u = parse_url(url);
    if (!u || (u->scheme != "redis") || u->host.empty()) {
        return fail(ErrorKind::config, what, redact_url(url), "expected a url like redis://[user:password@]host:port");
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

// What the engine asks of a server: a command and its reply. Direct over RESP from here, or through redis-cli
// where the runner runs (the server may be reachable only from inside its container).
class Server {
public:
    virtual ~Server() = default;
    virtual const std::string& endpoint() const = 0;
    virtual Result<resp::Reply> command(const std::vector<std::string>& args) = 0;
};

class DirectServer final : public Server {
public:
    explicit DirectServer(resp::Connection& conn) : m_conn(conn) {}
    const std::string& endpoint() const override { return m_conn.endpoint(); }
    Result<resp::Reply> command(const std::vector<std::string>& args) override
    {
        std::vector<std::string_view> views(args.begin(), args.end());
        m_conn.append(views);
        if (auto st = m_conn.flush(); !st) {
            return std::unexpected(st.error());
        }
        return m_conn.read_reply();
    }

private:
    resp::Connection& m_conn;
};

// redis-cli's argv for an endpoint (the password goes into REDISCLI_AUTH, never the argv).
runner::Command redis_cli(const Endpoint& ep, std::vector<std::string> args)
{
    runner::Command cmd;
    cmd.argv = {"redis-cli", "-h", ep.host, "-p", std::to_string(ep.port), "--no-auth-warning"};
    if (!ep.username.empty()) {
        cmd.argv.insert(cmd.argv.end(), {"--user", ep.username});
    }
    cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
    if (!ep.password.empty()) {
        cmd.env["REDISCLI_AUTH"] = ep.password.reveal();
    }
    return cmd;
}

// redis-cli's complaint on stderr as an error: connection refused, failed AUTH.
Error cli_error(const std::string& err, const runner::ExitStatus& status, const std::string& endpoint,
                const std::string& operation)
{
    std::string msg = err.substr(0, err.find('\n'));
    if (msg.empty()) {
        msg = "redis-cli " + status.describe();
    }
    if (msg.find("AUTH failed") != std::string::npos || msg.find("WRONGPASS") != std::string::npos) {
        return Error{ErrorKind::auth, operation, endpoint, msg, "check the username and password of the target"};
    }
    if (msg.find("Could not connect") != std::string::npos) {
        return Error{ErrorKind::transient, operation, endpoint, msg,
                     "is redis running and reachable from where the runner runs?"};
    }
    if (status.code == 127 || msg.find("not found") != std::string::npos) {
        return Error{ErrorKind::not_found, operation, endpoint, msg, "install redis-cli where the runner runs"};
    }
    return Error{ErrorKind::failed, operation, endpoint, msg, ""};
}

bool looks_like_error_reply(const std::string& text)
{
    static const char* const k_codes[] = {"ERR ",      "NOPERM ",     "NOAUTH ",  "WRONGPASS ", "WRONGTYPE ",
                                          "BUSY",      "LOADING ",    "MISCONF ", "READONLY ",  "EXECABORT ",
                                          "NOSCRIPT ", "NOREPLICAS ", "BUSYKEY "};
    for (const char* c : k_codes) {
        if (text.starts_with(c)) {
            return true;
        }
    }
    return false;
}

class CliServer final : public Server {
public:
    CliServer(runner::Runner& runner, Endpoint ep)
        : m_runner(runner), m_ep(std::move(ep)),
          m_what(m_ep.host + ":" + std::to_string(m_ep.port) + " (via " + runner.describe() + ")")
    {
    }
    const std::string& endpoint() const override { return m_what; }
    Result<resp::Reply> command(const std::vector<std::string>& args) override
    {
        auto out = runner::run_capture(m_runner, redis_cli(m_ep, args), 64 << 20);
        const std::string op = "run " + (args.empty() ? std::string() : args[0]) + " on";
        if (!out) {
            return wrap(out.error(), op + " " + m_what);
        }
        if (!out->status.ok() || out->err.find("AUTH failed") != std::string::npos) {
            return std::unexpected(cli_error(out->err, out->status, m_what, op));
        }
        resp::Reply r;
        r.text = out->out;
        while (!r.text.empty() && (r.text.back() == '\n' || r.text.back() == '\r')) {
            r.text.pop_back();
        }
        r.type = looks_like_error_reply(r.text) ? resp::Reply::Type::error : resp::Reply::Type::bulk;
        std::size_t pos = 0;
        while (pos <= r.text.size() && !r.text.empty()) {
            auto nl = r.text.find('\n', pos);
            r.elements.push_back(
                resp::Reply{.type = resp::Reply::Type::bulk,
                            .text = r.text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos)});
            if (nl == std::string::npos) {
                break;
            }
            pos = nl + 1;
        }
        return r;
    }

private:
    runner::Runner& m_runner;
    Endpoint m_ep;
    std::string m_what;
};

Result<std::map<std::string, std::string>> info_section(Server& conn, const char* section)
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

Result<std::string> config_get(Server& conn, const char* name)
{
    auto r = conn.command({"CONFIG", "GET", name});
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->is_error()) {
        return std::unexpected(error_reply(*r, std::string("run CONFIG GET ") + name + " on", conn.endpoint()).error());
    }
    if (r->elements.size() < 2) {
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

// Where restore sends its pipelined commands: a RESP connection (replies checked batch by batch), or
// `redis-cli --pipe` where the runner runs (it checks the replies and reports the errors at the end).
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

class PipeQueue final : public CommandQueue {
public:
    PipeQueue(runner::Runner& runner, const Endpoint& ep, std::string what)
        : m_runner(runner), m_ep(ep), m_what(std::move(what))
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

private:
    Status finish_with(std::optional<Error> write_error)
    {
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
            // Error replies are on stdout, one per line, before the summary.
            std::string first;
            for (std::size_t pos = 0; pos < m_output.size();) {
                auto nl = m_output.find('\n', pos);
                std::string line = m_output.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
                pos = nl == std::string::npos ? m_output.size() : nl + 1;
                if (looks_like_error_reply(line)) {
                    first = line;
                    break;
                }
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
    std::string m_what;
    std::unique_ptr<runner::Process> m_proc;
    std::thread m_reader;
    std::string m_out, m_output;
    int m_rdb_version = 0;
};

// The target an engine serves: its name for messages, and its options.
struct Target {
    std::string name;
    RedisOptions redis;
};

class RedisEngine final : public Engine {
public:
    RedisEngine(Target target, runner::Runner& runner) : m_target(std::move(target)), m_runner(runner)
    {
        const auto& r = m_target.redis;
        m_endpoint = Endpoint{r.host, r.port, r.username, r.password};
    }

    std::string format() const override { return "rdb"; }

    Result<DumpInfo> dump(stream::Sink& out) override
    {
        DumpInfo info;
        info.tool_version = DBKEEP_VERSION;
        if (!m_runner.local()) {
            // Through the runner: redis-cli there talks to the server.
            CliServer server(m_runner, m_endpoint);
            if (auto s = info_section(server, "server"); s) {
                info.server_version = (*s)["redis_version"];
            } else if (s.error().kind == ErrorKind::auth || s.error().kind == ErrorKind::transient ||
                       s.error().kind == ErrorKind::not_found) {
                return std::unexpected(s.error());
            }
            Status st;
            if (m_target.redis.mode == RedisDumpMode::bgsave) {
                info.tool = "redis-bgsave";
                st = dump_bgsave(server, out, info);
            } else {
                info.tool = "redis-cli --rdb";
                st = dump_replication_cli(server, out, info);
            }
            if (!st) {
                return std::unexpected(st.error());
            }
            return info;
        }
        auto conn = open_connection(m_endpoint);
        if (!conn) {
            return std::unexpected(conn.error());
        }
        DirectServer server(**conn);
        // INFO may be denied to a narrow backup user: the version then comes from the RDB's aux fields.
        if (auto s = info_section(server, "server"); s) {
            info.server_version = (*s)["redis_version"];
        }
        Status st;
        if (m_target.redis.mode == RedisDumpMode::bgsave) {
            info.tool = "redis-bgsave";
            st = dump_bgsave(server, out, info);
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
        if (!m_runner.local()) {
            CliServer server(m_runner, *ep);
            if (options.flush) {
                if (auto st = flush_all(server); !st) {
                    return st;
                }
            }
            PipeQueue queue(m_runner, *ep, server.endpoint());
            if (auto st = queue.start(); !st) {
                return st;
            }
            return restore_into(queue, in);
        }
        auto conn = open_connection(*ep);
        if (!conn) {
            return std::unexpected(conn.error());
        }
        if (options.flush) {
            DirectServer server(**conn);
            if (auto st = flush_all(server); !st) {
                return st;
            }
        }
        ConnectionQueue queue(**conn);
        return restore_into(queue, in);
    }

    Result<std::map<std::string, std::int64_t>> stats(const std::string& url, const std::string& password) override
    {
        auto ep = endpoint_from_url(url, password, "count keys of");
        if (!ep) {
            return std::unexpected(ep.error());
        }
        std::unique_ptr<resp::Connection> conn;
        std::unique_ptr<Server> server;
        if (m_runner.local()) {
            auto c = open_connection(*ep);
            if (!c) {
                return std::unexpected(c.error());
            }
            conn = std::move(*c);
            server = std::make_unique<DirectServer>(*conn);
        } else {
            server = std::make_unique<CliServer>(m_runner, *ep);
        }
        auto r = server->command({"INFO", "keyspace"});
        if (!r) {
            return std::unexpected(r.error());
        }
        if (r->is_error()) {
            return std::unexpected(error_reply(*r, "run INFO keyspace on", server->endpoint()).error());
        }
        return parse_redis_keyspace(r->text);
    }

    std::vector<Finding> probe() override
    {
        std::vector<Finding> out;
        std::string where = m_endpoint.host + ":" + std::to_string(m_endpoint.port);
        std::unique_ptr<resp::Connection> conn;
        std::unique_ptr<Server> srv;
        if (m_runner.local()) {
            auto c = open_connection(m_endpoint);
            if (!c) {
                const auto& e = c.error();
                out.push_back(failed("redis.connect", e.message,
                                     e.kind == ErrorKind::auth
                                         ? "check the username and password of the target"
                                         : "check host and port, that redis is running, and firewalls"));
                return out;
            }
            conn = std::move(*c);
            srv = std::make_unique<DirectServer>(*conn);
        } else {
            srv = std::make_unique<CliServer>(m_runner, m_endpoint);
            where = srv->endpoint();
        }
        auto server = info_section(*srv, "server");
        if (!server && !m_runner.local()) {
            const auto& e = server.error();
            out.push_back(failed("redis.connect", e.message,
                                 e.hint.empty() ? "check host and port, and that redis runs" : e.hint));
            return out;
        }
        out.push_back(
            pass("redis.connect",
                 "connected to Redis " + (server ? (*server)["redis_version"] : std::string("?")) + " at " + where));
        if (m_target.redis.mode == RedisDumpMode::bgsave) {
            auto dir = config_get(*srv, "dir");
            if (!dir) {
                out.push_back(failed("redis.bgsave", "cannot read the rdb location: " + dir.error().message,
                                     "allow CONFIG GET and BGSAVE for the user, or use mode: replication"));
            } else {
                out.push_back(pass("redis.bgsave", "rdb files are written to " + *dir));
            }
            return out;
        }
        // REPLCONF only records a capability on this connection; PSYNC itself cannot be tried without a sync,
        // so its permission is checked with ACL DRYRUN where the user may run it.
        auto r = srv->command({"REPLCONF", "capa", "eof"});
        const char* remedy = "ACL SETUSER <user> +psync +replconf, or set 'mode: bgsave' on the target";
        if (!r || r->is_error()) {
            out.push_back(
                failed("redis.replication", "REPLCONF refused: " + (r ? r->text : r.error().message), remedy));
            return out;
        }
        auto who = srv->command({"ACL", "WHOAMI"});
        std::string user = who && !who->is_error() ? who->text : "default";
        auto dry = srv->command({"ACL", "DRYRUN", user, "PSYNC", "?", "-1"});
        if (dry && !dry->is_error() && dry->text == "OK") {
            out.push_back(pass("redis.replication", "user " + user + " may run REPLCONF and PSYNC"));
        } else if (dry && !dry->is_error()) {
            out.push_back(failed("redis.replication", dry->text, remedy));
        } else {
            out.push_back(warn("redis.replication",
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

    Status wait_for_bgsave(Server& conn, std::int64_t saves_before, std::int64_t lastsave_before, bool have_saves)
    {
        for (;;) {
            if (cancel::requested()) {
                return fail_cancelled("wait for BGSAVE on", conn.endpoint());
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

    Status dump_bgsave(Server& conn, stream::Sink& out, DumpInfo& info)
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

    static Status flush_all(Server& server)
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

    // The replication payload through `redis-cli --rdb -` where the runner runs: the same RDB checks as a
    // direct PSYNC (parsed and checksummed while it streams, nothing may follow its end).
    Status dump_replication_cli(Server& server, stream::Sink& out, DumpInfo& info)
    {
        auto proc = m_runner.start(redis_cli(m_endpoint, {"--rdb", "-"}));
        if (!proc) {
            return wrap(proc.error(), "run redis-cli --rdb for " + m_target.name);
        }
        PayloadPump pump(out);
        std::vector<std::uint8_t> buf(k_chunk);
        Status stream_status;
        std::size_t trailing = 0;
        for (;;) {
            auto n = (*proc)->out().read(buf);
            if (!n) {
                stream_status = std::unexpected(n.error());
                break;
            }
            if (*n == 0) {
                break;
            }
            Bytes chunk(buf.data(), *n);
            if (!pump.parser().done()) {
                auto used = pump.push(chunk);
                if (!used) {
                    stream_status = wrap(used.error(), "read replication payload from " + server.endpoint());
                    break;
                }
                chunk = chunk.subspan(*used);
            }
            // redis-cli 7.0 copies a diskless transfer's 40-byte end mark to stdout after the RDB: drop it.
            trailing += chunk.size();
            if (trailing > k_eof_mark_size) {
                stream_status = fail(ErrorKind::corruption, "read replication payload from", server.endpoint(),
                                     "data follows the end of the rdb");
                break;
            }
        }
        if (!stream_status) {
            (*proc)->kill();
        }
        auto status = (*proc)->wait();
        if (!stream_status) {
            return stream_status;
        }
        if (!status) {
            return std::unexpected(status.error());
        }
        const std::string err = (*proc)->error_output();
        if (!status->ok() || err.find("AUTH failed") != std::string::npos) {
            auto e = cli_error(err.find("AUTH failed") != std::string::npos ? err.substr(err.find("AUTH failed")) : err,
                               *status, server.endpoint(), "run redis-cli --rdb on");
            if (err.find("NOPERM") != std::string::npos || err.find("no permissions") != std::string::npos) {
                e.kind = ErrorKind::auth;
                e.hint = "grant the user replication rights (ACL SETUSER <user> +psync +replconf +sync), or set "
                         "'mode: bgsave' on the target";
            }
            return std::unexpected(e);
        }
        if (pump.bytes() == 0) {
            return fail(ErrorKind::failed, "run redis-cli --rdb on", server.endpoint(),
                        "no rdb arrived" + (err.empty() ? std::string() : ": " + err.substr(0, err.find('\n'))));
        }
        if (auto st = pump.parser().finish(); !st) {
            return wrap(st.error(), "read replication payload from " + server.endpoint());
        }
        fill_info(info, pump.parser().summary(), pump.bytes());
        info.details["replication_payload"] = "redis-cli --rdb";
        return {};
    }

    Status restore_into(CommandQueue& conn, stream::Source& in)
    {
        const std::string ep = conn.endpoint();
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
            auto st = conn.drain(labels, rdb_version);
            labels.clear();
            queued = 0;
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
                return fail_cancelled("restore into", ep);
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
        if (auto st = conn.finish(); !st) {
            return st;
        }
        observe::info("redis restore finished", {{"server", ep},
                                                 {"keys", std::to_string(restored)},
                                                 {"skipped_expired", std::to_string(expired)},
                                                 {"function_libraries", std::to_string(functions)}});
        return {};
    }

    const Target m_target;
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

const char* to_string(RedisDumpMode mode) noexcept
{
    return mode == RedisDumpMode::bgsave ? "bgsave" : "replication";
}

std::optional<RedisDumpMode> parse_redis_dump_mode(std::string_view text) noexcept
{
    if (text == "replication") {
        return RedisDumpMode::replication;
    }
    if (text == "bgsave") {
        return RedisDumpMode::bgsave;
    }
    return std::nullopt;
}

Result<std::unique_ptr<Engine>> make_redis_engine(const std::string& target, const RedisOptions& options,
                                                  runner::Runner& runner)
{
    if (options.tls) {
        return fail(ErrorKind::config, "open redis engine for", target, "rediss:// (TLS) is not supported yet");
    }
    return std::make_unique<RedisEngine>(Target{target, options}, runner);
}

} // namespace dbkeep::engine
