// Redis through the dbkeep binary: backup, list, restore into a live server and to an RDB file.
#include "support/redis_fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;

namespace {
class RedisCli : public RedisTest {};
} // namespace

TEST_F(RedisCli, BackupListAndRestoreRoundTripThroughTheBinary)
{
    RedisServer source({.extra_args = {"--requirepass", "cache-S3cret"}});
    source.set_auth("", "cache-S3cret");
    std::string load;
    for (int i = 0; i < 2000; ++i) {
        load += "SET key:" + std::to_string(i) + " value-" + std::to_string(i) + "\n";
    }
    load +=
        "HSET h f1 v1 f2 v2\nRPUSH l a b c\nSADD s x y\nZADD z 1 a 2 b\nSELECT 3\nSET other db3\nEXPIRE other 5000\n";
    source.cli({}, load);
    write_config(source.url(), "    password: ${CACHE_PASSWORD}\n");
    m_work.env["CACHE_PASSWORD"] = "cache-S3cret";
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(b.err.find("cache-S3cret"), std::string::npos);

    auto l = dbkeep({"list", "cache", "--json"});
    ASSERT_EQ(l.exit_code, 0) << l.err;
    auto listed = nlohmann::json::parse(l.out);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0]["engine"], "redis");
    EXPECT_EQ(listed[0]["stats"]["db0"], 2004);
    EXPECT_EQ(listed[0]["stats"]["db3"], 1);
    EXPECT_TRUE(listed[0]["object"]["key"].get<std::string>().ends_with(".rdb.zst"));

    RedisServer target;
    target.cli({"SET", "stale", "x"});
    auto r = dbkeep({"restore", "cache", "--to", target.url(), "--flush", "--yes"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(target.cli({"DEBUG", "DIGEST"}), source.cli({"DEBUG", "DIGEST"}));
    EXPECT_EQ(target.cli({"EXISTS", "stale"}), "0");

    auto rdb = m_work.dir() / "dump.rdb";
    auto out = dbkeep({"restore", "cache", "--output", rdb.string()});
    ASSERT_EQ(out.exit_code, 0) << out.err;
    auto check = run({"redis-check-rdb", rdb.string()});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(RedisCli, WrongPasswordFailsWithNoManifest)
{
    RedisServer source({.extra_args = {"--requirepass", "right"}});
    write_config("redis://:Wr0ngPw-123@127.0.0.1:" + std::to_string(source.port()));
    auto b = dbkeep({"backup"});
    EXPECT_EQ(b.exit_code, 1);
    EXPECT_NE(b.err.find("cache"), std::string::npos) << b.err;
    EXPECT_EQ(b.err.find("Wr0ngPw-123"), std::string::npos) << b.err;
    EXPECT_TRUE(m_work.stored_files().empty());
}

TEST_F(RedisCli, CheckFlagsAnAclUserWithoutReplicationRights)
{
    RedisServer source;
    source.cli({"ACL", "SETUSER", "nosync", "on", ">nosync-pw", "~*", "+@all", "-psync", "-sync", "-replconf"});
    write_config("redis://nosync:nosync-pw@127.0.0.1:" + std::to_string(source.port()), "    keep: {last: 3}\n");
    auto c = dbkeep({"check", "--json"});
    EXPECT_EQ(c.exit_code, 3) << c.out << c.err;
    auto rows = nlohmann::json::parse(c.out);
    bool seen = false;
    for (const auto& r : rows) {
        if (r["probe"] == "redis.replication") {
            seen = true;
            EXPECT_EQ(r["outcome"], "fail") << r.dump();
            EXPECT_NE(r["remedy"].get<std::string>().find("+psync"), std::string::npos) << r.dump();
        }
    }
    EXPECT_TRUE(seen) << c.out;
    EXPECT_EQ(c.out.find("nosync-pw"), std::string::npos);
}
