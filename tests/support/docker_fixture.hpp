// The container fixture of the integration tests: a throwaway dockerd (skipping when it cannot run here), a
// Workspace, and on request container `db` running PostgreSQL and Redis with database `app` seeded.
#pragma once

#include "support/docker_daemon.hpp"
#include "support/workspace.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace dbkeep::test {

class DockerDaemonTest : public ::testing::Test {
protected:
    explicit DockerDaemonTest(const std::string& tag) : m_work(tag) {}
    void SetUp() override;

    // Starts container `db` (`extra`: more `docker run` arguments), creates database app there and runs
    // `seed_sql` in it.
    void start_database_container(const std::string& pg_password, const std::string& redis_password,
                                  const std::string& seed_sql, const std::vector<std::string>& extra = {});

    std::unique_ptr<DockerDaemon> m_docker;
    Workspace m_work;
    std::unique_ptr<DatabaseContainer> m_db;
};

} // namespace dbkeep::test
