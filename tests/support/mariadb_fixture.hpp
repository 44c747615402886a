// The MariaDB fixture of the integration tests: a throwaway MariaDB (one per test) and a Workspace whose
// dbkeep.yaml backs database `shop` up as the app account, its password in the environment. Skips when the
// server cannot run here.
#pragma once

#include "support/mariadb_server.hpp"
#include "support/workspace.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace dbkeep::test {

class MariadbTest : public ::testing::Test {
protected:
    void SetUp() override;

    // dbkeep.yaml: local storage, then target `shop` at `url` (default: database shop as app) with
    // `password: ${SHOP_DB_PASSWORD}` and `target_extra` (indented target lines).
    void write_config(const std::string& target_extra = "", const std::string& url = "");
    RunResult dbkeep(std::vector<std::string> args, RunOptions options = {}) const
    {
        return m_work->dbkeep(std::move(args), std::move(options));
    }

    std::unique_ptr<MariadbServer> m_db;
    std::unique_ptr<Workspace> m_work;
};

} // namespace dbkeep::test
