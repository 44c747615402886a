// A throwaway MariaDB on a loopback port in a temp dir (mariadb-install-db, then mariadbd as the mysql user when
// run as root), with the binary log on and real password authentication; stopped and removed on destruction.
// Tests call skip_reason() first and GTEST_SKIP() when the binaries are absent.
#pragma once

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <memory>
#include <string>

namespace dbkeep::test {

class MariadbServer {
public:
    // Starts the server; throws std::runtime_error (with the server's error log) when it does not come up.
    MariadbServer();
    ~MariadbServer();
    MariadbServer(const MariadbServer&) = delete;
    MariadbServer& operator=(const MariadbServer&) = delete;

    // Why the server cannot run here, or empty.
    static std::string skip_reason();

    int port() const { return m_port; }
    std::string socket() const { return (m_dir->path() / "sock").string(); }
    // The account with every privilege that tests back up with: app@127.0.0.1 / app_password().
    static std::string app_user() { return "app"; }
    static std::string app_password() { return "app-Pw-7f3e9c"; }
    // mysql://app@127.0.0.1:PORT/DB (no password: give it through the environment)
    std::string url(const std::string& db = "", const std::string& user = "app") const;

    // Runs SQL as root over the socket; returns stdout (tab-separated, no column names). Throws on failure.
    std::string sql(const std::string& sql, const std::string& db = "") const;
    // Like sql but returns the run's result instead of throwing.
    RunResult sql_result(const std::string& sql, const std::string& db = "") const;

private:
    std::unique_ptr<TempDir> m_dir;
    std::unique_ptr<Background> m_server;
    int m_port = 0;
};

} // namespace dbkeep::test
