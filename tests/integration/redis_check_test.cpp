// `dbkeep check` for Redis tells the truth (issue 14, kind 3), against real redis-server 7 instances: it tests the
// commands the backup will run and names a renamed PSYNC, the diskless-sync delay's cost, the rdb version, and a
// replica whose master link is down (which a bgsave backup records in its manifest and warns about).
#include "engine/redis/redis.hpp"
#include "runner/prefix.hpp"
#include "support/redis_fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

class RedisCheck : public RedisTest {
protected:
    // `dbkeep check --json`'s row of probe, or null when there is none.
    static nlohmann::json row(const RunResult& r, const std::string& probe)
    {
        auto rows = nlohmann::json::parse(r.out, nullptr, false);
        if (rows.is_discarded()) {
            ADD_FAILURE() << "not json: " << r.out << r.err;
            return nullptr;
        }
        for (const auto& x : rows) {
            if (x["probe"] == probe) {
                return x;
            }
        }
        return nullptr;
    }
};

constexpr const char* k_no_sync = "rename-command PSYNC \"\"\nrename-command SYNC \"\"\n";

} // namespace

// Issue 14, example 6: with PSYNC and SYNC renamed away, check used to pass with a warning blaming ACL DRYRUN and
// the backup then failed. It fails and names the way out; with that way (mode: bgsave) check and backup pass.
TEST_F(RedisCheck, ARenamedPsyncFailsCheckWithTheModeToUse)
{
    RedisServer source(RedisOptions{.config = k_no_sync});
    source.cli({"SET", "a", "1"});
    write_config(source.url());
    auto c = dbkeep({"check", "--json"});
    EXPECT_EQ(c.exit_code, 3) << c.out << c.err;
    auto r = row(c, "redis.replication");
    ASSERT_FALSE(r.is_null()) << c.out;
    EXPECT_EQ(r["outcome"], "fail") << r.dump();
    EXPECT_EQ(r["finding"], "PSYNC is renamed or disabled: use mode: bgsave") << r.dump();
    EXPECT_EQ(c.out.find("DRYRUN"), std::string::npos) << c.out;
    EXPECT_NE(dbkeep({"backup", "cache"}).exit_code, 0) << "check must not pass what the backup cannot do";

    // A user that may not run ACL DRYRUN: PSYNC's absence is found by sending it without arguments.
    source.cli({"ACL", "SETUSER", "backup", "on", ">backup-pw", "~*", "+@all", "-acl"});
    write_config("redis://backup:backup-pw@127.0.0.1:" + std::to_string(source.port()));
    auto narrow = dbkeep({"check", "--json"});
    EXPECT_EQ(narrow.exit_code, 3) << narrow.out << narrow.err;
    EXPECT_EQ(row(narrow, "redis.replication")["finding"], "PSYNC is renamed or disabled: use mode: bgsave")
        << narrow.out;

    write_config(source.url(), "    mode: bgsave\n");
    auto ok = dbkeep({"check", "--json"});
    EXPECT_EQ(row(ok, "redis.bgsave")["outcome"], "pass") << ok.out;
    EXPECT_TRUE(row(ok, "redis.replication").is_null()) << ok.out;
    auto b = dbkeep({"backup", "cache"});
    EXPECT_EQ(b.exit_code, 0) << b.err;
}

// Through a runner the backup runs `redis-cli --rdb`, which replicates with SYNC: check tests SYNC, by ACL DRYRUN or,
// for a user that may not run it, by COMMAND INFO (redis-cli would start a sync for any SYNC it sends).
TEST_F(RedisCheck, ThroughARunnerARenamedSyncFailsCheckWithTheModeToUse)
{
    RedisServer server(RedisOptions{.config = k_no_sync});
    server.cli({"ACL", "SETUSER", "backup", "on", ">backup-pw", "~*", "+@all", "-acl"});
    auto runner = runner::make_command_runner({.argv = {"env"}});
    for (const char* user : {"", "backup"}) {
        SCOPED_TRACE(*user ? "a user without ACL" : "the default user");
        engine::RedisOptions t;
        t.port = server.port();
        if (*user) {
            t.username = user;
            t.password = Secret("backup-pw");
        }
        auto eng = engine::make_redis_engine("cache", t, *runner);
        ASSERT_TRUE(eng.has_value());
        bool seen = false;
        for (const auto& f : (*eng)->probe()) {
            if (f.probe == "redis.replication") {
                seen = true;
                EXPECT_EQ(f.outcome, Outcome::fail) << f.finding;
                EXPECT_EQ(f.finding, "SYNC is renamed or disabled: use mode: bgsave");
            }
        }
        EXPECT_TRUE(seen);
    }
    RedisServer plain;
    engine::RedisOptions t;
    t.port = plain.port();
    auto eng = engine::make_redis_engine("cache", t, *runner);
    ASSERT_TRUE(eng.has_value());
    for (const auto& f : (*eng)->probe()) {
        if (f.probe == "redis.replication") {
            EXPECT_EQ(f.outcome, Outcome::pass) << f.finding;
        }
    }
    EXPECT_NE(plain.cli({"INFO", "replication"}).find("connected_slaves:0"), std::string::npos)
        << "check must not start a sync";
}

// mode: bgsave tests BGSAVE itself (with arguments it refuses before saving): renamed, check fails and names the
// other mode; denied by ACL, check fails and names the permission.
TEST_F(RedisCheck, BgsaveModeTestsTheBgsaveCommands)
{
    RedisServer renamed(RedisOptions{.config = "rename-command BGSAVE \"\"\n"});
    write_config(renamed.url(), "    mode: bgsave\n");
    auto c = dbkeep({"check", "--json"});
    EXPECT_EQ(c.exit_code, 3) << c.out << c.err;
    EXPECT_EQ(row(c, "redis.bgsave")["finding"], "BGSAVE is renamed or disabled: use mode: replication") << c.out;

    RedisServer server;
    server.cli({"ACL", "SETUSER", "nosave", "on", ">nosave-pw", "~*", "+@all", "-bgsave"});
    write_config("redis://nosave:nosave-pw@127.0.0.1:" + std::to_string(server.port()), "    mode: bgsave\n");
    auto denied = dbkeep({"check", "--json"});
    EXPECT_EQ(denied.exit_code, 3) << denied.out << denied.err;
    auto r = row(denied, "redis.bgsave");
    EXPECT_EQ(r["outcome"], "fail") << denied.out;
    EXPECT_NE(r["finding"].get<std::string>().find("NOPERM"), std::string::npos) << r.dump();
    EXPECT_NE(r["remedy"].get<std::string>().find("+bgsave"), std::string::npos) << r.dump();
    EXPECT_EQ(server.cli({"INFO", "persistence"}).find("rdb_saves:1"), std::string::npos) << "check must not save";
}

// Example 6: a 90 KB backup took 5 s because of the default 5 s diskless-sync delay, and check did not say so.
TEST_F(RedisCheck, TheDisklessSyncDelayIsReportedWithItsCostAndRemedy)
{
    RedisServer slow(RedisOptions{.extra_args = {"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "5"}});
    write_config(slow.url());
    auto c = dbkeep({"check", "--json"});
    EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
    auto r = row(c, "redis.diskless_delay");
    ASSERT_FALSE(r.is_null()) << c.out;
    EXPECT_EQ(r["outcome"], "warn") << r.dump();
    EXPECT_NE(r["finding"].get<std::string>().find("every backup waits 5 s"), std::string::npos) << r.dump();
    EXPECT_NE(r["remedy"].get<std::string>().find("repl-diskless-sync-delay 0"), std::string::npos) << r.dump();
    EXPECT_NE(r["remedy"].get<std::string>().find("mode: bgsave"), std::string::npos) << r.dump();

    RedisServer fast; // the fixture sets the delay to 0
    write_config(fast.url());
    auto f = dbkeep({"check", "--json"});
    EXPECT_EQ(row(f, "redis.diskless_delay")["outcome"], "pass") << f.out;
}

// Example 6: the README promised the rdb version; check reports it.
TEST_F(RedisCheck, TheRdbVersionIsReported)
{
    RedisServer server;
    write_config(server.url());
    auto c = dbkeep({"check", "--json"});
    EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
    auto r = row(c, "redis.rdb_version");
    ASSERT_FALSE(r.is_null()) << c.out;
    EXPECT_EQ(r["outcome"], "pass");
    EXPECT_NE(r["finding"].get<std::string>().find("writes rdb version 10"), std::string::npos) << r.dump();
}

// Example 6: a replica whose master link is down. As a replica (PSYNC) it refuses to serve a sync: check fails.
// With mode: bgsave the backup copies its stale data: check warns, and the backup warns and records it.
TEST_F(RedisCheck, AReplicaWhoseMasterLinkIsDownIsFlaggedAndRecorded)
{
    const ClosedPort dead;
    RedisServer replica(RedisOptions{.extra_args = {"--replicaof", "127.0.0.1", std::to_string(dead.port())}});
    write_config(replica.url());
    auto c = dbkeep({"check", "--json"});
    EXPECT_EQ(c.exit_code, 3) << c.out << c.err;
    auto r = row(c, "redis.replica");
    ASSERT_FALSE(r.is_null()) << c.out;
    EXPECT_EQ(r["outcome"], "fail") << r.dump();
    EXPECT_NE(r["finding"].get<std::string>().find("replica of 127.0.0.1:" + std::to_string(dead.port()) +
                                                   " whose master link is down"),
              std::string::npos)
        << r.dump();

    auto refused = dbkeep({"backup", "cache"});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("NOMASTERLINK"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("back up its master, repair the link"), std::string::npos) << refused.err;

    write_config(replica.url(), "    mode: bgsave\n");
    auto w = dbkeep({"check", "--json"});
    EXPECT_EQ(w.exit_code, 0) << w.out << w.err;
    EXPECT_EQ(row(w, "redis.replica")["outcome"], "warn") << w.out;
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_NE(b.err.find("master link is down"), std::string::npos) << b.err;
    auto manifests = m_work.manifests();
    ASSERT_EQ(manifests.size(), 1u);
    auto m = nlohmann::json::parse(read_file(m_work.backups() / manifests[0]));
    EXPECT_EQ(m["details"]["master_link_status"], "down") << m.dump();
    EXPECT_EQ(m["details"]["replica_of"], "127.0.0.1:" + std::to_string(dead.port())) << m.dump();
}
