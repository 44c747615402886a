// Report 1 of issue 12 against a real PostgreSQL 15: a table that always holds 1000 rows is emptied and refilled in
// one transaction (TRUNCATE is not MVCC-safe) around the start of a backup. The manifest's counts come from the
// dump itself, so they describe exactly what pg_restore loads, and no session of dbkeep's holds a snapshot of its
// own: the window between snapshot and table locks is pg_dump's alone.
#include "support/postgres_fixture.hpp"
#include "support/wait.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {

// orders is created first: pg_dump locks tables in oid order, so it waits on orders before it locks steady.
constexpr const char* k_seed_sql = R"SQL(
CREATE TABLE public.orders AS SELECT g AS id FROM generate_series(1, 10) g;
CREATE TABLE public.steady AS SELECT g AS id FROM generate_series(1, 1000) g;
)SQL";

constexpr const char* k_refill_sql =
    "BEGIN; TRUNCATE public.steady; INSERT INTO public.steady SELECT generate_series(1, 1000); COMMIT;";

class PostgresTruncate : public PostgresTest {
protected:
    PostgresTruncate() : PostgresTest({.seed_sql = k_seed_sql, .tag = "dbkeep-pgtrunc"}) {}

    nlohmann::json only_manifest() const
    {
        auto manifests = m_work->manifests();
        EXPECT_EQ(manifests.size(), 1u);
        return manifests.empty() ? nlohmann::json{}
                                 : nlohmann::json::parse(read_file(m_work->backups() / manifests[0]));
    }

    // Restores the latest backup into a new database `db` and counts steady there.
    std::string restored_steady(const std::string& db)
    {
        auto r = dbkeep({"restore", "app", "--to", m_pg->url(db)});
        EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
        return m_pg->psql(db, "SELECT count(*) FROM public.steady");
    }
};

// A refill that commits after the backup started but before pg_dump did (here: by the pg_dump wrapper itself,
// just before it runs the real pg_dump) is seen whole. dbkeep used to export its snapshot first and hand it to
// pg_dump: such a refill then left steady empty in the dump and in the manifest alike.
TEST_F(PostgresTruncate, ARefillCommittedBeforePgDumpStartsIsDumpedWhole)
{
    auto wrapper =
        fake_pg_dump("pg_dump_after_refill", PostgresServer::bin_dir() + "/psql -qX -d '" + m_pg->url("app") +
                                                 "' -c '" + k_refill_sql + "' >/dev/null || exit 9\nexec " +
                                                 PostgresServer::bin_dir() + "/pg_dump \"$@\"");
    write_config("    pg_dump_path: " + wrapper + "\n");
    auto r = dbkeep({"backup", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto m = only_manifest();
    EXPECT_EQ(m["stats"]["public.steady"], 1000) << m.dump(2);
    EXPECT_EQ(restored_steady("copy"), "1000");
}

// The report's sequence: a backup starts while a migration holds ACCESS EXCLUSIVE on orders; pg_dump has its
// snapshot and waits for orders; steady is emptied and refilled; the migration ends. pg_dump then reads steady
// in its snapshot, which cannot see the refilled rows: plain pg_dump has this hazard too (see the README). What
// dbkeep owes is a manifest that says exactly what the dump holds, and no snapshot or lock of its own.
TEST_F(PostgresTruncate, ATruncateRefillBehindAnotherTablesLockIsCountedExactlyAsDumped)
{
    RunOptions o;
    o.env["PGAPPNAME"] = "migration";
    auto holder = std::make_unique<Background>(
        std::vector<std::string>{"sh", "-c",
                                 "(echo 'BEGIN; LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE;'; sleep 600) | " +
                                     PostgresServer::bin_dir() + "/psql -qX '" + m_pg->url("app") + "'"},
        o);
    ASSERT_TRUE(wait_until([&] {
        return m_pg->psql("app",
                          "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE "
                          "a.application_name = 'migration' AND l.mode = 'AccessExclusiveLock' AND l.granted") == "1";
    }));
    write_config();
    auto bg = m_work->start_dbkeep({"backup", "app"}, "bg.log");
    ASSERT_TRUE(wait_until([&] {
        return m_pg->psql("app", "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'dbkeep pg_dump%' "
                                 "AND wait_event_type = 'Lock'") != "0";
    })) << m_work->log("bg.log");
    // While pg_dump waits, dbkeep has no session of its own (none holding an exported snapshot), and the only
    // dbkeep-named session holding a snapshot is pg_dump's.
    EXPECT_EQ(m_pg->psql("app", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbkeep'"), "0");
    EXPECT_EQ(m_pg->psql("app", "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'dbkeep%' AND "
                                "backend_xmin IS NOT NULL"),
              "1");
    m_pg->psql("app", k_refill_sql);
    holder.reset(); // the migration ends; pg_dump goes on
    ASSERT_EQ(bg->wait(std::chrono::seconds(120)), 0) << m_work->log("bg.log");

    auto m = only_manifest();
    ASSERT_TRUE(m["stats"].contains("public.steady")) << m.dump(2);
    const auto counted = m["stats"]["public.steady"].get<std::int64_t>();
    EXPECT_EQ(std::to_string(counted), restored_steady("copy")) << "the manifest says what the dump holds";
    EXPECT_EQ(m["stats"]["public.orders"], 10);
    // And verify --restore agrees with the manifest.
    auto v = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("scratch")});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

// Report 4's cause, gone with the exported snapshot: a role that cannot read one table gets pg_dump's own
// message (dbkeep used to say "could not import the requested snapshot" from its snapshot hand-over).
TEST_F(PostgresTruncate, ARoleThatCannotReadATableGetsPgDumpsOwnMessage)
{
    m_pg->psql("app", "CREATE ROLE reader LOGIN; GRANT SELECT ON public.orders, public.steady TO reader; "
                      "CREATE TABLE public.todos (id int); INSERT INTO public.todos VALUES (1);");
    write_config("", m_pg->url("app", "reader"));
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("permission denied for table todos"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("snapshot"), std::string::npos) << r.err;
    EXPECT_TRUE(m_work->manifests().empty());
}

// The counts are only as good as the archive they come from: a pg_dump output that is cut short although
// pg_dump exited 0 (a wrapper, a broken pipe somewhere on a runner), or that is not a custom-format archive at all,
// fails the backup with no manifest. dbkeep used to store it and record counts taken elsewhere.
TEST_F(PostgresTruncate, AnArchiveCutShortOrNotAnArchiveFailsTheBackupThoughPgDumpExitedZero)
{
    auto cut = fake_pg_dump("pg_dump_cut", PostgresServer::bin_dir() + "/pg_dump \"$@\" | head -c 2000\nexit 0");
    write_config("    pg_dump_path: " + cut + "\n");
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("read the output of pg_dump for app"), std::string::npos) << r.err;
    EXPECT_TRUE(m_work->manifests().empty());

    auto text = fake_pg_dump("pg_dump_text", "echo 'SELECT 1;'");
    write_config("    pg_dump_path: " + text + "\n");
    r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("not a pg_dump custom-format archive"), std::string::npos) << r.err;
    EXPECT_TRUE(m_work->manifests().empty());
}

} // namespace
