// Redis restores that never put a key anywhere but where it belongs, against real redis-server 7 instances:
// a refused SELECT (too few databases, an ACL user without SELECT), an older destination, a non-empty one, and
// a destination that evicts keys while they are restored.
#include "core/cancel.hpp"
#include "engine/redis/redis.hpp"
#include "runner/local.hpp"
#include "runner/prefix.hpp"
#include "support/recording_sink.hpp"
#include "support/redis_fixture.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <regex>
#include <thread>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

engine::RedisOptions target_for(const RedisServer& server)
{
    engine::RedisOptions t;
    t.host = "127.0.0.1";
    t.port = server.port();
    return t;
}

Result<engine::DumpInfo> backup(const RedisServer& server, std::string& data)
{
    auto runner = runner::make_local_runner();
    auto eng = engine::make_redis_engine("cache", target_for(server), *runner);
    EXPECT_TRUE(eng.has_value());
    RecordingSink sink;
    auto info = (*eng)->dump(sink);
    data = std::move(sink.data);
    return info;
}

Status restore(stream::Source& src, engine::RestoreOptions options,
               std::unique_ptr<runner::Runner> runner = runner::make_local_runner())
{
    auto eng = engine::make_redis_engine("cache", engine::RedisOptions{}, *runner);
    EXPECT_TRUE(eng.has_value());
    return (*eng)->restore(src, options);
}

Status restore(const std::string& data, engine::RestoreOptions options,
               std::unique_ptr<runner::Runner> runner = runner::make_local_runner())
{
    auto src = stream::make_string_source(data);
    return restore(*src, std::move(options), std::move(runner));
}

std::map<std::string, std::int64_t> keyspace(const RedisServer& server)
{
    return engine::parse_redis_keyspace(server.cli({"INFO", "keyspace"}));
}

// `count` keys "<prefix>:<i>" in database db, through redis-cli's pipe.
void fill(const RedisServer& server, int db, const std::string& prefix, int count, std::size_t value_size = 8)
{
    std::string c = "SELECT " + std::to_string(db) + "\n";
    for (int i = 0; i < count; ++i) {
        c += "SET " + prefix + ":" + std::to_string(i) + " " + std::string(value_size, 'v') + "\n";
    }
    auto out = server.cli({"--pipe"}, c);
    ASSERT_NE(out.find("errors: 0"), std::string::npos) << out;
}

class RedisRestore : public RedisTest {};

} // namespace

// Issue 14, example 2: SELECT 20 fails on a 16-database server. Without a manifest (the database list is known
// only while streaming) the keys of db 0 and db 5 are restored, the SELECT is read before any key of db 20 is
// sent, and the restore stops there: nothing lands in db 5 (the previous database) or anywhere else.
TEST_F(RedisRestore, ARefusedSelectStopsTheRestoreBeforeAnyKeyOfThatDatabaseIsSent)
{
    RedisServer source(RedisOptions{.extra_args = {"--databases", "32"}});
    fill(source, 0, "zero", 1200);
    fill(source, 5, "five", 30);
    fill(source, 20, "twenty", 40);
    fill(source, 31, "last", 50);
    std::string data;
    auto info = backup(source, data);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();

    RedisServer dest(RedisOptions{.extra_args = {"--databases", "16"}});
    auto st = restore(data, {.to_url = dest.url()});
    ASSERT_FALSE(st.has_value());
    EXPECT_NE(st.error().message.find("restored 1,230 keys into db 0 and db 5; SELECT 20 failed: ERR DB index is "
                                      "out of range; nothing was written into any other database"),
              std::string::npos)
        << st.error().to_string();
    EXPECT_NE(st.error().hint.find("databases 21"), std::string::npos) << st.error().to_string();
    EXPECT_EQ(keyspace(dest), (std::map<std::string, std::int64_t>{{"db0", 1200}, {"db5", 30}}));
}

// With the manifest's key counts the database list is known before anything is written: the restore refuses
// up front and --flush does not empty the destination.
TEST_F(RedisRestore, ABackupWithMoreDatabasesThanTheDestinationIsRefusedBeforeFlushing)
{
    RedisServer source(RedisOptions{.extra_args = {"--databases", "32"}});
    fill(source, 0, "zero", 10);
    fill(source, 20, "twenty", 40);
    fill(source, 31, "last", 50);
    write_config(source.url());
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;

    RedisServer dest(RedisOptions{.extra_args = {"--databases", "16"}});
    dest.cli({"SET", "keep", "me"});
    auto r = dbkeep({"restore", "cache", "--to", dest.url(), "--flush", "--yes"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("the backup has keys in db 20 and db 31 and SELECT 20 failed: ERR DB index is out of "
                         "range; nothing was written"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("the destination has 16 databases: set `databases 21`"), std::string::npos) << r.err;
    EXPECT_EQ(keyspace(dest), (std::map<std::string, std::int64_t>{{"db0", 1}}));
    EXPECT_EQ(dest.cli({"GET", "keep"}), "me");
}

// Example 2 with an ACL user that may not SELECT: db 5's keys must not land in db 0.
TEST_F(RedisRestore, AnAclUserWithoutSelectWritesNothingOutsideDatabaseZero)
{
    RedisServer source;
    fill(source, 0, "zero", 1500);
    fill(source, 5, "five", 70);
    std::string data;
    auto info = backup(source, data);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();

    RedisServer dest;
    dest.cli({"ACL", "SETUSER", "restorer", "on", ">restore-pw", "~*", "&*", "+@all", "-select"});
    const std::string url = "redis://restorer:restore-pw@127.0.0.1:" + std::to_string(dest.port());
    auto st = restore(data, {.to_url = url});
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().kind, ErrorKind::auth) << st.error().to_string();
    EXPECT_NE(st.error().message.find("restored 1,500 keys into db 0; SELECT 5 failed: NOPERM"), std::string::npos)
        << st.error().to_string();
    EXPECT_NE(st.error().message.find("nothing was written into any other database"), std::string::npos);
    EXPECT_NE(st.error().hint.find("+select"), std::string::npos) << st.error().to_string();
    EXPECT_EQ(st.error().to_string().find("restore-pw"), std::string::npos);
    EXPECT_EQ(keyspace(dest), (std::map<std::string, std::int64_t>{{"db0", 1500}}));

    // Knowing the databases from the manifest, nothing is written at all.
    dest.cli({"FLUSHALL"});
    auto known = restore(data, {.to_url = url, .expected_stats = info->stats, .details = info->details});
    ASSERT_FALSE(known.has_value());
    EXPECT_NE(known.error().message.find("the backup has keys in db 5 and SELECT 5 failed: NOPERM"), std::string::npos)
        << known.error().to_string();
    EXPECT_TRUE(keyspace(dest).empty());
}

// Example 3: an older destination is found before FLUSHALL. Redis 7.0 loads rdb versions up to 10; the
// server that wrote this backup is 7.0 too, so "older" is simulated by raising the manifest's rdb_version to 12
// in the test's copy of the stored backup.
TEST_F(RedisRestore, AnOlderDestinationIsRefusedBeforeFlushAsTheManifestSays)
{
    RedisServer source;
    source.cli({"SET", "a", "1"});
    write_config(source.url());
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto manifests = m_work.manifests();
    ASSERT_EQ(manifests.size(), 1u);
    const auto path = m_work.backups() / manifests[0];
    std::string json = read_file(path);
    const std::regex rdb_version(R"("rdb_version"\s*:\s*"10")");
    ASSERT_TRUE(std::regex_search(json, rdb_version)) << json;
    write_file(path, std::regex_replace(json, rdb_version, R"("rdb_version": "12")"));

    RedisServer dest;
    dest.cli({"SET", "keep", "me"});
    auto r = dbkeep({"restore", "cache", "--to", dest.url(), "--flush", "--yes"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("which loads rdb versions up to 10, and the backup is rdb version 12 (per its manifest"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("restore into Redis 7.4 or newer"), std::string::npos) << r.err;
    EXPECT_EQ(dest.cli({"GET", "keep"}), "me");
}

// The same check reads the file's own header when there is no manifest: a crafted RDB 12 file (which the
// parser accepts) against Redis 7.0 leaves the destination untouched instead of flushed and then refused.
TEST_F(RedisRestore, AnOlderDestinationIsRefusedBeforeFlushAsTheFileHeaderSays)
{
    std::string f = "REDIS0012";
    f += std::string(1, '\0') + "\x01" + "a" + "\x01" + "1";
    f += "\xff" + std::string(8, '\0'); // a disabled checksum
    RedisServer dest;
    dest.cli({"SET", "keep", "me"});
    auto st = restore(f, {.to_url = dest.url(), .flush = true});
    ASSERT_FALSE(st.has_value());
    EXPECT_NE(st.error().message.find("the backup is rdb version 12 (per the file's header)"), std::string::npos)
        << st.error().to_string();
    EXPECT_EQ(dest.cli({"GET", "keep"}), "me");
}

// Example 5: keys of a live server are not replaced without asking; --merge asks, --flush (with --yes) too.
TEST_F(RedisRestore, ANonEmptyDestinationNeedsMergeOrFlush)
{
    RedisServer source;
    source.cli({"SET", "a", "from-backup"});
    source.cli({"SET", "b", "from-backup"});
    write_config(source.url());
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;

    RedisServer dest;
    dest.cli({"SET", "a", "live"});
    dest.cli({"-n", "3", "SET", "other", "live"});
    auto refused = dbkeep({"restore", "cache", "--to", dest.url()});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("the destination is not empty: it holds 2 keys (db0: 1, db3: 1)"), std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("--merge"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("--flush --yes"), std::string::npos) << refused.err;
    EXPECT_EQ(dest.cli({"GET", "a"}), "live");
    EXPECT_EQ(dest.cli({"EXISTS", "b"}), "0");

    auto both = dbkeep({"restore", "cache", "--to", dest.url(), "--merge", "--flush", "--yes"});
    EXPECT_EQ(both.exit_code, 2) << both.err;

    auto merged = dbkeep({"restore", "cache", "--to", dest.url(), "--merge"});
    ASSERT_EQ(merged.exit_code, 0) << merged.err;
    EXPECT_EQ(dest.cli({"GET", "a"}), "from-backup");
    EXPECT_EQ(dest.cli({"GET", "b"}), "from-backup");
    EXPECT_EQ(dest.cli({"-n", "3", "GET", "other"}), "live");
}

// Example 4: a destination too small for the backup evicts keys while they are restored: the restore fails and
// says how many were evicted and how many of the restored keys are there.
TEST_F(RedisRestore, EvictionsDuringTheRestoreFailItWithTheNumbers)
{
    RedisServer source;
    fill(source, 0, "big", 6100, 1000);
    std::string data;
    auto info = backup(source, data);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();

    RedisServer dest(RedisOptions{.extra_args = {"--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"}});
    // --force: past the check of maxmemory before the restore (see the test after this one).
    auto st =
        restore(data, {.to_url = dest.url(), .force = true, .expected_stats = info->stats, .details = info->details});
    ASSERT_FALSE(st.has_value()) << "keys: " << dest.cli({"DBSIZE"});
    const std::string text = st.error().to_string();
    EXPECT_NE(text.find("restored 6,100 keys into db 0, but the destination evicted"), std::string::npos) << text;
    EXPECT_NE(text.find("maxmemory-policy allkeys-lru"), std::string::npos) << text;
    EXPECT_NE(text.find("db 0 holds "), std::string::npos) << text;
    EXPECT_NE(text.find(" of the 6,100 keys restored into it"), std::string::npos) << text;
    EXPECT_LT(std::stoll(dest.cli({"DBSIZE"})), 6100);
    EXPECT_NE(st.error().hint.find("noeviction"), std::string::npos) << text;
}

// Kind 2: the destination's maxmemory is compared with the memory the backup's keys took on the source (the
// manifest records it) before anything is written: refused with the numbers and the fix, even before --flush;
// --force goes on with a warning (and the evictions then fail the restore). A manifest without the source's
// memory (older backups) skips the check.
TEST_F(RedisRestore, ADestinationWhoseMaxmemoryIsTooSmallIsRefusedBeforeFlushingUnlessForced)
{
    RedisServer source;
    fill(source, 0, "big", 6100, 1000);
    write_config(source.url());
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto manifests = m_work.manifests();
    ASSERT_EQ(manifests.size(), 1u);
    const auto path = m_work.backups() / manifests[0];
    const std::string json = read_file(path);
    ASSERT_NE(json.find("\"used_memory\""), std::string::npos) << json;

    RedisServer dest(RedisOptions{.extra_args = {"--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"}});
    dest.cli({"SET", "keep", "me"});
    auto refused = dbkeep({"restore", "cache", "--to", dest.url(), "--flush", "--yes"});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("the backup's keys took "), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("has maxmemory 4.0 MiB (4,194,304 bytes) (maxmemory-policy allkeys-lru): it would "
                               "evict keys while they are restored; nothing was written"),
              std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("CONFIG SET maxmemory "), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;
    EXPECT_EQ(dest.cli({"GET", "keep"}), "me");

    RedisServer full(RedisOptions{.extra_args = {"--maxmemory", "4mb", "--maxmemory-policy", "noeviction"}});
    auto oom = dbkeep({"restore", "cache", "--to", full.url()});
    EXPECT_NE(oom.exit_code, 0);
    EXPECT_NE(oom.err.find("it would refuse writes (OOM) part-way"), std::string::npos) << oom.err;
    EXPECT_EQ(full.cli({"DBSIZE"}), "0");

    auto forced = dbkeep({"restore", "cache", "--to", dest.url(), "--flush", "--yes", "--force"});
    EXPECT_NE(forced.exit_code, 0);
    EXPECT_NE(forced.err.find("restoring despite --force"), std::string::npos) << forced.err;
    EXPECT_NE(forced.err.find("but the destination evicted"), std::string::npos) << forced.err;

    RedisServer roomy(RedisOptions{.extra_args = {"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"}});
    auto fits = dbkeep({"restore", "cache", "--to", roomy.url()});
    EXPECT_EQ(fits.exit_code, 0) << fits.err;
    EXPECT_EQ(roomy.cli({"DBSIZE"}), "6100");

    // An older manifest, without the source's memory: not checked (the restore then fails on the evictions).
    write_file(path, std::regex_replace(json, std::regex(R"("used_memory")"), R"("not_recorded")"));
    auto old = dbkeep({"restore", "cache", "--to", dest.url(), "--flush", "--yes"});
    EXPECT_NE(old.exit_code, 0);
    EXPECT_EQ(old.err.find("the backup's keys took "), std::string::npos) << old.err;
    EXPECT_NE(old.err.find("but the destination evicted"), std::string::npos) << old.err;
}

// verify --restore has the same --force as restore: a scratch server whose maxmemory looks too small is refused
// before anything is written, --force test-restores anyway (and the evictions then fail the verification).
TEST_F(RedisRestore, VerifyRestoreIntoATooSmallScratchIsRefusedUnlessForced)
{
    RedisServer source;
    fill(source, 0, "big", 6100, 1000);
    write_config(source.url());
    ASSERT_EQ(dbkeep({"backup", "cache"}).exit_code, 0);
    RedisServer scratch(RedisOptions{.extra_args = {"--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"}});
    auto refused = dbkeep({"verify", "cache", "--restore", "--to", scratch.url()});
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.out.find("FAILED"), std::string::npos) << refused.out;
    EXPECT_NE(refused.out.find("--force"), std::string::npos) << refused.out;
    EXPECT_EQ(scratch.cli({"DBSIZE"}), "0");
    auto forced = dbkeep({"verify", "cache", "--restore", "--force", "--to", scratch.url()});
    EXPECT_EQ(forced.exit_code, 1);
    EXPECT_NE(forced.err.find("restoring despite --force"), std::string::npos) << forced.err;
    EXPECT_NE(forced.out.find("evicted"), std::string::npos) << forced.out;
}

// Through a runner other than local, keys go through `redis-cli --pipe`, which reports errors only at its end:
// the pipe is finished and the SELECT tried on its own before the keys of the next database are piped. (`env`
// as the prefix: `setsid` may fork and exit 0 at once, hiding redis-cli's exit status.)
TEST_F(RedisRestore, ThroughARunnerTheRefusedSelectAlsoStopsTheRestoreBeforeThatDatabase)
{
    RedisServer source(RedisOptions{.extra_args = {"--databases", "32"}});
    fill(source, 0, "zero", 1200);
    fill(source, 5, "five", 30);
    fill(source, 20, "twenty", 40);
    std::string data;
    auto info = backup(source, data);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();
    auto through = [] { return runner::make_command_runner({.argv = {"env"}}); };

    RedisServer big(RedisOptions{.extra_args = {"--databases", "32"}});
    auto ok = restore(data, {.to_url = big.url()}, through());
    ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
    EXPECT_EQ(keyspace(big), keyspace(source));

    RedisServer dest(RedisOptions{.extra_args = {"--databases", "16"}});
    auto st = restore(data, {.to_url = dest.url()}, through());
    ASSERT_FALSE(st.has_value());
    EXPECT_NE(st.error().message.find("restored 1,230 keys into db 0 and db 5; SELECT 20 failed: ERR DB index is "
                                      "out of range; nothing was written into any other database"),
              std::string::npos)
        << st.error().to_string();
    EXPECT_EQ(keyspace(dest), (std::map<std::string, std::int64_t>{{"db0", 1200}, {"db5", 30}}));

    // redis-cli reports refused RESTOREs when its pipe ends: before the next database's keys are piped.
    RedisServer narrow(RedisOptions{.extra_args = {"--databases", "32"}});
    narrow.cli({"ACL", "SETUSER", "restorer", "on", ">restore-pw", "~*", "&*", "+@all", "-restore"});
    const std::string url = "redis://restorer:restore-pw@127.0.0.1:" + std::to_string(narrow.port());
    auto refused = restore(data, {.to_url = url}, through());
    ASSERT_FALSE(refused.has_value());
    EXPECT_NE(refused.error().message.find("NOPERM"), std::string::npos) << refused.error().to_string();
    EXPECT_NE(refused.error().message.find("before switching to db 5, every key sent went into its own database "
                                           "(1,200 keys sent to db 0)"),
              std::string::npos)
        << refused.error().to_string();
    EXPECT_TRUE(keyspace(narrow).empty());
}

// `verify --restore` leaves its scratch server in place; testing the same backup again replaces its keys (the
// test restore merges) and the counts still match the manifest.
TEST_F(RedisRestore, VerifyRestoreCanRunTwiceIntoTheSameScratchServer)
{
    RedisServer source;
    fill(source, 0, "zero", 20);
    fill(source, 2, "two", 5);
    write_config(source.url());
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    RedisServer scratch;
    for (int i = 0; i < 2; ++i) {
        auto v = dbkeep({"verify", "cache", "--restore", "--to", scratch.url()});
        EXPECT_EQ(v.exit_code, 0) << i << ": " << v.err;
    }
    EXPECT_EQ(keyspace(scratch), keyspace(source));
}

namespace {

std::string replication_role(const RedisServer& server)
{
    const std::string info = server.cli({"INFO", "replication"});
    const auto at = info.find("role:");
    return at == std::string::npos ? "" : info.substr(at + 5, info.find_first_of("\r\n", at) - at - 5);
}

// A source that requests cancellation (as SIGTERM does) once it has handed out `after` bytes.
class CancellingSource final : public stream::Source {
public:
    CancellingSource(std::string data, std::size_t after) : m_data(std::move(data)), m_after(after) {}
    Result<std::size_t> read(MutableBytes out) override
    {
        if (m_pos >= m_after) {
            cancel::request();
        }
        const std::size_t n = std::min({out.size(), m_data.size() - m_pos, std::size_t{64} << 10});
        std::memcpy(out.data(), m_data.data() + m_pos, n);
        m_pos += n;
        return n;
    }

private:
    std::string m_data;
    std::size_t m_after;
    std::size_t m_pos = 0;
};

// A source that hands out `after` bytes, then waits (at most 30 s) until `open` is set: a slow read from storage.
class GatedSource final : public stream::Source {
public:
    GatedSource(std::string data, std::size_t after, const std::atomic<bool>& open)
        : m_data(std::move(data)), m_after(after), m_open(open)
    {
    }
    Result<std::size_t> read(MutableBytes out) override
    {
        for (int i = 0; m_pos >= m_after && !m_open && i < 3000; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        const std::size_t n = std::min({out.size(), m_data.size() - m_pos, std::size_t{64} << 10});
        std::memcpy(out.data(), m_data.data() + m_pos, n);
        m_pos += n;
        return n;
    }

private:
    std::string m_data;
    std::size_t m_after;
    const std::atomic<bool>& m_open;
    std::size_t m_pos = 0;
};

// Calls `step` every 20 ms on a thread of its own until it returns true or the watcher stops; joined on every
// path (an ASSERT that returns early included), and an exception from `step` (a redis-cli that failed) is kept
// for error() instead of ending the process.
class Watcher {
public:
    explicit Watcher(std::function<bool()> step)
        : m_thread([this, step = std::move(step)] {
              try {
                  while (!m_stop && !step()) {
                      std::this_thread::sleep_for(std::chrono::milliseconds(20));
                  }
              } catch (const std::exception& e) {
                  m_error = e.what();
              }
          })
    {
    }
    ~Watcher() { stop(); }
    Watcher(const Watcher&) = delete;
    Watcher& operator=(const Watcher&) = delete;
    void stop()
    {
        m_stop = true;
        if (m_thread.joinable()) {
            m_thread.join();
        }
    }
    // After stop(): why `step` threw, or empty.
    const std::string& error() const { return m_error; }

private:
    std::atomic<bool> m_stop{false};
    std::string m_error;
    std::thread m_thread; // last: it starts with the members above already made
};

} // namespace

// Issue 14, kind 4: `restore --flush` into a server on this machine hands it the RDB as a full synchronisation
// (dbkeep as its master), so it loads the file at the speed of a restart instead of one RESTORE per key; the
// destination's own keys are replaced, every database and TTL arrives, and it is a master again afterwards.
TEST_F(RedisRestore, AFlushRestoreIsLoadedByTheServerAsAFullSynchronisation)
{
    RedisServer source;
    fill(source, 0, "zero", 3000, 100);
    fill(source, 5, "five", 200);
    source.cli({"SET", "ttl", "v", "EX", "3600"});
    write_config(source.url());
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;

    RedisServer dest;
    dest.cli({"SET", "stale", "live"});
    dest.cli({"-n", "3", "SET", "other", "live"});
    auto r = dbkeep({"restore", "cache", "--to", dest.url(), "--flush", "--yes"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("redis restore by full synchronisation"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("restored 3,201 keys into db 0 and db 5 by full synchronisation"), std::string::npos) << r.err;
    EXPECT_EQ(keyspace(dest), keyspace(source));
    EXPECT_EQ(dest.cli({"EXISTS", "stale"}), "0");
    EXPECT_EQ(dest.cli({"GET", "zero:2999"}), std::string(100, 'v'));
    EXPECT_GT(std::stoll(dest.cli({"TTL", "ttl"})), 3000);
    EXPECT_EQ(replication_role(dest), "master");
    dest.cli({"SET", "writable", "yes"}); // a master again: it takes writes
    EXPECT_EQ(dest.cli({"GET", "writable"}), "yes");
}

// The payload's last bytes are held back until the backup has passed its checks: a stored object damaged near
// its end fails the restore and the destination keeps every key it had (the old path had run FLUSHALL first).
TEST_F(RedisRestore, ADamagedBackupLeavesAFlushRestoresDestinationAsItWas)
{
    RedisServer source;
    fill(source, 0, "zero", 2000, 100);
    write_config(source.url());
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    std::filesystem::path object;
    for (const auto& f : m_work.stored_files()) {
        if (f.ends_with(".rdb.zst")) {
            object = m_work.backups() / f;
        }
    }
    ASSERT_FALSE(object.empty());
    std::string bytes = read_file(object);
    bytes[bytes.size() - 20] = static_cast<char>(bytes[bytes.size() - 20] ^ 0x55);
    write_file(object, bytes);

    RedisServer dest;
    fill(dest, 0, "mine", 50);
    auto r = dbkeep({"restore", "cache", "--to", dest.url(), "--flush", "--yes"});
    EXPECT_NE(r.exit_code, 0) << r.err;
    EXPECT_EQ(dest.cli({"DBSIZE"}), "50");
    EXPECT_EQ(dest.cli({"EXISTS", "zero:0"}), "0");
    EXPECT_EQ(replication_role(dest), "master");
}

// SIGTERM in the middle of the transfer: the restore stops within seconds as cancelled, the destination is a
// master again and keeps its keys.
TEST_F(RedisRestore, CancellingAFullSynchronisationLeavesTheDestinationAMasterWithItsKeys)
{
    RedisServer source;
    fill(source, 0, "zero", 20000, 200);
    std::string data;
    auto info = backup(source, data);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();
    ASSERT_GT(data.size(), std::size_t{256} << 10);

    RedisServer dest;
    fill(dest, 0, "mine", 50);
    auto runner = runner::make_local_runner();
    auto eng = engine::make_redis_engine("cache", engine::RedisOptions{}, *runner);
    ASSERT_TRUE(eng.has_value());
    CancellingSource src(data, data.size() / 2);
    cancel::reset();
    const auto start = std::chrono::steady_clock::now();
    auto st = (*eng)->restore(
        src, {.to_url = dest.url(), .flush = true, .expected_stats = info->stats, .details = info->details});
    cancel::reset();
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().kind, ErrorKind::cancelled) << st.error().to_string();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    EXPECT_EQ(replication_role(dest), "master");
    EXPECT_EQ(dest.cli({"DBSIZE"}), "50");
}

// A destination that refuses REPLICAOF (renamed away here; an ACL without it, cluster mode) is restored with
// RESTORE commands, as before: nothing was written before the fallback.
TEST_F(RedisRestore, ADestinationThatRefusesReplicaofIsRestoredByRestoreCommands)
{
    RedisServer source;
    fill(source, 0, "zero", 500);
    write_config(source.url());
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;

    RedisServer dest(RedisOptions{.extra_args = {"--rename-command", "REPLICAOF", ""}});
    fill(dest, 0, "mine", 5);
    auto r = dbkeep({"restore", "cache", "--to", dest.url(), "--flush", "--yes"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("redis restore by RESTORE commands"), std::string::npos) << r.err;
    EXPECT_EQ(keyspace(dest), keyspace(source));
}

// A restore user without INFO: the destination's version is asked first, so the restore stops there and says
// what INFO is needed for; with INFO server allowed but not INFO keyspace, the key count is where it stops.
TEST_F(RedisRestore, ARestoreUserWithoutInfoIsToldToAllowIt)
{
    RedisServer source;
    fill(source, 0, "zero", 20);
    std::string data;
    auto info = backup(source, data);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();

    RedisServer dest;
    dest.cli({"ACL", "SETUSER", "noinfo", "on", ">restore-pw", "~*", "&*", "+@all", "-info"});
    auto st = restore(data, {.to_url = "redis://noinfo:restore-pw@127.0.0.1:" + std::to_string(dest.port())});
    ASSERT_FALSE(st.has_value());
    EXPECT_NE(st.error().message.find("NOPERM"), std::string::npos) << st.error().to_string();
    EXPECT_NE(st.error().hint.find("checks the destination's version and keys first: allow INFO"), std::string::npos)
        << st.error().to_string();
    EXPECT_NE(st.error().hint.find("+info"), std::string::npos) << st.error().to_string();

    dest.cli({"ACL", "SETUSER", "serveronly", "on", ">restore-pw", "~*", "&*", "+@all", "-info", "+info|server"});
    auto keys = restore(data, {.to_url = "redis://serveronly:restore-pw@127.0.0.1:" + std::to_string(dest.port())});
    ASSERT_FALSE(keys.has_value());
    EXPECT_NE(keys.error().operation.find("INFO keyspace"), std::string::npos) << keys.error().to_string();
    EXPECT_NE(keys.error().hint.find("checks the destination's keys before and after: allow INFO"), std::string::npos)
        << keys.error().to_string();
    EXPECT_TRUE(keyspace(dest).empty());
}

// Another client empties the destination while the keys are restored: the restore counts the keys afterwards,
// finds them missing and says what deleted them.
TEST_F(RedisRestore, KeysDeletedWhileTheRestoreRunsAreReportedWithTheirCause)
{
    RedisServer source;
    fill(source, 0, "zero", 200000);
    std::string data;
    auto info = backup(source, data);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();

    RedisServer dest;
    std::atomic<bool> flushed{false};
    Watcher other([&] {
        if (dest.cli({"DBSIZE"}) == "0") {
            return false;
        }
        dest.cli({"FLUSHALL"});
        flushed = true;
        return true;
    });
    // The second half of the backup waits for the flush, so it lands before the restore counts the keys.
    GatedSource src(data, data.size() / 2, flushed);
    auto st = restore(src, {.to_url = dest.url()});
    other.stop();
    ASSERT_EQ(other.error(), "");
    ASSERT_TRUE(flushed) << "the restore ended before the other client saw a key";
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().kind, ErrorKind::failed) << st.error().to_string();
    EXPECT_NE(st.error().message.find("are missing"), std::string::npos) << st.error().to_string();
    EXPECT_NE(st.error().hint.find("something deleted keys while the restore ran"), std::string::npos)
        << st.error().to_string();
}

// A flush restore loads the backup as a full synchronisation, for which the destination writes a temporary
// file into its dir: with that dir gone it drops the link, keeps its keys, and the hint says where to look.
TEST_F(RedisRestore, AFullSynchronisationTheDestinationCannotStoreNamesItsDir)
{
    RedisServer source;
    fill(source, 0, "zero", 2000, 100);
    std::string data;
    auto info = backup(source, data);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();

    RedisServer dest(RedisOptions{.extra_args = {"--enable-protected-configs", "yes"}});
    fill(dest, 0, "mine", 50);
    const auto gone = dest.dir() / "gone";
    std::filesystem::create_directory(gone);
    dest.cli({"CONFIG", "SET", "dir", gone.string()});
    std::filesystem::remove(gone);
    auto st =
        restore(data, {.to_url = dest.url(), .flush = true, .expected_stats = info->stats, .details = info->details});
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().kind, ErrorKind::transient) << st.error().to_string();
    EXPECT_NE(st.error().message.find("dropped the replication link"), std::string::npos) << st.error().to_string();
    EXPECT_NE(st.error().hint.find("see the destination's log (its dir must be writable"), std::string::npos)
        << st.error().to_string();
    EXPECT_EQ(dest.cli({"DBSIZE"}), "50");
    EXPECT_EQ(replication_role(dest), "master");
}

// The destination refuses REPLICAOF NO ONE after the load (here another client takes REPLICAOF away from the
// restore user while it replicates): it is still a replica of dbkeep's closed port, and the hint's command,
// run by an account allowed to, makes it a master again.
TEST_F(RedisRestore, ADestinationLeftAReplicaIsToldToRunReplicaofNoOne)
{
    RedisServer source;
    fill(source, 0, "zero", 5000, 100);
    std::string data;
    auto info = backup(source, data);
    ASSERT_TRUE(info.has_value()) << info.error().to_string();

    RedisServer dest;
    dest.cli({"ACL", "SETUSER", "restorer", "on", ">restore-pw", "~*", "&*", "+@all"});
    std::atomic<bool> taken{false};
    Watcher other([&] {
        if (replication_role(dest) != "slave") {
            return false;
        }
        dest.cli({"ACL", "SETUSER", "restorer", "-replicaof"});
        taken = true;
        return true;
    });
    GatedSource src(data, data.size() / 2, taken);
    auto st = restore(src, {.to_url = "redis://restorer:restore-pw@127.0.0.1:" + std::to_string(dest.port()),
                            .flush = true,
                            .expected_stats = info->stats,
                            .details = info->details});
    other.stop();
    ASSERT_EQ(other.error(), "");
    ASSERT_TRUE(taken) << "the other client never saw the destination replicate";
    ASSERT_FALSE(st.has_value());
    EXPECT_NE(st.error().message.find("NOPERM"), std::string::npos) << st.error().to_string();
    EXPECT_NE(st.error().hint.find("may still be a replica of dbkeep's closed port: run REPLICAOF NO ONE on it"),
              std::string::npos)
        << st.error().to_string();
    EXPECT_EQ(replication_role(dest), "slave");
    dest.cli({"REPLICAOF", "NO", "ONE"});
    EXPECT_EQ(replication_role(dest), "master");
    EXPECT_EQ(dest.cli({"DBSIZE"}), "5000") << "the load itself succeeded";
}
