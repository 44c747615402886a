// The Docker Engine API v1.41 (also podman's Docker-compatible service) over core/http: where the engine
// listens, JSON calls with their error answers turned into Errors, exec creation, and the hijacked
// connection of an attached exec start.
#pragma once

#include "core/http.hpp"
#include "runner/docker/docker.hpp"

#include <string>

namespace dbkeep::runner::docker {

class Api {
public:
    // `host` as DockerOptions::host resolves it: unix:///path/docker.sock, tcp://host[:port] (port 2375 when
    // omitted) or http://host[:port]. Makes no request.
    explicit Api(std::string host);

    // One call to /v1.41<path> with an optional JSON body; any HTTP status comes back as a Response. Transient
    // failures are retried (3 attempts). Fails with config for an unsupported host, auth when the socket
    // refuses this user (hint: the docker group), transient when the engine cannot be reached within 60 s
    // (hint: is the daemon running), cancelled on SIGINT/SIGTERM unless ignore_cancel. Thread-safe.
    Result<http::Response> call(const std::string& method, const std::string& path, const std::string& body = {},
                                bool ignore_cancel = false) const;

    // POST /v1.41<path> with Connection: Upgrade, Upgrade: tcp: the raw stream of an attached exec, or the
    // refusing answer. Fails like call(), without retries. Thread-safe.
    Result<http::UpgradeResult> attach(const std::string& path, const std::string& body) const;

    const std::string& host() const noexcept { return m_host; }

private:
    http::Request request(const std::string& method, const std::string& path, const std::string& body) const;
    Error with_hint(Error error) const;

    std::string m_host;
    std::string m_base;        // http://host:port/v1.41 (http://docker/v1.41 over a unix socket)
    std::string m_unix_socket; // empty for tcp
    bool m_supported = true;
};

// The engine's {"message": "..."} of an error answer, else "HTTP <status>: <start of the body>".
std::string api_message(const http::Response& response);

// The hint for the engine's 409 answer to an exec, by the state its message names: a paused container is
// unpaused, a restarting one has its logs read, a stopped one is started; empty for any other message. Pure.
std::string exec_conflict_hint(const std::string& message, const std::string& container);

// Creates an exec of `command` in the container (POST /containers/{id}/exec) with stdout/stderr attached when
// `attach` (and stdin when the command wants it) and DBKEEP_EXEC_TOKEN=<token> in its environment (when not
// empty); returns the exec id. Fails with not_found (no such container; hint: docker ps -a), failed for a
// container that is not running (hint: exec_conflict_hint), auth (401/403), or the call's errors. Thread-safe.
Result<std::string> create_exec(const Api& api, const DockerOptions& options, const Command& command, bool attach,
                                const std::string& token, bool ignore_cancel = false);

} // namespace dbkeep::runner::docker
