// A throwaway dockerd (Debian docker.io) in a temp dir, listening on its own unix socket, with no bridge and no
// iptables changes. Images come from `docker import` of a tiny rootfs: containers see the host's /usr, /etc
// and libraries read-only, so the host's PostgreSQL 15, Redis 7 and busybox-free shell run inside them.
#pragma once

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <memory>
#include <string>
#include <vector>

namespace dbkeep::test {

class DockerDaemon {
public:
    DockerDaemon();
    ~DockerDaemon();
    DockerDaemon(const DockerDaemon&) = delete;
    DockerDaemon& operator=(const DockerDaemon&) = delete;

    static std::string skip_reason();

    std::string host() const { return "unix://" + socket(); }
    std::string socket() const { return (m_dir->path() / "docker.sock").string(); }
    const std::filesystem::path& dir() const { return m_dir->path(); }

    // The docker CLI against this daemon; throws when it fails and `check` is set.
    RunResult docker(const std::vector<std::string>& args, RunOptions options = {}, bool check = true);

    // Starts a container of the base image with no network (`--network none`: nothing published, nothing
    // reachable from the host); extra `docker run` arguments (bind mounts) before the image.
    void run_container(const std::string& name, const std::vector<std::string>& extra = {});

private:
    std::unique_ptr<TempDir> m_dir;
    std::unique_ptr<Background> m_process;
};

// PostgreSQL 15 (port 5432, password auth) and Redis 7 (port 6379, requirepass) inside one container with no
// network: reachable only from inside it.
class DatabaseContainer {
public:
    DatabaseContainer(DockerDaemon& docker, std::string name, std::string pg_password, std::string redis_password,
                      const std::vector<std::string>& extra = {});
    const std::string& name() const { return m_name; }
    // psql inside the container (as postgres over 127.0.0.1 with the password); returns trimmed output.
    std::string psql(const std::string& db, const std::string& sql);
    void create_database(const std::string& db);
    // SIGKILLs the first process named `name` inside the container, other than a `--version` probe, as soon
    // as one runs (waiting up to k_event_timeout).
    void kill_when_running(const std::string& name);
    // redis-cli inside the container.
    std::string redis_cli(const std::vector<std::string>& args);

private:
    DockerDaemon& m_docker;
    std::string m_name, m_pg_password, m_redis_password;
};

} // namespace dbkeep::test
