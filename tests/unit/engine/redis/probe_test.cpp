#include "engine/redis/probe.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::engine::redis;

TEST(RedisProbe, NamesTheRdbVersionAServerWritesAndTheOldestRedisThatRestoresIt)
{
    auto f = probe_rdb_version("7.0.15");
    EXPECT_EQ(f.outcome, Outcome::pass);
    EXPECT_EQ(f.probe, "redis.rdb_version");
    EXPECT_EQ(f.finding, "Redis 7.0.15 writes rdb version 10, which dbkeep reads; a restore needs Redis 7.0 or newer");

    auto newer = probe_rdb_version("8.6.0");
    EXPECT_EQ(newer.outcome, Outcome::fail) << newer.finding;
    EXPECT_NE(newer.finding.find("writes rdb version 13; this dbkeep reads rdb versions up to 12"), std::string::npos)
        << newer.finding;

    auto unknown = probe_rdb_version("99.0.0");
    EXPECT_EQ(unknown.outcome, Outcome::warn) << unknown.finding;
    EXPECT_NE(unknown.finding.find("rdb version is unknown"), std::string::npos) << unknown.finding;
}
