#include "support/redis_fixture.hpp"

namespace dbkeep::test {

void RedisTest::SetUp()
{
    if (auto reason = RedisServer::skip_reason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
}

void RedisTest::write_config(const std::string& url, const std::string& target_extra) const
{
    m_work.write_config(m_work.local_storage_yaml() + "targets:\n  cache:\n    engine: redis\n    url: " + url + "\n" +
                        target_extra);
}

} // namespace dbkeep::test
