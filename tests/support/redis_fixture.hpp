// The Redis fixture of the integration tests: skips when redis-server cannot run here; the test starts the
// RedisServer instances it needs, and a Workspace's dbkeep.yaml backs up one of them as target `cache`.
#pragma once

#include "support/redis_server.hpp"
#include "support/workspace.hpp"

#include <gtest/gtest.h>

#include <string>

namespace dbkeep::test {

class RedisTest : public ::testing::Test {
protected:
    void SetUp() override;

    // dbkeep.yaml: local storage, then target `cache` (engine redis) at `url` with `target_extra`.
    void write_config(const std::string& url, const std::string& target_extra = "") const;
    RunResult dbkeep(std::vector<std::string> args, RunOptions options = {}) const
    {
        return m_work.dbkeep(std::move(args), std::move(options));
    }

    Workspace m_work{"dbkeep-redis-it"};
};

} // namespace dbkeep::test
