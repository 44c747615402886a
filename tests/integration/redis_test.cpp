// The Redis engine against real redis-server 7 instances: backup as a replica (diskless and disk-based payloads)
// and through BGSAVE, restore with RESTORE into a fresh server, and the failures users meet first.
#include "config/config.hpp"
#include "core/cancel.hpp"
#include "core/finding.hpp"
#include "engine/redis/rdb.hpp"
#include "engine/redis/redis.hpp"
#include "runner/local.hpp"
#include "runner/prefix.hpp"
#include "support/process.hpp"
#include "support/recording_sink.hpp"
#include "support/redis_fixture.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

// Raw RESP for `redis-cli --pipe`, the fastest way to load data.
void add_command(std::string& out, const std::vector<std::string>& args)
{
    out += "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) {
        out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    }
}

void pipe_into(const RedisServer& server, const std::string& commands)
{
    auto out = server.cli({"--pipe"}, commands);
    ASSERT_NE(out.find("errors: 0"), std::string::npos) << out;
}

// Every type Redis 7 writes, large and small encodings, TTLs, several databases and a function library.
void load_dataset(const RedisServer& server, bool large)
{
    std::string c;
    add_command(c, {"SELECT", "0"});
    std::string big;
    big.reserve(1'500'000);
    for (int i = 0; big.size() < 1'500'000; ++i) {
        big += std::to_string(i * 7919 % 100003) + ",";
    }
    add_command(c, {"SET", "string:big", big});
    add_command(c, {"SET", "string:int", "12345"});
    add_command(c, {"SET", "string:negative", "-100000"});
    add_command(c, {"SET", "string:lzf", std::string(300, 'a') + std::string(300, 'b')});
    add_command(c, {"SET", std::string(100, 'k'), "key compressed with lzf"});
    const int hash_fields = large ? 100'000 : 2'000;
    for (int i = 0; i < hash_fields; i += 1000) {
        std::vector<std::string> args{"HSET", "hash:big"};
        for (int j = i; j < i + 1000; ++j) {
            args.push_back("field:" + std::to_string(j));
            args.push_back("value:" + std::to_string(j * 31));
        }
        add_command(c, args);
    }
    add_command(c, {"HSET", "hash:small", "a", "1", "b", "2"});
    const int zset_members = large ? 50'000 : 2'000;
    for (int i = 0; i < zset_members; i += 1000) {
        std::vector<std::string> args{"ZADD", "zset:big"};
        for (int j = i; j < i + 1000; ++j) {
            args.push_back(std::to_string(j * 0.25 - 100));
            args.push_back("member:" + std::to_string(j));
        }
        add_command(c, args);
    }
    add_command(c, {"ZADD", "zset:small", "1", "one", "2.5", "two", "inf", "infinite"});
    std::vector<std::string> list{"RPUSH", "list:big"};
    for (int i = 0; i < 20'000; ++i) {
        list.push_back("item " + std::to_string(i));
    }
    add_command(c, list);
    add_command(c, {"RPUSH", "list:small", "a", "b", "1", "2"});
    add_command(c, {"SADD", "set:ints", "1", "2", "3", "-4"});
    std::vector<std::string> set{"SADD", "set:big"};
    for (int i = 0; i < 5'000; ++i) {
        set.push_back("member " + std::to_string(i));
    }
    add_command(c, set);
    add_command(c, {"SADD", "set:small", "x", "y"});
    for (int i = 0; i < 200; ++i) {
        add_command(c, {"XADD", "stream:events", "*", "n", std::to_string(i), "kind", i % 2 ? "odd" : "even"});
    }
    add_command(c, {"XGROUP", "CREATE", "stream:events", "workers", "0"});
    add_command(c, {"XGROUP", "CREATE", "stream:events", "auditors", "$"});
    add_command(c, {"XREADGROUP", "GROUP", "workers", "alice", "COUNT", "10", "STREAMS", "stream:events", ">"});
    add_command(c, {"XREADGROUP", "GROUP", "workers", "bob", "COUNT", "5", "STREAMS", "stream:events", ">"});
    add_command(c, {"XADD", "stream:empty", "MAXLEN", "0", "*", "a", "b"});
    for (int i = 0; i < 100; ++i) {
        add_command(c, {"SET", "ttl:" + std::to_string(i), "v", "PX", std::to_string(3'600'000 + i * 1000)});
    }
    add_command(c, {"HSET", "ttl:hash", "f", "v"});
    add_command(c, {"PEXPIRE", "ttl:hash", "7200000"});
    add_command(c, {"SELECT", "1"});
    for (int i = 0; i < 1000; ++i) {
        add_command(c, {"SET", "db1:" + std::to_string(i), std::to_string(i)});
    }
    add_command(c, {"SELECT", "5"});
    for (int i = 0; i < 50; ++i) {
        add_command(c, {"HSET", "db5:" + std::to_string(i), "a", "1", "b", std::to_string(i)});
    }
    add_command(c, {"FUNCTION", "LOAD",
                    "#!lua name=dbkeeplib\nredis.register_function('answer', function(keys, args) return 42 end)"});
    pipe_into(server, c);
}

engine::RedisOptions target_for(const RedisServer& server, const std::string& mode = "replication")
{
    engine::RedisOptions t;
    t.host = "127.0.0.1";
    t.port = server.port();
    t.mode = *engine::parse_redis_dump_mode(mode);
    return t;
}

struct Backup {
    Result<engine::DumpInfo> info;
    std::string data;
    int writes = 0; // the payload must arrive in pieces, never staged whole
};

Backup backup(const engine::RedisOptions& target)
{
    auto runner = runner::make_local_runner();
    auto eng = engine::make_redis_engine("cache", target, *runner);
    EXPECT_TRUE(eng.has_value());
    RecordingSink sink;
    Backup b;
    b.info = (*eng)->dump(sink);
    b.data = std::move(sink.data);
    b.writes = sink.writes;
    return b;
}

Status restore(const engine::RedisOptions& source_target, const std::string& data, const RedisServer& to,
               bool flush = false, bool merge = false)
{
    auto runner = runner::make_local_runner();
    auto eng = engine::make_redis_engine("cache", source_target, *runner);
    EXPECT_TRUE(eng.has_value());
    auto src = stream::make_string_source(data);
    engine::RestoreOptions options;
    options.to_url = to.url();
    options.flush = flush;
    options.merge = merge;
    return (*eng)->restore(*src, options);
}

std::map<std::string, std::int64_t> keyspace(const RedisServer& server)
{
    return engine::parse_redis_keyspace(server.cli({"INFO", "keyspace"}));
}

void expect_check_rdb_passes(const std::string& data)
{
    TempDir dir("dbkeep-rdb");
    write_file(dir / "dump.rdb", data);
    auto r = run({"redis-check-rdb", (dir / "dump.rdb").string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

void expect_same_data(const RedisServer& a, const RedisServer& b)
{
    EXPECT_EQ(keyspace(a), keyspace(b));
    auto digest = a.cli({"DEBUG", "DIGEST"});
    EXPECT_EQ(digest.size(), 40u) << digest;
    EXPECT_NE(digest, std::string(40, '0'));
    EXPECT_EQ(digest, b.cli({"DEBUG", "DIGEST"}));
    EXPECT_EQ(a.cli({"HLEN", "hash:big"}), b.cli({"HLEN", "hash:big"}));
    EXPECT_EQ(a.cli({"STRLEN", "string:big"}), b.cli({"STRLEN", "string:big"}));
    EXPECT_EQ(a.cli({"XINFO", "GROUPS", "stream:events"}), b.cli({"XINFO", "GROUPS", "stream:events"}));
    for (const char* key : {"ttl:0", "ttl:99", "ttl:hash"}) {
        auto ta = std::stoll(a.cli({"PEXPIRETIME", key}));
        auto tb = std::stoll(b.cli({"PEXPIRETIME", key}));
        EXPECT_GT(ta, 0) << key;
        EXPECT_LE(std::llabs(ta - tb), 1000) << key;
    }
    EXPECT_NE(b.cli({"FUNCTION", "LIST"}).find("dbkeeplib"), std::string::npos);
}

class RedisEngine : public RedisTest {};

} // namespace

// With an LFU eviction policy Redis writes a FREQ opcode (249) before every key; LRU writes IDLE (248).
TEST_F(RedisEngine, BacksUpServersWithLfuAndLruEvictionPolicies)
{
    for (const char* policy : {"allkeys-lfu", "volatile-lfu", "allkeys-lru"}) {
        RedisServer source;
        source.cli({"CONFIG", "SET", "maxmemory-policy", policy});
        for (int i = 0; i < 50; ++i) {
            source.cli({"SET", "key:" + std::to_string(i), "value " + std::to_string(i)});
        }
        source.cli({"SET", "expiring", "x", "EX", "3600"});
        source.cli({"GET", "key:1"});
        auto b = backup(target_for(source));
        ASSERT_TRUE(b.info.has_value()) << policy << ": " << b.info.error().to_string();
        EXPECT_EQ(b.info->stats, keyspace(source)) << policy;
        expect_check_rdb_passes(b.data);
        RedisServer target;
        auto st = restore(target_for(source), b.data, target);
        ASSERT_TRUE(st.has_value()) << policy << ": " << st.error().to_string();
        EXPECT_EQ(keyspace(target), keyspace(source)) << policy;
        EXPECT_EQ(target.cli({"GET", "key:49"}), "value 49") << policy;
        EXPECT_GT(std::stoll(target.cli({"TTL", "expiring"})), 0) << policy;
    }
}

TEST_F(RedisEngine, BacksUpDisklessAsAReplicaAndRestoresIdenticalData)
{
    RedisServer source;
    load_dataset(source, true);
    auto b = backup(target_for(source));
    ASSERT_TRUE(b.info.has_value()) << b.info.error().to_string();
    expect_check_rdb_passes(b.data);
    EXPECT_EQ(b.info->stats, keyspace(source));
    EXPECT_EQ(b.info->details.at("rdb_version"), "10");
    EXPECT_EQ(b.info->details.at("redis_version"), b.info->server_version);
    EXPECT_EQ(b.info->details.at("rdb_checksum"), "verified");
    EXPECT_EQ(b.info->details.at("keys_with_expiry"), "101");
    EXPECT_EQ(b.info->tool, "redis-replication");
    EXPECT_EQ(b.info->details.at("replication_payload"), "diskless");
    EXPECT_EQ(source.cli({"HLEN", "hash:big"}), "100000");
    EXPECT_GT(b.data.size(), 3'000'000u);
    EXPECT_GT(b.writes, 1) << "the payload must be streamed as it arrives";
    EXPECT_NE(source.cli({"INFO", "replication"}).find("connected_slaves:0"), std::string::npos)
        << "the engine must disconnect as soon as the payload ends";

    RedisServer target;
    auto st = restore(target_for(source), b.data, target);
    ASSERT_TRUE(st.has_value()) << st.error().to_string();
    expect_same_data(source, target);
}

TEST_F(RedisEngine, BacksUpTheDiskBasedPayloadAnnouncedByLength)
{
    RedisServer source(RedisOptions{.extra_args = {"--repl-diskless-sync", "no"}});
    load_dataset(source, false);
    auto b = backup(target_for(source));
    ASSERT_TRUE(b.info.has_value()) << b.info.error().to_string();
    EXPECT_EQ(b.info->details.at("replication_payload"), "disk");
    expect_check_rdb_passes(b.data);
    EXPECT_EQ(b.info->stats, keyspace(source));

    RedisServer target;
    auto st = restore(target_for(source), b.data, target);
    ASSERT_TRUE(st.has_value()) << st.error().to_string();
    expect_same_data(source, target);
}

TEST_F(RedisEngine, BacksUpThroughBgsaveAndTheRunner)
{
    RedisServer source;
    load_dataset(source, false);
    auto b = backup(target_for(source, "bgsave"));
    ASSERT_TRUE(b.info.has_value()) << b.info.error().to_string();
    EXPECT_EQ(b.info->tool, "redis-bgsave");
    EXPECT_EQ(b.info->stats, keyspace(source));
    expect_check_rdb_passes(b.data);
    EXPECT_EQ(b.data, read_file(source.dir() / "dump.rdb"));
}

TEST_F(RedisEngine, FailsWithAnAuthErrorOnAWrongPasswordWithoutPrintingIt)
{
    RedisServer source(RedisOptions{.extra_args = {"--requirepass", "right-password"}});
    auto t = target_for(source);
    t.password = Secret("wrong-password-123");
    auto b = backup(t);
    ASSERT_FALSE(b.info.has_value());
    EXPECT_EQ(b.info.error().kind, ErrorKind::auth);
    EXPECT_EQ(b.info.error().to_string().find("wrong-password-123"), std::string::npos);
    EXPECT_NE(b.info.error().hint.find("check the username and password of the target"), std::string::npos)
        << b.info.error().to_string();
    EXPECT_TRUE(b.data.empty());

    t.password = Secret("right-password");
    auto ok = backup(t);
    EXPECT_TRUE(ok.info.has_value()) << ok.info.error().to_string();
}

TEST_F(RedisEngine, ExplainsAMissingReplicationPermission)
{
    RedisServer source;
    source.cli({"ACL", "SETUSER", "backup", "on", ">backup-pw", "~*", "&*", "+@all", "-psync", "-sync"});
    auto t = target_for(source);
    t.username = "backup";
    t.password = Secret("backup-pw");
    auto b = backup(t);
    ASSERT_FALSE(b.info.has_value());
    EXPECT_EQ(b.info.error().kind, ErrorKind::auth);
    EXPECT_NE(b.info.error().message.find("NOPERM"), std::string::npos) << b.info.error().to_string();
    EXPECT_NE(b.info.error().hint.find("+psync"), std::string::npos);
    EXPECT_NE(b.info.error().hint.find("bgsave"), std::string::npos);
}

// Through a runner other than local the payload comes from `redis-cli --rdb`, which replicates with SYNC: the
// remedy names +sync too.
TEST_F(RedisEngine, ThroughARunnerAMissingReplicationPermissionNamesSync)
{
    RedisServer source;
    source.cli({"ACL", "SETUSER", "backup", "on", ">backup-pw", "~*", "&*", "+@all", "-psync", "-sync"});
    auto t = target_for(source);
    t.username = "backup";
    t.password = Secret("backup-pw");
    auto runner = runner::make_command_runner({.argv = {"env"}});
    auto eng = engine::make_redis_engine("cache", t, *runner);
    ASSERT_TRUE(eng.has_value());
    RecordingSink sink;
    auto info = (*eng)->dump(sink);
    ASSERT_FALSE(info.has_value());
    EXPECT_EQ(info.error().kind, ErrorKind::auth) << info.error().to_string();
    EXPECT_NE(info.error().operation.find("redis-cli --rdb"), std::string::npos) << info.error().to_string();
    EXPECT_NE(info.error().hint.find("+psync +replconf +sync"), std::string::npos) << info.error().to_string();
    EXPECT_EQ(info.error().to_string().find("backup-pw"), std::string::npos);
}

// A replica whose master is unreachable refuses PSYNC with NOMASTERLINK: the remedy is its master or bgsave,
// not a permission.
TEST_F(RedisEngine, AReplicaWhoseMasterLinkIsDownPointsAtItsMaster)
{
    const ClosedPort master;
    RedisServer replica(RedisOptions{.extra_args = {"--replicaof", "127.0.0.1", std::to_string(master.port())}});
    auto b = backup(target_for(replica));
    ASSERT_FALSE(b.info.has_value());
    EXPECT_NE(b.info.error().message.find("NOMASTERLINK"), std::string::npos) << b.info.error().to_string();
    EXPECT_NE(b.info.error().hint.find("replica whose master link is down"), std::string::npos)
        << b.info.error().to_string();
    EXPECT_NE(b.info.error().hint.find("mode: bgsave"), std::string::npos);
    EXPECT_EQ(b.info.error().hint.find("ACL"), std::string::npos) << b.info.error().hint;
}

// BGSAVE fails when the server cannot write into its dir (here: removed under it); the server's log says why.
TEST_F(RedisEngine, AFailedBgsaveSendsTheUserToTheRedisLog)
{
    RedisServer source(RedisOptions{.extra_args = {"--enable-protected-configs", "yes"}});
    source.cli({"SET", "a", "1"});
    const auto gone = source.dir() / "gone";
    std::filesystem::create_directory(gone);
    source.cli({"CONFIG", "SET", "dir", gone.string()});
    std::filesystem::remove(gone);
    auto b = backup(target_for(source, "bgsave"));
    ASSERT_FALSE(b.info.has_value());
    EXPECT_EQ(b.info.error().kind, ErrorKind::failed) << b.info.error().to_string();
    EXPECT_NE(b.info.error().message.find("the background save failed"), std::string::npos)
        << b.info.error().to_string();
    EXPECT_NE(b.info.error().hint.find("see the redis log"), std::string::npos) << b.info.error().to_string();
    EXPECT_NE(read_file(source.dir() / "log").find("temp"), std::string::npos) << "the log names the file";
}

// The rdb file BGSAVE wrote is read with `cat` where the runner runs: a runner whose user may not read the
// server's dir (here the runner drops to nobody) fails with the remedy of making it readable there.
TEST_F(RedisEngine, AnRdbFileTheRunnerCannotReadSaysWhereItMustBeReadable)
{
    RedisServer source;
    source.cli({"SET", "a", "1"});
    std::filesystem::permissions(source.dir(), std::filesystem::perms::owner_all);
    auto runner =
        runner::make_command_runner({.argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}});
    auto eng = engine::make_redis_engine("cache", target_for(source, "bgsave"), *runner);
    ASSERT_TRUE(eng.has_value());
    RecordingSink sink;
    auto info = (*eng)->dump(sink);
    ASSERT_FALSE(info.has_value());
    EXPECT_EQ(info.error().kind, ErrorKind::failed) << info.error().to_string();
    EXPECT_NE(info.error().message.find("Permission denied"), std::string::npos) << info.error().to_string();
    EXPECT_NE(info.error().hint.find("the rdb file must be readable where the target's runner runs"), std::string::npos)
        << info.error().to_string();
}

TEST_F(RedisEngine, RestoreWithFlushEmptiesTheServerFirstAndMergeKeepsOtherKeys)
{
    RedisServer source;
    source.cli({"SET", "a", "1"});
    auto b = backup(target_for(source));
    ASSERT_TRUE(b.info.has_value()) << b.info.error().to_string();

    RedisServer target;
    target.cli({"SET", "stale", "x"});
    ASSERT_TRUE(restore(target_for(source), b.data, target, false, true).has_value());
    EXPECT_EQ(target.cli({"DBSIZE"}), "2");
    ASSERT_TRUE(restore(target_for(source), b.data, target, true).has_value());
    EXPECT_EQ(target.cli({"DBSIZE"}), "1");
    EXPECT_EQ(target.cli({"GET", "a"}), "1");
}

TEST_F(RedisEngine, RestoreSkipsKeysWhoseExpiryHasPassedAndRejectsTruncatedInput)
{
    // A crafted RDB: one key expired in 1970, one without expiry, one in database 2.
    auto len_str = [](const std::string& s) { return std::string(1, static_cast<char>(s.size())) + s; };
    std::string f = "REDIS0010";
    f += std::string("\xfc") + std::string("\xe8\x03\x00\x00\x00\x00\x00\x00", 8) + std::string(1, '\0') +
         len_str("old") + len_str("x");
    f += std::string(1, '\0') + len_str("fresh") + len_str("y");
    f += std::string("\xfe\x02") + std::string(1, '\0') + len_str("other") + len_str("z");
    f += "\xff";
    std::uint64_t crc = engine::rdb::crc64(0, as_bytes(f));
    for (int i = 0; i < 8; ++i) {
        f.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
    }
    RedisServer target;
    engine::RedisOptions t = target_for(target);
    auto st = restore(t, f, target);
    ASSERT_TRUE(st.has_value()) << st.error().to_string();
    EXPECT_EQ(keyspace(target), (std::map<std::string, std::int64_t>{{"db0", 1}, {"db2", 1}}));
    EXPECT_EQ(target.cli({"-n", "2", "GET", "other"}), "z");

    auto truncated = restore(t, f.substr(0, f.size() - 3), target, false, true);
    ASSERT_FALSE(truncated.has_value());
    EXPECT_EQ(truncated.error().kind, ErrorKind::corruption);
}

TEST_F(RedisEngine, ReportsKeyCountsOfALiveServer)
{
    RedisServer server;
    server.cli({"SET", "a", "1"});
    server.cli({"-n", "3", "SET", "b", "1"});
    auto runner = runner::make_local_runner();
    auto t = target_for(server);
    auto eng = engine::make_redis_engine("cache", t, *runner);
    ASSERT_TRUE(eng.has_value());
    auto stats = (*eng)->stats(server.url(), "");
    ASSERT_TRUE(stats.has_value()) << stats.error().to_string();
    EXPECT_EQ(*stats, (std::map<std::string, std::int64_t>{{"db0", 1}, {"db3", 1}}));
}

TEST_F(RedisEngine, StopsWithACancelledErrorWhenCancellationWasRequested)
{
    RedisServer server;
    server.cli({"SET", "a", "1"});
    cancel::request();
    auto b = backup(target_for(server));
    cancel::reset();
    ASSERT_FALSE(b.info.has_value());
    EXPECT_EQ(b.info.error().kind, ErrorKind::cancelled);
}

TEST_F(RedisEngine, ProbeReportsMissingReplicationRights)
{
    RedisServer server;
    server.cli({"ACL", "SETUSER", "backup", "on", ">backup-pw", "~*", "&*", "+@all", "-psync", "-sync"});
    auto runner = runner::make_local_runner();
    auto good = target_for(server);
    auto eng = engine::make_redis_engine("cache", good, *runner);
    ASSERT_TRUE(eng.has_value());
    auto findings = (*eng)->probe();
    // connect, replication, the diskless-sync delay (0 in the fixture) and the rdb version: all pass.
    ASSERT_EQ(findings.size(), 4u);
    for (const auto& f : findings) {
        EXPECT_EQ(f.outcome, Outcome::pass) << f.probe << ": " << f.finding;
    }
    EXPECT_EQ(findings[1].probe, "redis.replication");

    auto narrow = target_for(server);
    narrow.username = "backup";
    narrow.password = Secret("backup-pw");
    auto eng2 = engine::make_redis_engine("cache", narrow, *runner);
    ASSERT_TRUE(eng2.has_value());
    findings = (*eng2)->probe();
    ASSERT_EQ(findings.size(), 4u);
    EXPECT_EQ(findings[1].probe, "redis.replication");
    EXPECT_EQ(findings[1].outcome, Outcome::fail) << findings[1].finding;
    EXPECT_NE(findings[1].remedy.find("+psync"), std::string::npos);

    auto wrong = narrow;
    wrong.password = Secret("nope");
    auto eng3 = engine::make_redis_engine("cache", wrong, *runner);
    ASSERT_TRUE(eng3.has_value());
    findings = (*eng3)->probe();
    ASSERT_EQ(findings.size(), 1u);
    EXPECT_EQ(findings[0].outcome, Outcome::fail);
}

TEST_F(RedisEngine, BacksUpAServerThatWritesNeitherChecksumsNorCompression)
{
    RedisServer source(RedisOptions{.extra_args = {"--rdbchecksum", "no", "--rdbcompression", "no"}});
    load_dataset(source, false);
    auto b = backup(target_for(source));
    ASSERT_TRUE(b.info.has_value()) << b.info.error().to_string();
    EXPECT_EQ(b.info->details.at("rdb_checksum"), "disabled by the server");
    EXPECT_EQ(b.info->stats, keyspace(source));

    RedisServer target;
    auto st = restore(target_for(source), b.data, target);
    ASSERT_TRUE(st.has_value()) << st.error().to_string();
    expect_same_data(source, target);
}

TEST_F(RedisEngine, BacksUpWithTheMinimalUserTheReadmeRecommends)
{
    RedisServer source;
    source.cli({"SET", "a", "1"});
    source.cli({"ACL", "SETUSER", "backup", "on", ">backup-pw", "+psync", "+replconf", "+info"});
    auto t = target_for(source);
    t.username = "backup";
    t.password = Secret("backup-pw");
    auto b = backup(t);
    ASSERT_TRUE(b.info.has_value()) << b.info.error().to_string();
    EXPECT_EQ(b.info->stats.at("db0"), 1);
    EXPECT_FALSE(b.info->server_version.empty());
}
