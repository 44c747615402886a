#include "support/mariadb_fixture.hpp"

namespace dbkeep::test {

void MariadbTest::SetUp()
{
    if (auto reason = MariadbServer::skip_reason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    m_db = std::make_unique<MariadbServer>();
    m_work = std::make_unique<Workspace>("dbkeep-mysql");
    m_work->env["SHOP_DB_PASSWORD"] = MariadbServer::app_password();
    m_work->env["DBKEEP_RESTORE_PASSWORD"] = MariadbServer::app_password();
}

void MariadbTest::write_config(const std::string& target_extra, const std::string& url)
{
    m_work->write_config(m_work->local_storage_yaml() +
                         "targets:\n  shop:\n    engine: mysql\n    url: " + (url.empty() ? m_db->url("shop") : url) +
                         "\n    password: ${SHOP_DB_PASSWORD}\n" + target_extra);
}

} // namespace dbkeep::test
