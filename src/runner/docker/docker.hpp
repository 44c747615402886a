// `type: docker` (and podman's Docker-compatible API): commands run inside a container through the Docker
// Engine API v1.41 over its unix socket (or plain tcp), without the docker CLI, spoken through core/http. An exec is
// created with the command's argv and environment (secrets travel in the exec's environment, never its argv), started
// with a hijacked connection that carries stdin raw and stdout/stderr as 8-byte-framed multiplexed streams, and its
// exit code is read back from the exec's inspection.
//
// The API has no way to kill an exec: kill() starts a second exec that signals every process in the
// container whose environment carries this exec's random token (so pg_dump's children too). That needs
// /bin/sh and /proc inside the container, which every image with pg_dump or redis-cli has.
#pragma once

#include "runner/runner.hpp"

namespace dbkeep::runner {

struct DockerOptions {
    std::string host;      // unix:///var/run/docker.sock (default: $DOCKER_HOST, then that), tcp://host:port
    std::string container; // name or id
    std::string user;      // exec as this user ("postgres", "999:999"); empty: the container's default
};

// A runner for the container; makes no request (a missing container or engine shows at start()). start()
// fails with not_found (no such container), failed (container stopped; hint: docker start), auth (socket
// permissions), transient (engine unreachable), config (unsupported host) or cancelled. The runner is
// thread-safe; a Process may be read by one thread while another writes its stdin, and kill() is safe from
// any thread.
std::unique_ptr<Runner> make_docker_runner(DockerOptions options);

// What the engine says about a container, for `check`.
struct ContainerState {
    bool exists = false;
    bool running = false;
    std::string status;      // "running", "exited", "paused", ...
    std::string image;       // the image it runs
    std::string engine;      // "Docker 20.10.24" / "Podman Engine 4.3.1"
    std::string api_version; // "1.41"
};
// GET /version and /containers/{id}/json. A missing container is a state with exists = false, not an
// error; fails like start() when the engine cannot be asked. Thread-safe.
Result<ContainerState> inspect_container(const DockerOptions& options);

// The socket the options point at, as a URL ("unix:///var/run/docker.sock"): options.host, else
// $DOCKER_HOST, else the default. Thread-safe.
std::string docker_endpoint(const DockerOptions& options);

} // namespace dbkeep::runner
