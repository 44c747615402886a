// A throwaway redis-server on a loopback port in a temp dir; shut down on destruction.
#pragma once

#include "support/temp_dir.hpp"

#include <memory>
#include <string>
#include <vector>

namespace dbkeep::test {

struct RedisOptions {
    std::vector<std::string> extra_args; // e.g. {"--requirepass", "pw"}
    // Lines of a redis.conf the server starts from, for what only a config file may say ("rename-command PSYNC
    // \"\""); empty: none.
    std::string config;
};

class RedisServer {
public:
    explicit RedisServer(RedisOptions options = {});
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    static std::string skip_reason();
    int port() const { return m_port; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(m_port); }
    const std::filesystem::path& dir() const { return m_dir->path(); }
    // redis-cli against this server; returns stdout without the trailing newline. Throws on failure.
    std::string cli(const std::vector<std::string>& args, const std::string& input = {}) const;
    void set_auth(std::string user, std::string password)
    {
        m_user = std::move(user);
        m_password = std::move(password);
    }

private:
    std::unique_ptr<TempDir> m_dir;
    int m_port = 0;
    std::string m_user, m_password;
};

} // namespace dbkeep::test
