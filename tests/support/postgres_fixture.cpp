#include "support/postgres_fixture.hpp"

namespace dbkeep::test {

std::string postgres_target_yaml(const std::string& url, const std::string& extra)
{
    return "targets:\n  app:\n    engine: postgres\n    url: " + url + "\n" + extra;
}

void PostgresTest::SetUp()
{
    if (auto reason = PostgresServer::skip_reason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    m_pg = std::make_unique<PostgresServer>(m_setup.server);
    m_pg->create_database("app");
    if (!m_setup.seed_sql.empty()) {
        m_pg->psql("app", m_setup.seed_sql);
    }
    m_work = std::make_unique<Workspace>(m_setup.tag);
}

void PostgresTest::write_config(const std::string& target_extra, const std::string& url, const std::string& root_extra)
{
    m_work->write_config(m_work->local_storage_yaml() + root_extra +
                         postgres_target_yaml(url.empty() ? m_pg->url("app") : url, target_extra));
}

std::string PostgresTest::fake_pg_dump(const std::string& name, const std::string& body) const
{
    return m_work->write_script(name, "case \"$1\" in --version) exec " + PostgresServer::bin_dir() +
                                          "/pg_dump --version;; esac\n" + body);
}

} // namespace dbkeep::test
