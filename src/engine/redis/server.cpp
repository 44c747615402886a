#include "engine/redis/server.hpp"

#include "core/url.hpp"
#include "engine/redis/redis.hpp"

#include <charconv>

namespace dbkeep::engine::redis {

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
    // Each refusal has its own fix: the password is right when a command is refused (NOPERM).
    if (r.text.starts_with("NOPERM")) {
        return fail(ErrorKind::auth, operation, object, r.text,
                    "allow the command the message names to the target's user (ACL SETUSER <user> +<command>)");
    }
    if (r.text.starts_with("NOAUTH")) {
        return fail(ErrorKind::auth, operation, object, r.text, "the server requires a password: give the target one");
    }
    if (r.text.starts_with("WRONGPASS")) {
        return fail(ErrorKind::auth, operation, object, r.text, "check the username and password of the target");
    }
    return fail(ErrorKind::failed, operation, object, r.text);
}

// redis-cli's argv for an endpoint (the password goes into REDISCLI_AUTH, never the argv).
runner::Command redis_cli(const Endpoint& ep, std::vector<std::string> args)
{
    runner::Command cmd;
    cmd.inherit = {"REDISCLI_*"}; // redis-cli's own variables (REDISCLI_AUTH, REDISCLI_RCFILE, ...)
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
    if (msg.find("NOAUTH") != std::string::npos) {
        return Error{ErrorKind::auth, operation, endpoint, msg, "the server requires a password: give the target one"};
    }
    if (msg.find("Could not connect") != std::string::npos) {
        const bool dns = msg.find("Name or service not known") != std::string::npos ||
                         msg.find("Temporary failure in name resolution") != std::string::npos ||
                         msg.find("nodename nor servname") != std::string::npos;
        return Error{ErrorKind::transient, operation, endpoint, msg,
                     dns ? "check the target's host name: it does not resolve where the runner runs"
                         : "is redis running and reachable from where the runner runs?"};
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

Result<resp::Reply> DirectServer::command(const std::vector<std::string>& args)
{
    std::vector<std::string_view> views(args.begin(), args.end());
    m_conn.append(views);
    if (auto st = m_conn.flush(); !st) {
        return std::unexpected(st.error());
    }
    return m_conn.read_reply();
}

CliServer::CliServer(runner::Runner& runner, Endpoint ep)
    : m_runner(runner), m_ep(std::move(ep)),
      m_what(m_ep.host + ":" + std::to_string(m_ep.port) + " (via " + runner.describe() + ")")
{
}

Result<resp::Reply> CliServer::command(const std::vector<std::string>& args)
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

Result<Session> open_session(runner::Runner& runner, const Endpoint& ep)
{
    Session s;
    if (!runner.local()) {
        s.server = std::make_unique<CliServer>(runner, ep);
        return s;
    }
    auto conn = open_connection(ep);
    if (!conn) {
        return std::unexpected(conn.error());
    }
    s.connection = std::move(*conn);
    s.server = std::make_unique<DirectServer>(*s.connection);
    return s;
}

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

} // namespace dbkeep::engine::redis

namespace dbkeep::engine {

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

} // namespace dbkeep::engine
