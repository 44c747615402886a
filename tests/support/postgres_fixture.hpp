// The PostgreSQL fixture of the integration tests: a throwaway PostgreSQL 15 with database `app` holding the
// test's seed data, and a Workspace whose dbkeep.yaml backs `app` up. Skips when the server cannot run here.
#pragma once

#include "support/postgres_server.hpp"
#include "support/workspace.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace dbkeep::test {

struct PostgresSetup {
    std::string seed_sql;   // run in database `app` once it exists
    PostgresOptions server; // e.g. a superuser password
    std::string tag = "dbkeep-it";
};

// `targets:` with one PostgreSQL target `app` at `url`, then `extra` (indented target lines).
std::string postgres_target_yaml(const std::string& url, const std::string& extra = "");

class PostgresTest : public ::testing::Test {
protected:
    explicit PostgresTest(PostgresSetup setup) : m_setup(std::move(setup)) {}
    void SetUp() override;

    // dbkeep.yaml: local storage, `root_extra` (top-level lines), then target `app` (its database unless `url`
    // is given) with `target_extra`.
    void write_config(const std::string& target_extra = "", const std::string& url = "",
                      const std::string& root_extra = "");
    RunResult dbkeep(std::vector<std::string> args, RunOptions options = {}) const
    {
        return m_work->dbkeep(std::move(args), std::move(options));
    }
    // A pg_dump stand-in in the workspace: answers --version like the real one, then runs `body`.
    std::string fake_pg_dump(const std::string& name, const std::string& body) const;

    PostgresSetup m_setup;
    std::unique_ptr<PostgresServer> m_pg;
    std::unique_ptr<Workspace> m_work;
};

} // namespace dbkeep::test
