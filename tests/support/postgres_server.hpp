// A throwaway PostgreSQL 15 on a loopback port in a temp dir, run as the postgres user; stopped and removed
// on destruction. Tests call skip_reason() first and GTEST_SKIP() when the binaries are absent.
#pragma once

#include "support/temp_dir.hpp"

#include <memory>
#include <optional>
#include <string>

namespace dbkeep::test {

struct PostgresOptions {
    std::string superuser_password; // non-empty: host connections need scram-sha-256 with this password
    std::string initdb_locale = "-E UTF8 --locale=C.UTF-8"; // initdb's encoding and locale options
};

class PostgresServer {
public:
    explicit PostgresServer(PostgresOptions options = {});
    ~PostgresServer();
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

    // Why the server cannot run here, or empty.
    static std::string skip_reason();
    static std::string bin_dir(); // /usr/lib/postgresql/15/bin

    int port() const { return m_port; }
    std::string host() const { return "127.0.0.1"; }
    // The directory of the server's unix socket (connections there use trust authentication).
    std::string socket_dir() const { return m_dir->path().string(); }
    // postgres://postgres@127.0.0.1:PORT/DB (no password)
    std::string url(const std::string& db = "postgres", const std::string& user = "postgres") const;

    // Runs SQL through psql as the superuser; returns stdout (unaligned, tuples only). Throws on failure.
    std::string psql(const std::string& db, const std::string& sql) const;
    // Like psql but returns the exit code instead of throwing.
    int psql_status(const std::string& db, const std::string& sql) const;
    void create_database(const std::string& db) const;

    // Stop now (for tests that need a vanished server).
    void stop();

private:
    std::unique_ptr<TempDir> m_dir;
    int m_port = 0;
    bool m_running = false;
    PostgresOptions m_options;
};

} // namespace dbkeep::test
