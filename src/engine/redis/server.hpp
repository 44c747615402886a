// Talking to a Redis server as a client: one command and its reply, directly over RESP or through redis-cli
// where the runner runs, and the INFO / CONFIG GET queries the engine makes.
#pragma once

#include "core/error.hpp"
#include "core/secret.hpp"
#include "engine/redis/resp.hpp"
#include "runner/runner.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dbkeep::engine::redis {

// Where a server is and who we are to it.
struct Endpoint {
    std::string host;
    int port = 6379;
    std::string username;
    Secret password;
};

// A RESP connection to ep, authenticated (AUTH only when a password is given). Fails as the connection or
// AUTH fails (ErrorKind::auth for a refused password).
Result<std::unique_ptr<resp::Connection>> open_connection(const Endpoint& ep);

// The endpoint of a redis://[user:password@]host:port url; the url's password wins over `password`.
// Fails with ErrorKind::config (operation `what`, the url redacted) for another scheme or no host.
Result<Endpoint> endpoint_from_url(const std::string& url, const std::string& password, const std::string& what);

// An error reply as a failed Status: ErrorKind::auth for NOPERM (hint: the ACL), NOAUTH (hint: a password is
// needed) and WRONGPASS (hint: the username and password), ErrorKind::failed otherwise (no hint). Pure.
Status error_reply(const resp::Reply& r, const std::string& operation, const std::string& object);

// redis-cli's argv for an endpoint plus args (the password goes into REDISCLI_AUTH, never the argv).
runner::Command redis_cli(const Endpoint& ep, std::vector<std::string> args);

// redis-cli's complaint on stderr (its first line) as an error: auth for a failed AUTH or a missing password
// (NOAUTH), transient when it could not connect (the hint names the host name when it does not resolve),
// not_found when redis-cli is missing, failed otherwise (no hint). Pure.
Error cli_error(const std::string& err, const runner::ExitStatus& status, const std::string& endpoint,
                const std::string& operation);

// True when text starts with one of Redis's error codes ("ERR ", "NOPERM ", ...): how redis-cli's output
// tells an error reply from a value.
bool looks_like_error_reply(const std::string& text);

// What the engine asks of a server: a command and its reply. Not thread-safe.
class Server {
public:
    virtual ~Server() = default;
    // "host:port" (and the runner, through redis-cli): for messages.
    virtual const std::string& endpoint() const = 0;
    // Sends one command and returns its reply; an error reply is a reply, not a failure. Fails when the
    // server cannot be reached or redis-cli fails.
    virtual Result<resp::Reply> command(const std::vector<std::string>& args) = 0;
};

// Over a RESP connection, which must outlive it.
class DirectServer final : public Server {
public:
    explicit DirectServer(resp::Connection& conn) : m_conn(conn) {}
    const std::string& endpoint() const override { return m_conn.endpoint(); }
    Result<resp::Reply> command(const std::vector<std::string>& args) override;

private:
    resp::Connection& m_conn;
};

// Through `redis-cli` where the runner (which must outlive it) runs: the server may be reachable only from
// inside its container. The reply is redis-cli's output: its text, and one element per line.
class CliServer final : public Server {
public:
    CliServer(runner::Runner& runner, Endpoint ep);
    const std::string& endpoint() const override { return m_what; }
    Result<resp::Reply> command(const std::vector<std::string>& args) override;

private:
    runner::Runner& m_runner;
    Endpoint m_ep;
    std::string m_what;
};

// A server as the runner reaches it: a RESP connection (set) when the runner is local, redis-cli through
// the runner otherwise. `server` talks over `connection` when that is set.
struct Session {
    std::unique_ptr<resp::Connection> connection;
    std::unique_ptr<Server> server;
};

// Opens a Session to ep: connects and authenticates when the runner is local (failing as open_connection
// does), otherwise contacts nothing yet. The runner must outlive the session.
Result<Session> open_session(runner::Runner& runner, const Endpoint& ep);

// INFO <section> as name -> value. Fails as the command fails, or with error_reply's error for an error reply.
Result<std::map<std::string, std::string>> info_section(Server& server, const char* section);

// CONFIG GET <name>'s value. Fails as the command fails, for an error reply, or when no value comes back.
Result<std::string> config_get(Server& server, const char* name);

// An INFO field as a number; -1 when absent or not a number.
std::int64_t info_int(const std::map<std::string, std::string>& info, const std::string& name);

} // namespace dbkeep::engine::redis
