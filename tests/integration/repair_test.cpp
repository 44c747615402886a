// `dbkeep repair`: the manifest of an orphan (a complete object whose manifest was lost) is rebuilt by reading
// the object, with the sizes, SHA-256 and statistics the backup itself recorded; an object that cannot be read
// whole gets none. Real Redis and PostgreSQL servers, the dbkeep binary, local storage.
#include "catalog/lease.hpp"
#include "catalog/naming.hpp"
#include "config/config.hpp"
#include "core/cancel.hpp"
#include "core/time.hpp"
#include "job/backup.hpp"
#include "job/repair.hpp"
#include "storage/local.hpp"
#include "storage/storage.hpp"
#include "support/postgres_fixture.hpp"
#include "support/redis_fixture.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Every manifest below backups, by backup id, parsed.
std::map<std::string, json> read_manifests(const Workspace& work)
{
    std::map<std::string, json> out;
    for (const auto& rel : work.manifests()) {
        auto j = json::parse(read_file(work.backups() / rel));
        out[j["id"].get<std::string>()] = j;
    }
    return out;
}

void remove_manifests(const Workspace& work)
{
    for (const auto& rel : work.manifests()) {
        fs::remove(work.backups() / rel);
    }
}

std::size_t count_of(const std::string& text, const std::string& what)
{
    std::size_t n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + what.size())) {
        ++n;
    }
    return n;
}

// The fields a rebuilt manifest must share with the one the backup wrote.
void expect_same_backup(const json& original, const json& repaired)
{
    EXPECT_EQ(repaired["id"], original["id"]);
    EXPECT_EQ(repaired["engine"], original["engine"]);
    EXPECT_EQ(repaired["object"]["key"], original["object"]["key"]);
    EXPECT_EQ(repaired["object"]["sha256"], original["object"]["sha256"]);
    EXPECT_EQ(repaired["object"]["raw_bytes"], original["object"]["raw_bytes"]);
    EXPECT_EQ(repaired["object"]["stored_bytes"], original["object"]["stored_bytes"]);
    EXPECT_EQ(repaired["object"]["encryption"], original["object"]["encryption"]);
    EXPECT_EQ(repaired["stats"], original["stats"]);
    EXPECT_EQ(repaired["server_version"], original["server_version"]);
    EXPECT_EQ(repaired["trigger"], "scheduled");
    EXPECT_TRUE(repaired["details"].contains("repaired")) << repaired.dump();
}

class RedisRepair : public RedisTest {
protected:
    void SetUp() override
    {
        RedisTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        m_source = std::make_unique<RedisServer>();
        std::string load;
        for (int i = 0; i < 500; ++i) {
            load += "SET key:" + std::to_string(i) + " value-" + std::to_string(i) + "\n";
        }
        load += "HSET h f1 v1 f2 v2\nSELECT 2\nSET other db2\nRPUSH l a b c\n";
        m_source->cli({}, load);
    }

    // Backs up `n` times, each backup with its own second and its own value of `generation`.
    void back_up(int n)
    {
        for (int i = 0; i < n; ++i) {
            if (!m_work.manifests().empty()) {
                ASSERT_TRUE(m_work.wait_for_a_newer_backup_id());
            }
            m_source->cli({"SET", "generation", std::to_string(i)});
            auto b = dbkeep({"backup", "cache"});
            ASSERT_EQ(b.exit_code, 0) << b.err;
        }
    }

    std::unique_ptr<RedisServer> m_source;
};

} // namespace

// The example: six Redis backups whose manifests were lost are listed as orphans, repaired, listed,
// restored and then kept by the target's retention rules (not deleted as a failed run's leftovers).
TEST_F(RedisRepair, SixBackupsWithoutManifestsAreRebuiltRestoredAndRetainedByTheRules)
{
    write_config(m_source->url()); // keeps everything while the six are made (they are manual backups)
    back_up(6);
    auto originals = read_manifests(m_work);
    ASSERT_EQ(originals.size(), 6u);
    remove_manifests(m_work);

    auto before = json::parse(dbkeep({"list", "cache", "--json"}).out);
    ASSERT_EQ(before.size(), 6u) << before.dump();
    for (const auto& row : before) {
        EXPECT_EQ(row["status"], "orphan") << row.dump();
    }

    auto r = dbkeep({"repair", "cache"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(count_of(r.out, " repaired: "), 6u) << r.out;
    EXPECT_NE(r.out.find("keys in 2 dbs"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("repair: 6 repaired, 0 not repaired"), std::string::npos) << r.out;

    auto after = json::parse(dbkeep({"list", "cache", "--json"}).out);
    ASSERT_EQ(after.size(), 6u) << after.dump();
    for (const auto& row : after) {
        ASSERT_EQ(row["status"], "ok") << row.dump();
        const auto& original = originals.at(row["id"].get<std::string>());
        expect_same_backup(original, row);
        EXPECT_EQ(row["stats"]["db0"], 502);
        EXPECT_EQ(row["details"]["rdb_version"], original["details"]["rdb_version"]);
        EXPECT_EQ(row["details"]["rdb_bytes"], original["details"]["rdb_bytes"]);
    }
    EXPECT_EQ(dbkeep({"verify", "cache"}).exit_code, 0);

    // The latest backup restores with the right keys.
    RedisServer copy;
    auto restored = dbkeep({"restore", "cache", "--to", copy.url()});
    ASSERT_EQ(restored.exit_code, 0) << restored.err;
    EXPECT_EQ(copy.cli({"GET", "generation"}), "5");
    EXPECT_EQ(copy.cli({"DEBUG", "DIGEST"}), m_source->cli({"DEBUG", "DIGEST"}));

    // Retention keeps the four newest by `last: 4` and removes two by the rule, naming it.
    write_config(m_source->url(), "    keep: {last: 4}\n");
    auto p = dbkeep({"prune", "cache"});
    ASSERT_EQ(p.exit_code, 0) << p.out << p.err;
    EXPECT_EQ(count_of(p.out, " keep "), 4u) << p.out;
    EXPECT_EQ(count_of(p.out, " remove "), 2u) << p.out;
    EXPECT_NE(p.out.find("not kept by last: 4"), std::string::npos) << p.out;
    EXPECT_EQ(p.out.find("manifest"), std::string::npos) << p.out;
    EXPECT_EQ(m_work.manifests().size(), 4u);
    EXPECT_EQ(m_work.files_ending(".rdb.zst").size(), 4u);
}

TEST_F(RedisRepair, DryRunReadsAndReportsButWritesNothing)
{
    write_config(m_source->url());
    back_up(1);
    remove_manifests(m_work);
    const auto files = m_work.stored_files();

    auto r = dbkeep({"repair", "--dry-run"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("would be repaired"), std::string::npos) << r.out;
    EXPECT_EQ(m_work.stored_files(), files);
    EXPECT_TRUE(m_work.manifests().empty());
    auto listed = json::parse(dbkeep({"list", "--json"}).out);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0]["status"], "orphan");
}

// A backup that is running holds the target's lease: its object, complete but not committed yet, is not an
// orphan, so repair waits for it (refuses, naming the holder) and writes nothing.
TEST_F(RedisRepair, ARunningBackupsLeaseMakesRepairWait)
{
    write_config(m_source->url());
    back_up(1);
    remove_manifests(m_work);
    dbkeep::catalog::LeaseInfo holder;
    holder.owner = "running-backup";
    holder.host = "db-runner-7";
    holder.pid = 4242;
    holder.expires = std::chrono::system_clock::now() + std::chrono::minutes(10);
    holder.acquired_at = dbkeep::format_rfc3339(std::chrono::system_clock::now());
    holder.expires_at = dbkeep::format_rfc3339(holder.expires);
    write_file(m_work.backups() / "cache" / "lease.json", dbkeep::catalog::lease_to_json(holder));
    auto r = dbkeep({"repair"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("a backup is running on host db-runner-7"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("repair once it has finished: its object is not an orphan yet"), std::string::npos) << r.err;
    EXPECT_TRUE(m_work.manifests().empty());
}

TEST_F(RedisRepair, DamagedObjectIsNotRepairedAndTheOthersAre)
{
    write_config(m_source->url());
    back_up(2);
    auto originals = read_manifests(m_work);
    remove_manifests(m_work);
    auto objects = m_work.files_ending(".rdb.zst");
    ASSERT_EQ(objects.size(), 2u);
    // Flip one byte in the middle of the older object.
    const fs::path damaged = m_work.backups() / objects.front();
    std::string bytes = read_file(damaged);
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x55);
    write_file(damaged, bytes);
    // An object another engine would write, in this target's folder: reported, never touched.
    const std::string stray = objects.front().substr(0, objects.front().find(".rdb.zst")) + ".pgdump.zst";
    const std::string stray_id = fs::path(stray).filename().string().substr(0, 23);
    write_file(m_work.backups() / stray, "not ours");

    auto r = dbkeep({"repair", "cache", "--json"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    auto rows = json::parse(r.out);
    ASSERT_EQ(rows.size(), 3u) << rows.dump();
    std::map<std::string, json> by_key;
    for (const auto& row : rows) {
        by_key[row["key"].get<std::string>()] = row;
    }
    EXPECT_EQ(by_key.at(objects.front())["status"], "not_repaired");
    std::string cause = by_key.at(objects.front())["error"].dump();
    std::transform(cause.begin(), cause.end(), cause.begin(), [](unsigned char c) { return std::tolower(c); });
    EXPECT_TRUE(cause.find("corrupt") != std::string::npos || cause.find("checksum") != std::string::npos ||
                cause.find("crc") != std::string::npos)
        << cause;
    EXPECT_EQ(by_key.at(stray)["status"], "not_repaired");
    EXPECT_NE(by_key.at(stray)["error"]["message"].get<std::string>().find("not a key this target writes"),
              std::string::npos)
        << by_key.at(stray).dump();
    EXPECT_EQ(read_file(m_work.backups() / stray), "not ours");
    ASSERT_EQ(by_key.at(objects.back())["status"], "repaired");
    const auto repaired = read_manifests(m_work);
    ASSERT_EQ(repaired.size(), 1u) << "only the intact object gets a manifest";
    expect_same_backup(originals.at(repaired.begin()->first), repaired.begin()->second);
    EXPECT_NE(repaired.begin()->first, stray_id);

    auto text = dbkeep({"repair", "cache"});
    EXPECT_EQ(text.exit_code, 1);
    EXPECT_NE(text.out.find(objects.front() + " NOT repaired: "), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("repair: 0 repaired, 2 not repaired"), std::string::npos) << text.out;
}

TEST_F(RedisRepair, EncryptedObjectNeedsAnIdentityAndKeepsTheConfiguredRecipients)
{
    const std::string identity = (m_work.dir() / "identity.txt").string();
    auto k = run_dbkeep({"keygen", "-o", identity});
    ASSERT_EQ(k.exit_code, 0) << k.err;
    const std::string recipient = k.out.substr(0, k.out.size() - 1);
    write_config(m_source->url(), "    encryption: { recipients: [" + recipient + "] }\n");
    back_up(1);
    auto originals = read_manifests(m_work);
    ASSERT_EQ(originals.size(), 1u);
    ASSERT_EQ(m_work.files_ending(".rdb.zst.age").size(), 1u);
    remove_manifests(m_work);

    RunOptions no_identity;
    no_identity.env["DBKEEP_IDENTITY_FILE"] = "";
    auto without = dbkeep({"repair", "cache"}, no_identity);
    EXPECT_EQ(without.exit_code, 1) << without.out << without.err;
    EXPECT_NE(without.out.find("NOT repaired"), std::string::npos) << without.out;
    EXPECT_NE(without.out.find("--identity"), std::string::npos) << without.out;
    EXPECT_TRUE(m_work.manifests().empty());

    const std::string other = (m_work.dir() / "other.txt").string();
    ASSERT_EQ(run_dbkeep({"keygen", "-o", other}).exit_code, 0);
    auto wrong = dbkeep({"repair", "cache", "--identity", other});
    EXPECT_EQ(wrong.exit_code, 1) << wrong.out << wrong.err;
    EXPECT_NE(wrong.out.find("NOT repaired"), std::string::npos) << wrong.out;
    EXPECT_TRUE(m_work.manifests().empty());

    auto with = dbkeep({"repair", "cache", "--identity", identity});
    ASSERT_EQ(with.exit_code, 0) << with.out << with.err;
    auto repaired = read_manifests(m_work);
    ASSERT_EQ(repaired.size(), 1u);
    const auto& [id, m] = *repaired.begin();
    expect_same_backup(originals.at(id), m);
    EXPECT_EQ(m["object"]["encryption"], "age");
    EXPECT_EQ(m["object"]["recipients"], json::array({recipient}));
    EXPECT_TRUE(m["details"].contains("recipients_source")) << m.dump();
    EXPECT_EQ(read_file(m_work.backups() / m_work.manifests().front()).find("AGE-SECRET-KEY"), std::string::npos);

    RedisServer copy;
    auto restored = dbkeep({"restore", "cache", "--to", copy.url(), "--identity", identity});
    ASSERT_EQ(restored.exit_code, 0) << restored.err;
    EXPECT_EQ(copy.cli({"DEBUG", "DIGEST"}), m_source->cli({"DEBUG", "DIGEST"}));
}

TEST_F(RedisRepair, NothingToRepairLeavesStorageAsItWas)
{
    write_config(m_source->url());
    back_up(1);
    const auto before = m_work.stored_files();
    auto r = dbkeep({"repair"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("repair: 0 repaired, 0 not repaired"), std::string::npos) << r.out;
    EXPECT_EQ(m_work.stored_files(), before);
}

namespace {
class PostgresRepair : public PostgresTest {
protected:
    PostgresRepair()
        : PostgresTest({.seed_sql = "CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS note "
                                    "FROM generate_series(1, 2500) g;"
                                    "CREATE SCHEMA billing;"
                                    "CREATE TABLE billing.invoices (id int, total numeric);"
                                    "INSERT INTO billing.invoices SELECT g, g * 1.5 FROM generate_series(1, 321) g;"
                                    "CREATE TABLE empty_one (x int);",
                        .tag = "dbkeep-repair"})
    {
    }
};
} // namespace

TEST_F(PostgresRepair, RebuiltManifestHasTheBackupsPerTableStatistics)
{
    write_config();
    auto b = dbkeep({"backup", "app"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto originals = read_manifests(*m_work);
    ASSERT_EQ(originals.size(), 1u);
    remove_manifests(*m_work);

    auto r = dbkeep({"repair", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find(" repaired: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("3 tables"), std::string::npos) << r.out;

    auto repaired = read_manifests(*m_work);
    ASSERT_EQ(repaired.size(), 1u);
    const auto& [id, m] = *repaired.begin();
    const auto& original = originals.at(id);
    expect_same_backup(original, m);
    EXPECT_EQ(m["stats"]["public.orders"], 2500);
    EXPECT_EQ(m["stats"]["billing.invoices"], 321);
    EXPECT_EQ(m["tool"], "pg_dump");
    EXPECT_EQ(m["tool_version"], original["tool_version"]);
    for (const char* detail : {"toc_entries", "archive_version", "tables_with_data", "large_objects", "database"}) {
        EXPECT_EQ(m["details"][detail], original["details"][detail]) << detail;
    }

    auto restored = dbkeep({"restore", "app", "--to", m_pg->url("copy")});
    ASSERT_EQ(restored.exit_code, 0) << restored.err;
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM billing.invoices"), "321");
}

namespace {

// Forwards to a storage, and makes a peer's manifest appear at a manifest key just before dbkeep looks for it:
// the race of a repair with a backup (or another repair) that commits the same id.
class ManifestAppears final : public dbkeep::storage::Storage {
public:
    explicit ManifestAppears(dbkeep::storage::Storage& inner) : m_inner(inner) {}
    dbkeep::Result<std::unique_ptr<dbkeep::storage::ObjectWriter>> open_writer(const std::string& key) override
    {
        return m_inner.open_writer(key);
    }
    dbkeep::Result<std::unique_ptr<dbkeep::stream::Source>> open_reader(const std::string& key,
                                                                        dbkeep::storage::ByteRange range) override
    {
        return m_inner.open_reader(key, range);
    }
    dbkeep::Result<dbkeep::storage::ObjectInfo> stat(const std::string& key) override
    {
        if (key.ends_with(".manifest.json")) {
            (void)m_inner.create_if_absent(key, k_peer);
        }
        return m_inner.stat(key);
    }
    dbkeep::Result<std::vector<dbkeep::storage::ObjectInfo>> list(const std::string& prefix) override
    {
        return m_inner.list(prefix);
    }
    dbkeep::Status remove(const std::vector<std::string>& keys) override { return m_inner.remove(keys); }
    dbkeep::Result<bool> create_if_absent(const std::string& key, const std::string& bytes) override
    {
        return m_inner.create_if_absent(key, bytes);
    }
    bool supports_conditional_create() const override { return m_inner.supports_conditional_create(); }
    std::string describe() const override { return m_inner.describe(); }
    std::vector<dbkeep::Finding> probe(const std::string& key_prefix) override { return m_inner.probe(key_prefix); }

    static constexpr const char* k_peer = "{\"written by\": \"a peer\"}\n";

private:
    dbkeep::storage::Storage& m_inner;
};

class RepairInProcess : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (auto reason = RedisServer::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        m_redis = std::make_unique<RedisServer>();
        m_redis->cli({"SET", "k", "v"});
        m_local = dbkeep::storage::make_local_storage({.root = m_dir / "backups"});
        auto config = dbkeep::config::load_from_string(
            "storages:\n  default:\n    type: local\n    path: " + (m_dir / "backups").string() +
                "\ntargets:\n  cache:\n    engine: redis\n    url: " + m_redis->url() + "\n",
            "repair.yaml", m_dir.path());
        ASSERT_TRUE(config) << config.error().to_string();
        m_config = std::move(*config);
        auto m = dbkeep::job::run_backup(m_config, target(), *m_local);
        ASSERT_TRUE(m) << m.error().to_string();
        m_manifest_key = dbkeep::catalog::manifest_key("cache", m->id);
        std::filesystem::remove(m_dir / "backups" / m_manifest_key);
    }
    const dbkeep::config::TargetConfig& target() const { return m_config.targets.at("cache"); }

    TempDir m_dir;
    std::unique_ptr<RedisServer> m_redis;
    std::unique_ptr<dbkeep::storage::Storage> m_local;
    dbkeep::config::Config m_config;
    std::string m_manifest_key;
};

} // namespace

TEST_F(RepairInProcess, AManifestThatAppearsMeanwhileIsNeverOverwritten)
{
    ManifestAppears racing(*m_local);
    auto results = dbkeep::job::run_repair(target(), racing, {});
    ASSERT_TRUE(results) << results.error().to_string();
    ASSERT_EQ(results->size(), 1u);
    const auto& r = results->front();
    EXPECT_FALSE(r.written);
    EXPECT_FALSE(r.manifest.has_value());
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(r.error->kind, dbkeep::ErrorKind::conflict);
    EXPECT_NE(r.error->message.find("left alone"), std::string::npos) << r.error->to_string();
    EXPECT_EQ(read_file(m_dir / "backups" / m_manifest_key), ManifestAppears::k_peer);
}

TEST_F(RepairInProcess, CancellationStopsBeforeAnyManifestIsWritten)
{
    dbkeep::cancel::request();
    auto results = dbkeep::job::run_repair(target(), *m_local, {});
    dbkeep::cancel::reset();
    ASSERT_FALSE(results);
    EXPECT_EQ(results.error().kind, dbkeep::ErrorKind::cancelled);
    EXPECT_FALSE(std::filesystem::exists(m_dir / "backups" / m_manifest_key));

    auto repaired = dbkeep::job::run_repair(target(), *m_local, {});
    ASSERT_TRUE(repaired) << repaired.error().to_string();
    ASSERT_EQ(repaired->size(), 1u);
    EXPECT_TRUE(repaired->front().written);
    EXPECT_TRUE(std::filesystem::exists(m_dir / "backups" / m_manifest_key));
}

// A repair whose lease was taken over (paused past lease_ttl) commits nothing more: HeldLease::confirm fails
// before each manifest, and the repair stops there with that error.
TEST_F(RepairInProcess, ALostLeaseStopsTheRepairBeforeItCommits)
{
    dbkeep::job::RepairOptions options;
    options.before_commit = [] {
        return dbkeep::Status(dbkeep::fail(dbkeep::ErrorKind::conflict, "confirm the lease of", "cache",
                                           "taken over by host other pid 7"));
    };
    auto results = dbkeep::job::run_repair(target(), *m_local, options);
    ASSERT_FALSE(results);
    EXPECT_EQ(results.error().kind, dbkeep::ErrorKind::conflict);
    EXPECT_NE(results.error().to_string().find("taken over"), std::string::npos) << results.error().to_string();
    EXPECT_FALSE(std::filesystem::exists(m_dir / "backups" / m_manifest_key));
}
