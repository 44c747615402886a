// Issue 14, kind 1: every RDB a Redis 7 server writes under any configuration is backed up and restored. Real
// servers write RDBs under each maxmemory-policy family (none, LRU, LFU, volatile LFU), with and without
// compression and checksums, with small and large listpack/intset thresholds, holding every data type; each is
// backed up and restored through the dbkeep binary and compared: contents (DEBUG DIGEST), encodings, TTLs, and
// the keys' LFU counters (OBJECT FREQ) and LRU idle times (OBJECT IDLETIME), which RESTORE's FREQ / IDLETIME carry.
#include "engine/redis/redis.hpp"
#include "support/redis_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

void add_command(std::string& out, const std::vector<std::string>& args)
{
    out += "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) {
        out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    }
}

// Every type, in sizes either side of the thresholds below, with TTLs, two databases and a function library.
void load(const RedisServer& server)
{
    std::string c;
    add_command(c, {"SET", "string:int", "12345"});
    add_command(c, {"SET", "string:raw", "plain value"});
    add_command(c, {"SET", "string:lzf", std::string(2000, 'a') + std::string(2000, 'b')});
    add_command(c, {"SET", std::string("bin\0key\xff", 8), std::string("\x00\x01\x02", 3)});
    add_command(c, {"HSET", "hash:small", "a", "1"});
    add_command(c, {"ZADD", "zset:small", "1", "a"});
    add_command(c, {"SADD", "set:small", "1"});
    add_command(c, {"RPUSH", "list:small", "a"});
    std::vector<std::string> hash{"HSET", "hash:mid"}, zset{"ZADD", "zset:mid"}, ints{"SADD", "set:ints"},
        strs{"SADD", "set:strs"}, list{"RPUSH", "list:mid"};
    for (int i = 0; i < 300; ++i) {
        const std::string n = std::to_string(i);
        hash.insert(hash.end(), {"field:" + n, "value:" + n});
        zset.insert(zset.end(), {std::to_string(i * 0.5 - 20), "member:" + n});
        ints.push_back(std::to_string(i * 3 - 100));
        strs.push_back("member " + n);
        list.push_back("item " + n);
    }
    for (const auto& args : {hash, zset, ints, strs, list}) {
        add_command(c, args);
    }
    for (int i = 0; i < 50; ++i) {
        add_command(c, {"XADD", "stream", "*", "n", std::to_string(i)});
    }
    add_command(c, {"XGROUP", "CREATE", "stream", "workers", "0"});
    add_command(c, {"XREADGROUP", "GROUP", "workers", "alice", "COUNT", "7", "STREAMS", "stream", ">"});
    for (int i = 0; i < 20; ++i) {
        add_command(c, {"SET", "ttl:" + std::to_string(i), "v", "EX", std::to_string(3600 + i)});
    }
    for (int i = 0; i < 10; ++i) {
        add_command(c, {"SET", "hot:" + std::to_string(i), "v" + std::to_string(i)});
    }
    add_command(c, {"SELECT", "3"});
    add_command(c, {"HSET", "db3:hash", "a", "1"});
    add_command(c, {"SET", "db3:string", "x"});
    add_command(c, {"FUNCTION", "LOAD", "#!lua name=matrix\nredis.register_function('f', function() return 1 end)"});
    auto out = server.cli({"--pipe"}, c);
    ASSERT_NE(out.find("errors: 0"), std::string::npos) << out;
}

// Gives hot:<i> an LFU counter of i * 25 or an idle time of i * 1000 s (RESTORE accepts either under any policy
// and keeps the one the policy tracks).
void set_access(const RedisServer& server, bool lfu)
{
    const char* script = "local d = redis.call('DUMP', KEYS[1]) "
                         "return redis.call('RESTORE', KEYS[1], 0, d, 'REPLACE', ARGV[1], ARGV[2])";
    for (int i = 0; i < 10; ++i) {
        auto r = server.cli({"EVAL", script, "1", "hot:" + std::to_string(i), lfu ? "FREQ" : "IDLETIME",
                             std::to_string(lfu ? i * 25 : i * 1000)});
        ASSERT_EQ(r, "OK");
    }
}

std::vector<std::string> threshold_args(bool small)
{
    if (small) {
        return {"--hash-max-listpack-entries", "2", "--hash-max-listpack-value", "8",
                "--zset-max-listpack-entries", "2", "--zset-max-listpack-value", "8",
                "--set-max-intset-entries",    "2", "--list-max-listpack-size",  "2",
                "--stream-node-max-entries",   "4"};
    }
    return {"--hash-max-listpack-entries", "10000", "--hash-max-listpack-value", "4096",
            "--zset-max-listpack-entries", "10000", "--zset-max-listpack-value", "4096",
            "--set-max-intset-entries",    "10000", "--list-max-listpack-size",  "-5",
            "--stream-node-max-entries",   "10000"};
}

std::map<std::string, std::int64_t> engine_keyspace(const RedisServer& server)
{
    return engine::parse_redis_keyspace(server.cli({"INFO", "keyspace"}));
}

class RedisRdbMatrix : public RedisTest {};

} // namespace

TEST_F(RedisRdbMatrix, EveryConfigurationsRdbIsBackedUpAndRestoredWithItsAccessMetadata)
{
    int n = 0;
    std::string config = m_work.local_storage_yaml() + "targets:\n";
    for (const char* policy : {"noeviction", "allkeys-lru", "allkeys-lfu", "volatile-lfu"}) {
        for (bool compression : {true, false}) {
            for (bool checksum : {true, false}) {
                for (bool small : {true, false}) {
                    const std::string name = "m" + std::to_string(n++);
                    SCOPED_TRACE(name + ": " + policy + (compression ? ", rdbcompression yes" : ", rdbcompression no") +
                                 (checksum ? ", rdbchecksum yes" : ", rdbchecksum no") +
                                 (small ? ", small thresholds" : ", large thresholds"));
                    const bool lfu = std::string_view(policy).find("lfu") != std::string_view::npos;
                    std::vector<std::string> args{
                        "--maxmemory-policy",       policy,          "--lfu-decay-time",     "0", "--rdbcompression",
                        compression ? "yes" : "no", "--rdbchecksum", checksum ? "yes" : "no"};
                    for (auto& a : threshold_args(small)) {
                        args.push_back(a);
                    }
                    RedisServer source(RedisOptions{.extra_args = args});
                    // A TTL counts down and an idle time up from here, for as long as the backup and restore
                    // take (seconds under ASan on a loaded machine): the bounds below allow for what elapsed.
                    const auto loaded = std::chrono::steady_clock::now();
                    load(source);
                    set_access(source, lfu);
                    config += "  " + name + ":\n    engine: redis\n    url: " + source.url() + "\n";
                    m_work.write_config(config);
                    auto b = dbkeep({"backup", name});
                    ASSERT_EQ(b.exit_code, 0) << b.err;

                    RedisServer dest(RedisOptions{.extra_args = args});
                    auto r = dbkeep({"restore", name, "--to", dest.url()});
                    ASSERT_EQ(r.exit_code, 0) << r.err;

                    EXPECT_EQ(dest.cli({"DEBUG", "DIGEST"}), source.cli({"DEBUG", "DIGEST"}));
                    EXPECT_EQ(engine_keyspace(dest), engine_keyspace(source));
                    for (const char* key : {"hash:mid", "zset:mid", "set:ints", "set:strs", "list:mid"}) {
                        EXPECT_EQ(dest.cli({"OBJECT", "ENCODING", key}), source.cli({"OBJECT", "ENCODING", key}))
                            << key;
                    }
                    EXPECT_EQ(source.cli({"OBJECT", "ENCODING", "hash:mid"}), small ? "hashtable" : "listpack");
                    EXPECT_EQ(source.cli({"OBJECT", "ENCODING", "set:ints"}), small ? "hashtable" : "intset");
                    const long long elapsed =
                        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - loaded)
                            .count() +
                        2;
                    const long long ttl = std::stoll(dest.cli({"TTL", "ttl:19"}));
                    EXPECT_LE(ttl, 3619);
                    EXPECT_GE(ttl, 3619 - elapsed);
                    EXPECT_NE(dest.cli({"FUNCTION", "LIST"}).find("matrix"), std::string::npos);
                    for (int i = 0; i < 10; ++i) {
                        const std::string key = "hot:" + std::to_string(i);
                        if (lfu) {
                            EXPECT_EQ(dest.cli({"OBJECT", "FREQ", key}), std::to_string(i * 25)) << key;
                        } else if (std::string_view(policy) == "allkeys-lru") {
                            const long long idle = std::stoll(dest.cli({"OBJECT", "IDLETIME", key}));
                            EXPECT_GE(idle, i * 1000 - 1) << key; // the LRU clock ticks in whole seconds
                            EXPECT_LE(idle, i * 1000 + elapsed) << key;
                        }
                    }
                }
            }
        }
    }
}
