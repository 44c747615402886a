// `type: docker` (and podman's Docker-compatible API): commands run inside a container through the Docker
// Engine API over its unix socket (or plain tcp), without the docker CLI. An exec is created with the
// command's argv and environment (secrets travel in the exec's environment, never its argv), started with a
// hijacked connection that carries stdin raw and stdout/stderr as 8-byte-framed multiplexed streams, and its
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
Result<ContainerState> inspect_container(const DockerOptions& options);

// The socket the options point at, as a URL ("unix:///var/run/docker.sock").
std::string docker_endpoint(const DockerOptions& options);

} // namespace dbkeep::runner
