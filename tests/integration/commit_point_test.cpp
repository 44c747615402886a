// The commit point, proven with injected storage failures: a backup exists when, and only when, its
// manifest exists. A real Redis server is backed up by job::run_backup into local storage wrapped in a
// FaultStorage; whatever step fails, the run is an error and the storage folder holds no object, no
// manifest and no temp file afterwards.
#include "config/config.hpp"
#include "job/backup.hpp"
#include "storage/local.hpp"
#include "support/fault_storage.hpp"
#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

constexpr std::uint64_t k_fail_after = 6 * 1024; // a few KiB into the stored stream

// About 800 KB of poorly compressible values, so the stored object is far larger than k_fail_after.
void load_data(const RedisServer& server)
{
    std::mt19937 rng(7);
    std::string commands;
    for (int i = 0; i < 4000; ++i) {
        std::string value;
        for (int j = 0; j < 25; ++j) {
            value += std::to_string(rng());
        }
        commands += "SET key:" + std::to_string(i) + " " + value + "\n";
    }
    server.cli({}, commands);
}

class CommitPoint : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (auto reason = RedisServer::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        m_redis = std::make_unique<RedisServer>();
        load_data(*m_redis);
        m_local = storage::make_local_storage({.root = root()});
        m_faults = std::make_unique<FaultStorage>(*m_local);
    }

    std::filesystem::path root() const { return m_dir / "backups"; }

    // The YAML a user would write; the storage block is what the local storage above stands for.
    Result<config::Config> load_config(const std::string& target_extra = {}) const
    {
        std::string yaml = "storages:\n  default:\n    type: local\n    path: " + root().string() +
                           "\ntargets:\n  cache:\n    engine: redis\n    url: " + m_redis->url() +
                           "\n    compression: { level: 1, workers: 0 }\n" + target_extra;
        return config::load_from_string(yaml, "commit_point.yaml", m_dir.path());
    }

    Result<catalog::Manifest> back_up(const std::string& target_extra = {})
    {
        auto config = load_config(target_extra);
        if (!config) {
            ADD_FAILURE() << config.error().to_string();
            return std::unexpected(config.error());
        }
        return job::run_backup(*config, config->targets.at("cache"), *m_faults);
    }

    // Every file under the storage folder (objects, manifests, temp files); folders may remain.
    std::vector<std::string> files() const { return list_files(root()); }

    // Backs up with `rule` injected: the backup must fail by that fault and leave no file behind.
    void expect_failure_leaves_nothing(FaultRule rule, const std::string& target_extra = {})
    {
        m_faults->inject(std::move(rule));
        auto m = back_up(target_extra);
        ASSERT_FALSE(m) << "the backup succeeded despite the fault";
        EXPECT_NE(m.error().to_string().find("injected failure"), std::string::npos) << m.error().to_string();
        EXPECT_EQ(m_faults->injected(), 1);
        EXPECT_EQ(files(), std::vector<std::string>{});
    }

    TempDir m_dir{"dbkeep-commit-point"};
    std::unique_ptr<RedisServer> m_redis;
    std::unique_ptr<storage::Storage> m_local;
    std::unique_ptr<FaultStorage> m_faults;
};

} // namespace

TEST_F(CommitPoint, WithoutFaultsTheBackupHasItsObjectAndManifest)
{
    auto m = back_up();
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_GT(m->stored_bytes, 4 * k_fail_after) << "the object must be large enough for the write fault below";
    auto listed = m_local->list("cache/");
    ASSERT_TRUE(listed) << listed.error().to_string();
    ASSERT_EQ(listed->size(), 2u);
    EXPECT_EQ(files().size(), 2u);
    EXPECT_EQ(m_faults->injected(), 0);
}

TEST_F(CommitPoint, FailingToOpenTheManifestLeavesNoObjectAndNoManifest)
{
    expect_failure_leaves_nothing({.point = FaultPoint::open_writer, .pattern = "*.manifest.json"});
}

TEST_F(CommitPoint, FailingToCommitTheManifestLeavesNoObjectAndNoManifest)
{
    expect_failure_leaves_nothing({.point = FaultPoint::finish, .pattern = "*.manifest.json"});
}

TEST_F(CommitPoint, AManifestFailureWhoseCleanupAlsoFailsStillLeavesNoManifest)
{
    // The object stays behind (nothing can remove it), but without a manifest it is not a backup.
    m_faults->inject({.point = FaultPoint::open_writer, .pattern = "*.manifest.json"});
    m_faults->inject({.point = FaultPoint::remove, .pattern = "*"});
    auto m = back_up();
    ASSERT_FALSE(m);
    EXPECT_EQ(m_faults->injected(), 2);
    for (const auto& f : files()) {
        EXPECT_FALSE(f.ends_with(".manifest.json")) << f;
    }
}

TEST_F(CommitPoint, AnObjectWriteFailingAfterAFewKiBLeavesNothing)
{
    expect_failure_leaves_nothing({.point = FaultPoint::write, .pattern = "*.rdb.zst", .after_bytes = k_fail_after});
}

TEST_F(CommitPoint, AnEncryptedObjectWriteFailingAfterAFewKiBLeavesNothing)
{
    expect_failure_leaves_nothing(
        {.point = FaultPoint::write, .pattern = "*.rdb.zst.age", .after_bytes = k_fail_after},
        "    encryption: { recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p] }\n");
}

TEST_F(CommitPoint, AFailingCommitOfTheObjectLeavesNothing)
{
    expect_failure_leaves_nothing({.point = FaultPoint::finish, .pattern = "*.rdb.zst"});
}

TEST_F(CommitPoint, FailingToOpenTheObjectWritesNoManifest)
{
    expect_failure_leaves_nothing({.point = FaultPoint::open_writer, .pattern = "*.rdb.zst"});
}

TEST_F(CommitPoint, TheFaultStorageFailsListingAndRemovingOnCommand)
{
    m_faults->inject({.point = FaultPoint::list, .pattern = "cache/*", .nth = 2});
    EXPECT_TRUE(m_faults->list("cache/"));
    EXPECT_FALSE(m_faults->list("cache/"));
    EXPECT_TRUE(m_faults->list("cache/"));
    m_faults->inject({.point = FaultPoint::remove, .pattern = "*.json", .nth = 0});
    EXPECT_FALSE(m_faults->remove({"a.json"}));
    EXPECT_FALSE(m_faults->remove({"b.json"}));
    EXPECT_TRUE(m_faults->remove({"c.bin"}));
    EXPECT_EQ(m_faults->injected(), 3);
}

// A lease lost while the dump ran (before_commit is HeldLease::confirm in every leased backup): the complete
// object is discarded and no manifest is written.
TEST_F(CommitPoint, ALostLeaseAtTheCommitPointLeavesNoObjectAndNoManifest)
{
    auto config = load_config();
    ASSERT_TRUE(config) << config.error().to_string();
    int asked = 0;
    auto m = job::run_backup(*config, config->targets.at("cache"), *m_faults, {.before_commit = [&asked]() -> Status {
        ++asked;
        return fail(ErrorKind::conflict, "confirm the lease of", "cache", "host b pid 7 took the lease over");
    }});
    ASSERT_FALSE(m) << "committed although the lease was lost";
    EXPECT_EQ(asked, 1);
    EXPECT_EQ(m.error().kind, ErrorKind::conflict);
    EXPECT_NE(m.error().to_string().find("took the lease over"), std::string::npos) << m.error().to_string();
    EXPECT_EQ(files(), std::vector<std::string>{});
}
