// Schedules, leases, retention and the daemon through the dbkeep binary against a real PostgreSQL.
#include "support/postgres_server.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <thread>

using namespace dbkeep::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

class Scheduling : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (auto reason = PostgresServer::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        m_pg = std::make_unique<PostgresServer>();
        m_pg->create_database("app");
        m_pg->psql("app", "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g");
        m_dir = std::make_unique<TempDir>("dbkeep-sched");
    }

    // A pg_dump that sleeps before dumping, so runs overlap.
    std::string slow_pg_dump(int seconds)
    {
        auto path = m_dir->path() / "slow_pg_dump";
        write_file(path, "#!/bin/sh\ncase \"$1\" in --version) exec " + PostgresServer::bin_dir() +
                             "/pg_dump --version;; esac\nsleep " + std::to_string(seconds) + "\nexec " +
                             PostgresServer::bin_dir() + "/pg_dump \"$@\"\n");
        fs::permissions(path, fs::perms::owner_all);
        return path.string();
    }

    void write_config(const std::string& target_extra, const std::string& root_extra = "")
    {
        write_file(config(), "storages:\n  default:\n    type: local\n    path: " + backups().string() + "\n" +
                                 root_extra + "targets:\n  app:\n    engine: postgres\n    url: " + m_pg->url("app") +
                                 "\n" + target_extra);
    }

    fs::path config() const { return m_dir->path() / "dbkeep.yaml"; }
    fs::path backups() const { return m_dir->path() / "backups"; }
    RunResult dbkeep(std::vector<std::string> args)
    {
        args.insert(args.begin(), {"--config", config().string()});
        return run_dbkeep(args);
    }
    int manifests() const
    {
        int n = 0;
        for (const auto& f : list_files(backups())) {
            n += f.ends_with(".manifest.json") ? 1 : 0;
        }
        return n;
    }

    std::unique_ptr<PostgresServer> m_pg;
    std::unique_ptr<TempDir> m_dir;
};

} // namespace

TEST_F(Scheduling, RunDueBacksUpOnceThenSaysNotDue)
{
    write_config("    schedule: \"0 0 * * *\"\n    timezone: Europe/Berlin\n");
    auto first = dbkeep({"run", "--due"});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    EXPECT_EQ(manifests(), 1);
    auto second = dbkeep({"run", "--due"});
    ASSERT_EQ(second.exit_code, 0) << second.err;
    EXPECT_NE(second.out.find("app not due (next "), std::string::npos) << second.out;
    EXPECT_EQ(manifests(), 1);
}

TEST_F(Scheduling, TargetsWithoutScheduleAreNotRunByRunDue)
{
    write_config("");
    auto r = dbkeep({"run", "--due"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(manifests(), 0);
}

TEST_F(Scheduling, TwoRunDueProcessesStartedTogetherMakeOneBackup)
{
    write_config("    schedule: \"@hourly\"\n    pg_dump_path: " + slow_pg_dump(2) + "\n");
    auto args = std::vector<std::string>{dbkeep_binary(), "--config", config().string(), "run", "--due"};
    Background a(args, {}, (m_dir->path() / "a.log").string());
    Background b(args, {}, (m_dir->path() / "b.log").string());
    EXPECT_EQ(a.wait(60s), 0) << read_file(m_dir->path() / "a.log");
    EXPECT_EQ(b.wait(60s), 0) << read_file(m_dir->path() / "b.log");
    EXPECT_EQ(manifests(), 1);
    auto logs = read_file(m_dir->path() / "a.log") + read_file(m_dir->path() / "b.log");
    EXPECT_NE(logs.find("skipped: a backup of app is running on host"), std::string::npos) << logs;
    EXPECT_FALSE(fs::exists(backups() / "app" / "lease.json")) << "released after the backup";
}

TEST_F(Scheduling, KilledRunnersLeaseExpiresAndIsTakenOver)
{
    write_config("    pg_dump_path: " + slow_pg_dump(60) + "\n", "lease_ttl: 5\n");
    Background killed({dbkeep_binary(), "--config", config().string(), "backup", "app"}, {},
                      (m_dir->path() / "killed.log").string());
    for (int i = 0; i < 100 && !fs::exists(backups() / "app" / "lease.json"); ++i) {
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(fs::exists(backups() / "app" / "lease.json"));
    killed.signal(SIGKILL); // no chance to release the lease
    killed.wait(10s);
    sh("pkill -9 -f '" + (m_dir->path() / "slow_pg_dump").string() + "'"); // only this test's wrapper

    write_config("", "lease_ttl: 5\n"); // the real pg_dump from now on
    auto busy = dbkeep({"backup", "app"});
    EXPECT_EQ(busy.exit_code, 1);
    EXPECT_NE(busy.err.find("is running on host"), std::string::npos) << busy.err;
    EXPECT_NE(busy.err.find("--wait"), std::string::npos) << busy.err;

    auto waited = dbkeep({"backup", "app", "--wait"}); // waits until the dead runner's lease expires
    ASSERT_EQ(waited.exit_code, 0) << waited.err;
    EXPECT_NE(waited.err.find("took over an expired lease"), std::string::npos) << waited.err;
    EXPECT_EQ(manifests(), 1);
}

TEST_F(Scheduling, PruneAppliesRetentionManifestFirstAndCleansOldLeftovers)
{
    write_config("    keep: { last: 2 }\n");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    // Make four more backups with older ids by copying the real one (same object, rewritten manifests).
    std::string real_manifest, real_object;
    for (const auto& f : list_files(backups())) {
        (f.ends_with(".manifest.json") ? real_manifest : real_object) = f;
    }
    auto m = nlohmann::json::parse(read_file(backups() / real_manifest));
    for (const char* id :
         {"20240101T000000Z-aaaaa1", "20240102T000000Z-aaaaa2", "20240103T000000Z-aaaaa3", "20240104T000000Z-aaaaa4"}) {
        auto copy = m;
        copy["id"] = id;
        copy["object"]["key"] = std::string("app/2024/01/") + id + ".pgdump.zst";
        fs::create_directories(backups() / "app/2024/01");
        fs::copy_file(backups() / real_object, backups() / copy["object"]["key"].get<std::string>());
        write_file(backups() / (std::string("app/2024/01/") + id + ".manifest.json"), copy.dump(2));
    }
    // A failed run's leftover from long ago, and one from a run that may still be going.
    write_file(backups() / "app/2024/01/20240105T000000Z-dead00.pgdump.zst", "partial");
    auto now_id = nlohmann::json::parse(read_file(backups() / real_manifest))["id"].get<std::string>();
    auto fresh_orphan =
        "app/" + now_id.substr(0, 4) + "/" + now_id.substr(4, 2) + "/" + now_id.substr(0, 16) + "-fffff0.pgdump.zst";
    write_file(backups() / fresh_orphan, "in progress");

    auto dry = dbkeep({"prune", "app", "--dry-run"});
    ASSERT_EQ(dry.exit_code, 0) << dry.err;
    EXPECT_NE(dry.out.find("20240104T000000Z-aaaaa4  keep   last"), std::string::npos) << dry.out;
    EXPECT_NE(dry.out.find("20240101T000000Z-aaaaa1  would remove"), std::string::npos) << dry.out;
    EXPECT_NE(dry.out.find("newest"), std::string::npos);
    EXPECT_EQ(manifests(), 5) << "dry run removes nothing";

    auto real = dbkeep({"prune", "app"});
    ASSERT_EQ(real.exit_code, 0) << real.err;
    EXPECT_EQ(manifests(), 2);
    auto left = list_files(backups());
    auto has = [&](const std::string& s) { return std::find(left.begin(), left.end(), s) != left.end(); };
    EXPECT_TRUE(has(real_manifest));
    EXPECT_TRUE(has("app/2024/01/20240104T000000Z-aaaaa4.pgdump.zst"));
    EXPECT_FALSE(has("app/2024/01/20240101T000000Z-aaaaa1.pgdump.zst"));
    EXPECT_FALSE(has("app/2024/01/20240105T000000Z-dead00.pgdump.zst")) << "old leftover removed";
    EXPECT_TRUE(has(fresh_orphan)) << "a leftover younger than a day may be a running backup";
    EXPECT_EQ(dbkeep({"list", "app"}).exit_code, 0);
}

TEST_F(Scheduling, PruneRemovesNothingWhenAManifestIsUnreadable)
{
    write_config("    keep: { last: 1 }\n");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    std::this_thread::sleep_for(1100ms);
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    // Both backups exist? `backup` prunes after success: only the newest is left.
    EXPECT_EQ(manifests(), 1);
    fs::create_directories(backups() / "app/2024/02");
    write_file(backups() / "app/2024/02/20240201T000000Z-bad000.manifest.json", "{broken");
    auto r = dbkeep({"prune", "app"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("nothing removed"), std::string::npos) << r.err;
    EXPECT_EQ(manifests(), 2);
}

TEST_F(Scheduling, DaemonRunsEveryMinuteServesMetricsAndStopsOnSigterm)
{
    if (!have_program("curl")) {
        GTEST_SKIP() << "curl not installed";
    }
    int port = free_port();
    write_config("    schedule: \"* * * * *\"\n", "daemon:\n  jitter: 0\n  shutdown_grace: 30\n");
    Background d(
        {dbkeep_binary(), "--config", config().string(), "daemon", "--listen", "127.0.0.1:" + std::to_string(port)}, {},
        (m_dir->path() / "daemon.log").string());
    // One catch-up backup at once (never backed up), then one at the next minute boundary.
    for (int i = 0; i < 800 && manifests() < 2; ++i) {
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_GE(manifests(), 2) << read_file(m_dir->path() / "daemon.log");
    // The manifest is the commit point; the metrics follow a moment later.
    RunResult metrics;
    for (int i = 0; i < 50; ++i) {
        metrics = run({"curl", "-sS", "http://127.0.0.1:" + std::to_string(port) + "/metrics"});
        if (metrics.out.find("dbkeep_backups_total{target=\"app\"} 2") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_EQ(metrics.exit_code, 0) << metrics.err;
    EXPECT_NE(metrics.out.find("dbkeep_backups_total{target=\"app\"} 2"), std::string::npos) << metrics.out;
    EXPECT_NE(metrics.out.find("dbkeep_failures_total{target=\"app\"} 0"), std::string::npos) << metrics.out;
    EXPECT_EQ(metrics.out.find("dbkeep_last_success_timestamp_seconds{target=\"app\"} 0\n"), std::string::npos);
    auto health = run({"curl", "-sS", "http://127.0.0.1:" + std::to_string(port) + "/healthz"});
    EXPECT_EQ(health.out, "ok\n");
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait(30s), 0) << read_file(m_dir->path() / "daemon.log");
    EXPECT_NE(read_file(m_dir->path() / "daemon.log").find("daemon stopped"), std::string::npos);
}
