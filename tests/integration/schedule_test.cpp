// Schedules, leases, retention and the daemon through the dbkeep binary against a real PostgreSQL.
#include "support/postgres_fixture.hpp"
#include "support/wait.hpp"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {

class Scheduling : public PostgresTest {
protected:
    Scheduling()
        : PostgresTest(
              {.seed_sql = "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g", .tag = "dbkeep-sched"})
    {
    }

    // A pg_dump that holds its run open until the test creates release_path(), so that runs overlap for as
    // long as the test needs (bounded by the event timeout), then dumps for real.
    std::string held_pg_dump()
    {
        return fake_pg_dump("held_pg_dump", "for i in $(seq " + std::to_string(k_event_timeout.count() * 20) +
                                                "); do [ -e '" + release_path().string() +
                                                "' ] && break; sleep 0.05; done\nexec " + PostgresServer::bin_dir() +
                                                "/pg_dump \"$@\"");
    }
    fs::path release_path() const { return m_work->dir() / "release"; }

    fs::path backups() const { return m_work->backups(); }
    int manifests() const { return static_cast<int>(m_work->manifests().size()); }
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
    write_config("    schedule: \"@hourly\"\n    pg_dump_path: " + held_pg_dump() + "\n");
    auto a = m_work->start_dbkeep({"run", "--due"}, "a.log");
    auto b = m_work->start_dbkeep({"run", "--due"}, "b.log");
    // The run that won the lease holds its dump open until the other has given up; then it may finish.
    wait_until([&] { return !a->running() || !b->running(); });
    write_file(release_path(), "");
    EXPECT_EQ(a->wait(k_event_timeout), 0) << m_work->log("a.log");
    EXPECT_EQ(b->wait(k_event_timeout), 0) << m_work->log("b.log");
    EXPECT_EQ(manifests(), 1);
    auto logs = m_work->log("a.log") + m_work->log("b.log");
    EXPECT_NE(logs.find("skipped: a backup of app is running on host"), std::string::npos) << logs;
    EXPECT_FALSE(fs::exists(backups() / "app" / "lease.json")) << "released after the backup";
}

TEST_F(Scheduling, KilledRunnersLeaseExpiresAndIsTakenOver)
{
    write_config("    pg_dump_path: " + held_pg_dump() + "\n", "", "lease_ttl: 5\n");
    auto killed = m_work->start_dbkeep({"backup", "app"}, "killed.log");
    wait_until([&] { return fs::exists(backups() / "app" / "lease.json") || !killed->running(); });
    ASSERT_TRUE(fs::exists(backups() / "app" / "lease.json"));
    killed->signal(SIGKILL); // no chance to release the lease
    killed->wait(k_event_timeout);
    sh("pkill -9 -f '" + (m_work->dir() / "held_pg_dump").string() + "'"); // only this test's wrapper
    // A runner killed on another host: its lease can only expire (one killed on this host is taken over at
    // once, see PostgresFaults.AfterSigkillTheNextBackupOnThisHostTakesTheDeadProcesssLeaseAtOnce).
    auto lease = nlohmann::json::parse(read_file(backups() / "app" / "lease.json"));
    lease["host"] = "another-host";
    write_file(backups() / "app" / "lease.json", lease.dump(2));

    write_config("", "", "lease_ttl: 5\n"); // the real pg_dump from now on
    auto busy = dbkeep({"backup", "app"});
    EXPECT_EQ(busy.exit_code, 1);
    EXPECT_NE(busy.err.find("is running on host"), std::string::npos) << busy.err;
    EXPECT_NE(busy.err.find("--wait"), std::string::npos) << busy.err;

    auto waited = dbkeep({"backup", "app", "--wait"}); // waits until the dead runner's lease expires
    ASSERT_EQ(waited.exit_code, 0) << waited.err;
    EXPECT_NE(waited.err.find("took over an expired lease"), std::string::npos) << waited.err;
    EXPECT_EQ(manifests(), 1);
}

TEST_F(Scheduling, PruneAppliesRetentionManifestFirstAndDeletesOrphansOnlyOnRequest)
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
    // A removal names the rules that did not keep it. Without a schedule, the `dbkeep backup` runs are the
    // target's schedule: every backup counts as scheduled.
    EXPECT_NE(dry.out.find("20240101T000000Z-aaaaa1  would remove scheduled backup not kept by last: 2"),
              std::string::npos)
        << dry.out;
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
    EXPECT_TRUE(has("app/2024/01/20240105T000000Z-dead00.pgdump.zst")) << "no proof it is garbage: kept";
    EXPECT_NE(real.out.find("20240105T000000Z-dead00.pgdump.zst kept: no manifest"), std::string::npos) << real.out;
    EXPECT_TRUE(has(fresh_orphan));
    // On request, objects without a manifest go once a day old (a younger one may be a backup committing).
    fs::last_write_time(backups() / "app/2024/01/20240105T000000Z-dead00.pgdump.zst",
                        fs::file_time_type::clock::now() - std::chrono::hours(48));
    auto orphans = dbkeep({"prune", "app", "--orphans"});
    ASSERT_EQ(orphans.exit_code, 0) << orphans.err;
    left = list_files(backups());
    EXPECT_FALSE(has("app/2024/01/20240105T000000Z-dead00.pgdump.zst")) << "old orphan removed on request";
    EXPECT_TRUE(has(fresh_orphan)) << "a leftover younger than a day may be a running backup";
    EXPECT_EQ(dbkeep({"list", "app"}).exit_code, 0);
}

TEST_F(Scheduling, PruneRemovesNothingWhenAManifestIsUnreadable)
{
    write_config("    keep: { last: 1 }\n");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    ASSERT_TRUE(m_work->wait_for_a_newer_backup_id());
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
    write_config("    schedule: \"* * * * *\"\n", "", "daemon:\n  jitter: 0\n  shutdown_grace: 30\n");
    auto d = m_work->start_dbkeep({"daemon", "--listen", "127.0.0.1:" + std::to_string(port)}, "daemon.log");
    // One catch-up backup at once (never backed up), then one at the next minute boundary.
    wait_until([&] { return manifests() >= 2 || !d->running(); });
    ASSERT_GE(manifests(), 2) << m_work->log("daemon.log");
    // The manifest is the commit point; the metrics follow a moment later.
    RunResult metrics;
    wait_until([&] {
        metrics = run({"curl", "-sS", "http://127.0.0.1:" + std::to_string(port) + "/metrics"});
        return metrics.out.find("dbkeep_backups_total{target=\"app\"} 2") != std::string::npos;
    });
    ASSERT_EQ(metrics.exit_code, 0) << metrics.err;
    EXPECT_NE(metrics.out.find("dbkeep_backups_total{target=\"app\"} 2"), std::string::npos) << metrics.out;
    EXPECT_NE(metrics.out.find("dbkeep_failures_total{target=\"app\"} 0"), std::string::npos) << metrics.out;
    EXPECT_EQ(metrics.out.find("dbkeep_last_success_timestamp_seconds{target=\"app\"} 0\n"), std::string::npos);
    auto health = run({"curl", "-sS", "http://127.0.0.1:" + std::to_string(port) + "/healthz"});
    EXPECT_EQ(health.out, "ok\n");
    d->signal(SIGTERM);
    EXPECT_EQ(d->wait(k_event_timeout), 0) << m_work->log("daemon.log");
    EXPECT_NE(m_work->log("daemon.log").find("daemon stopped"), std::string::npos);
}
