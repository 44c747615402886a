#include "support/docker_fixture.hpp"

namespace dbkeep::test {

void DockerDaemonTest::SetUp()
{
    if (auto reason = DockerDaemon::skip_reason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    m_docker = std::make_unique<DockerDaemon>();
}

void DockerDaemonTest::start_database_container(const std::string& pg_password, const std::string& redis_password,
                                                const std::string& seed_sql, const std::vector<std::string>& extra)
{
    m_db = std::make_unique<DatabaseContainer>(*m_docker, "db", pg_password, redis_password, extra);
    m_db->create_database("app");
    m_db->psql("app", seed_sql);
}

} // namespace dbkeep::test
