#include "support/redis_server.hpp"
#include "support/wait.hpp"

#include "support/process.hpp"

#include <stdexcept>

namespace dbkeep::test {

std::string RedisServer::skip_reason()
{
    if (!have_program("redis-server") || !have_program("redis-cli")) {
        return "redis-server/redis-cli not installed (Debian redis-server, redis-tools)";
    }
    return {};
}

RedisServer::RedisServer(RedisOptions options)
{
    m_dir = std::make_unique<TempDir>("dbkeep-redis");
    auto d = m_dir->path().string();
    for (int attempt = 0; attempt < 5; ++attempt) {
        m_port = free_port();
        std::vector<std::string> argv{"redis-server",
                                      "--port",
                                      std::to_string(m_port),
                                      "--bind",
                                      "127.0.0.1",
                                      "--dir",
                                      d,
                                      "--daemonize",
                                      "yes",
                                      "--pidfile",
                                      d + "/pid",
                                      "--logfile",
                                      d + "/log",
                                      "--save",
                                      "",
                                      "--appendonly",
                                      "no",
                                      "--repl-diskless-sync-delay",
                                      "0",
                                      "--enable-debug-command",
                                      "yes"};
        argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
        if (!options.config.empty()) {
            write_file(m_dir->path() / "redis.conf", options.config);
            argv.insert(argv.begin() + 1, (m_dir->path() / "redis.conf").string());
        }
        if (run(argv).exit_code != 0) {
            continue;
        }
        if (wait_until(
                [&] {
                    auto r = run({"redis-cli", "-p", std::to_string(m_port), "ping"});
                    return r.exit_code == 0 &&
                           (r.out.find("PONG") != std::string::npos || r.out.find("NOAUTH") != std::string::npos);
                },
                k_event_timeout, std::chrono::milliseconds(25))) {
            return;
        }
    }
    throw std::runtime_error("redis-server did not start: " + read_file(d + "/log"));
}

RedisServer::~RedisServer()
{
    auto pid = read_file(m_dir->path() / "pid");
    if (!pid.empty()) {
        sh("kill -9 " + pid);
    }
}

std::string RedisServer::cli(const std::vector<std::string>& args, const std::string& input) const
{
    std::vector<std::string> argv{"redis-cli", "-p", std::to_string(m_port)};
    if (!m_password.empty()) {
        if (!m_user.empty()) {
            argv.insert(argv.end(), {"--user", m_user});
        }
        argv.insert(argv.end(), {"--no-auth-warning", "-a", m_password});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    RunOptions o;
    o.input = input;
    auto r = run(argv, o);
    if (r.exit_code != 0) {
        throw std::runtime_error("redis-cli failed: " + r.err);
    }
    if (!r.out.empty() && r.out.back() == '\n') {
        r.out.pop_back();
    }
    return r.out;
}

} // namespace dbkeep::test
