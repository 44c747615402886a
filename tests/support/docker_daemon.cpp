#include "support/docker_daemon.hpp"
#include "support/wait.hpp"

#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <unistd.h>

namespace dbkeep::test {
namespace {

std::string trim(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

} // namespace

std::string DockerDaemon::skip_reason()
{
    if (!have_program("dockerd") || !have_program("docker")) {
        return "dockerd (Debian docker.io) not installed";
    }
    if (geteuid() != 0) {
        return "dockerd needs root";
    }
    return {};
}

DockerDaemon::DockerDaemon()
{
    m_dir = std::make_unique<TempDir>("dbkeep-dockerd");
    const auto d = m_dir->path().string();
    m_process = std::make_unique<Background>(
        std::vector<std::string>{"dockerd", "--data-root", d + "/data", "--exec-root", d + "/exec", "-H",
                                 "unix://" + d + "/docker.sock", "--pidfile", d + "/docker.pid", "--bridge=none",
                                 "--iptables=false", "--ip6tables=false", "--shutdown-timeout", "2"},
        RunOptions{}, d + "/dockerd.log");
    bool up = false;
    wait_until(
        [&] {
            up = m_process->running() &&
                 docker({"version", "--format", "{{.Server.Version}}"}, {}, false).exit_code == 0;
            return up || !m_process->running();
        },
        k_event_timeout, std::chrono::milliseconds(100));
    if (!up) {
        throw std::runtime_error("dockerd did not start: " + read_file(m_dir->path() / "dockerd.log"));
    }
    // The base image: empty folders where the host's are bound, and a world-writable /tmp.
    auto rootfs = m_dir->path() / "rootfs";
    for (const char* sub : {"bin", "sbin", "usr", "lib", "lib64", "etc", "tmp", "proc", "sys", "dev", "run", "var/run",
                            "var/lib", "shared"}) {
        std::filesystem::create_directories(rootfs / sub);
    }
    // The daemon looks users up in the image itself (under the bind mounts).
    std::filesystem::copy_file("/etc/passwd", rootfs / "etc/passwd");
    std::filesystem::copy_file("/etc/group", rootfs / "etc/group");
    std::filesystem::permissions(rootfs / "tmp", std::filesystem::perms::all | std::filesystem::perms::sticky_bit);
    auto r = sh("tar -C " + rootfs.string() + " -c . | DOCKER_HOST=" + host() + " docker import - dbkeep-test:base");
    if (r.exit_code != 0) {
        throw std::runtime_error("docker import failed: " + r.err);
    }
}

DockerDaemon::~DockerDaemon()
{
    sh("export DOCKER_HOST=" + host() + "; ids=$(docker ps -aq); [ -z \"$ids\" ] || docker rm -f $ids >/dev/null 2>&1");
    m_process->signal(SIGTERM);
    if (m_process->wait(k_event_timeout) < 0) {
        m_process->signal(SIGKILL);
    }
    // dockerd's containerd and leftover mounts below the temp dir would keep it from being removed.
    sh("pkill -f 'containerd.*" + m_dir->path().string() +
       "' 2>/dev/null; "
       "awk '{print $2}' /proc/self/mounts | grep '^" +
       m_dir->path().string() + "' | sort -r | xargs -r -n1 umount -l 2>/dev/null; true");
}

RunResult DockerDaemon::docker(const std::vector<std::string>& args, RunOptions options, bool check)
{
    std::vector<std::string> argv{"docker"};
    argv.insert(argv.end(), args.begin(), args.end());
    options.env["DOCKER_HOST"] = host();
    auto r = run(argv, options);
    if (check && r.exit_code != 0) {
        std::string cmd;
        for (const auto& a : args) {
            cmd += " " + a;
        }
        throw std::runtime_error("docker" + cmd + " failed: " + r.err + r.out);
    }
    return r;
}

void DockerDaemon::run_container(const std::string& name, const std::vector<std::string>& extra)
{
    std::vector<std::string> args{"run", "-d", "--name", name, "--network", "none"};
    for (const char* dir : {"/usr", "/etc", "/lib", "/lib64", "/bin", "/sbin"}) {
        if (std::filesystem::exists(dir)) {
            args.push_back("-v");
            args.push_back(std::string(dir) + ":" + dir + ":ro");
        }
    }
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"dbkeep-test:base", "sleep", "infinity"});
    docker(args);
}

DatabaseContainer::DatabaseContainer(DockerDaemon& docker, std::string name, std::string pg_password,
                                     std::string redis_password, const std::vector<std::string>& extra)
    : m_docker(docker), m_name(std::move(name)), m_pg_password(std::move(pg_password)),
      m_redis_password(std::move(redis_password))
{
    m_docker.run_container(m_name, extra);
    const std::string bin = "/usr/lib/postgresql/15/bin";
    RunOptions pw;
    pw.input = m_pg_password;
    m_docker.docker({"exec", "-i", m_name, "sh", "-c",
                     "mkdir -p /tmp/pg && cat > /tmp/pg/pw && chown -R postgres /tmp/pg && chmod 700 /tmp/pg"},
                    pw);
    m_docker.docker({"exec", "-u", "postgres", m_name, bin + "/initdb", "-D", "/tmp/pg/data", "-U", "postgres", "-A",
                     "scram-sha-256", "--pwfile=/tmp/pg/pw", "--no-sync"});
    m_docker.docker({"exec", "-u", "postgres", m_name, bin + "/pg_ctl", "-D", "/tmp/pg/data", "-w", "-l", "/tmp/pg/log",
                     "-o", "-c listen_addresses=127.0.0.1 -p 5432 -k /tmp/pg -c fsync=off", "start"});
    m_docker.docker({"exec", "-d", m_name, "redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "",
                     "--dir", "/tmp", "--enable-debug-command", "yes", "--requirepass", m_redis_password});
    if (wait_until([&] { return redis_cli({"PING"}) == "PONG"; })) {
        return;
    }
    throw std::runtime_error("redis did not start in the container");
}

std::string DatabaseContainer::psql(const std::string& db, const std::string& sql)
{
    RunOptions o;
    o.input = sql;
    auto r = m_docker.docker({"exec", "-i", "-e", "PGPASSWORD=" + m_pg_password, m_name, "psql", "-X", "-q", "-A", "-t",
                              "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", db},
                             o);
    return trim(r.out);
}

void DatabaseContainer::create_database(const std::string& db)
{
    psql("postgres", "CREATE DATABASE " + db);
}

void DatabaseContainer::kill_when_running(const std::string& name)
{
    // The `--version` probe that runs first is spared: the event is the command doing its work.
    const std::string script = "for p in $(pgrep -x " + name + "); do tr '\\0' ' ' < /proc/$p/cmdline | " +
                               "grep -q -e --version || { kill -KILL $p && echo killed; }; done";
    wait_until(
        [&] {
            auto r = m_docker.docker({"exec", m_name, "sh", "-c", script}, {}, false);
            return r.out.find("killed") != std::string::npos;
        },
        k_event_timeout, std::chrono::milliseconds(20));
}

std::string DatabaseContainer::redis_cli(const std::vector<std::string>& args)
{
    std::vector<std::string> argv{"exec", "-e",        "REDISCLI_AUTH=" + m_redis_password,
                                  m_name, "redis-cli", "--no-auth-warning"};
    argv.insert(argv.end(), args.begin(), args.end());
    return trim(m_docker.docker(argv, {}, false).out);
}

} // namespace dbkeep::test
