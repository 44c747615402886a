#include "engine/redis/restore.hpp"

#include <gtest/gtest.h>

using namespace dbkeep::engine::redis;

// rdb.h's RDB_VERSION by release: 9 from 5.0 (6.x too), 10 from 7.0, 11 from 7.2, 12 from 7.4 (8.0-8.4 too).
TEST(RdbVersionHistory, NamesTheHighestRdbVersionEachRedisLoads)
{
    EXPECT_EQ(max_rdb_version_loaded_by("5.0.14"), 9);
    EXPECT_EQ(max_rdb_version_loaded_by("6.2.14"), 9);
    EXPECT_EQ(max_rdb_version_loaded_by("7.0.15"), 10);
    EXPECT_EQ(max_rdb_version_loaded_by("7.2.4"), 11);
    EXPECT_EQ(max_rdb_version_loaded_by("7.4.1"), 12);
    EXPECT_EQ(max_rdb_version_loaded_by("8.2.0"), 12);
    EXPECT_EQ(max_rdb_version_loaded_by("8.6.0"), 13);
    EXPECT_EQ(max_rdb_version_loaded_by("4.0.9"), 8);
    EXPECT_EQ(max_rdb_version_loaded_by("9.0.0"), std::nullopt) << "newer than the history: unknown";
    EXPECT_EQ(max_rdb_version_loaded_by(""), std::nullopt);
    EXPECT_EQ(max_rdb_version_loaded_by("seven"), std::nullopt);
}

TEST(RdbVersionHistory, NamesTheOldestRedisLoadingAnRdbVersion)
{
    EXPECT_EQ(oldest_redis_loading(9), "5.0");
    EXPECT_EQ(oldest_redis_loading(10), "7.0");
    EXPECT_EQ(oldest_redis_loading(11), "7.2");
    EXPECT_EQ(oldest_redis_loading(12), "7.4");
    EXPECT_EQ(oldest_redis_loading(99), "");
}
