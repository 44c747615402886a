// Issue 17: a parallel PostgreSQL dump (jobs: N) against a real PostgreSQL 15. Big tables are copied in ctid
// chunks into parts of the backup on N connections sharing one exported snapshot, restored in sections around
// the parts, compared table by table (row counts and ordered-content hashes), and restorable with zstd,
// pg_restore and psql alone (the commands of docs/format.md, run as written there).
#include "support/postgres_fixture.hpp"
#include "support/wait.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <regex>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {

// Tables of every shape the split must handle: a big table with a generated column, TOAST-sized values and dead
// tuples (holes in its ctid ranges), a partitioned table whose partitions are split, a name that needs quoting,
// a small table pg_dump dumps, a sequence, a large object, and an index and a foreign key (post-data).
constexpr const char* k_seed_sql = R"SQL(
CREATE TABLE big (id bigint PRIMARY KEY, body text, doubled bigint GENERATED ALWAYS AS (id * 2) STORED,
                  at timestamptz DEFAULT '2026-01-02 03:04:05+00', price numeric(12,3));
INSERT INTO big (id, body, price)
  SELECT g, CASE WHEN g % 500 = 0 THEN repeat(md5(g::text), 400) ELSE md5(g::text) END, g / 7.0
  FROM generate_series(1, 60000) g;
DELETE FROM big WHERE id % 3 = 0;
UPDATE big SET body = body || '!' WHERE id % 5 = 0;
CREATE TABLE events (id int, region text, note text) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
INSERT INTO events SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, repeat('x', 100) FROM generate_series(1, 30000) g;
CREATE SCHEMA "Odd ""Schema""";
CREATE TABLE "Odd ""Schema"""."Tab le" ("col ""1""" int, "Ünïcode" text);
INSERT INTO "Odd ""Schema"""."Tab le" SELECT g, 'ü' || g || E'\ttab\nline\\' FROM generate_series(1, 20000) g;
CREATE TABLE small (id int PRIMARY KEY, big_id bigint REFERENCES big (id));
INSERT INTO small SELECT g, g FROM generate_series(1, 10) g WHERE g % 3 <> 0;
CREATE SEQUENCE counter START 1;
SELECT setval('counter', 4242);
SELECT lo_from_bytea(424242, 'large object bytes');
CREATE INDEX big_body ON big (body);
VACUUM ANALYZE;
)SQL";

// Every user table's rows and an ordered hash of its content, one line per table.
constexpr const char* k_fingerprint_sql =
    "SELECT string_agg(t, E'\\n' ORDER BY t) FROM (SELECT format('%s %s', c.oid::regclass, "
    "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) || '' '' || coalesce(md5(string_agg(x::text, '','' "
    "ORDER BY x::text)), '''') AS c FROM %s x', c.oid::regclass), false, true, '')))[1]::text) AS t "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
    "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%') s";

class PostgresParallel : public PostgresTest {
protected:
    PostgresParallel() : PostgresTest({.seed_sql = k_seed_sql, .tag = "dbkeep-pgpar"}) {}
    void SetUp() override
    {
        PostgresTest::SetUp();
        if (!IsSkipped()) {
            write_config("    jobs: 3\n    split_tables_larger_than: 256KiB\n");
        }
    }
    std::string fingerprint(const std::string& db) const { return m_pg->psql(db, k_fingerprint_sql); }
    nlohmann::json only_manifest() const
    {
        auto manifests = m_work->manifests();
        EXPECT_EQ(manifests.size(), 1u);
        return manifests.empty() ? nlohmann::json{}
                                 : nlohmann::json::parse(read_file(m_work->backups() / manifests[0]));
    }
    std::vector<std::string> stored_data_objects() const
    {
        std::vector<std::string> out;
        for (const auto& f : m_work->stored_files()) {
            if (f.find(".zst") != std::string::npos) {
                out.push_back(f);
            }
        }
        return out;
    }
};

TEST_F(PostgresParallel, BigTablesAreSplitIntoPartsAndRestoreTableByTable)
{
    auto r = dbkeep({"backup", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto m = only_manifest();
    EXPECT_EQ(m["format"], 2);
    ASSERT_TRUE(m["parts"].is_array()) << m.dump(2);
    // big, events_eu, events_us and the quoted table: at least 3 chunks each (jobs: 3).
    std::set<std::string> split;
    for (const auto& p : m["parts"]) {
        split.insert(p["details"]["schema"].get<std::string>() + "." + p["details"]["table"].get<std::string>());
        EXPECT_TRUE(fs::exists(m_work->backups() / p["key"].get<std::string>())) << p.dump();
    }
    EXPECT_EQ(split,
              (std::set<std::string>{"public.big", "public.events_eu", "public.events_us", "Odd \"Schema\".Tab le"}));
    EXPECT_GE(m["parts"].size(), 12u);
    EXPECT_EQ(m["stats"]["public.big"], 40000);
    EXPECT_EQ(m["stats"]["public.events_eu"], 15000);
    EXPECT_EQ(m["stats"]["Odd \"Schema\".Tab le"], 20000);
    EXPECT_EQ(m["stats"]["public.small"], 7);

    // --output writes one file, and a parallel dump is several objects: refused, naming the ways that work.
    const auto out = m_work->dir() / "app.pgdump";
    r = dbkeep({"restore", "app", "--output", out.string()});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--output writes one file"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("restore it with --to URL, or load its objects with zstd, age, pg_restore and psql as "
                         "docs/format.md shows"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(fs::exists(out));

    r = dbkeep({"restore", "app", "--to", m_pg->url("copy"), "--jobs", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(fingerprint("copy"), fingerprint("app"));
    EXPECT_EQ(m_pg->psql("copy", "SELECT last_value FROM counter"), "4242");
    EXPECT_EQ(m_pg->psql("copy", "SELECT convert_from(lo_get(424242), 'UTF8')"), "large object bytes");
    EXPECT_EQ(m_pg->psql("copy", "SELECT sum(doubled) = 2 * sum(id) FROM big"), "t") << "generated column";
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM pg_indexes WHERE indexname IN ('big_pkey', 'big_body')"), "2");
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"), "1");

    // verify reads every part; verify --restore compares every table's rows with the manifest.
    r = dbkeep({"verify", "app"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    r = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("scratch")});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(PostgresParallel, ACorruptPartFailsVerifyAndTheRestoreCommitsNothing)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto m = only_manifest();
    ASSERT_FALSE(m["parts"].empty());
    const fs::path part = m_work->backups() / m["parts"][1]["key"].get<std::string>();
    {
        std::fstream f(part, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(-20, std::ios::end);
        char c = 0;
        f.read(&c, 1);
        f.seekp(-20, std::ios::end);
        c = static_cast<char>(c ^ 0x55);
        f.write(&c, 1);
    }
    auto r = dbkeep({"verify", "app"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE((r.out + r.err).find("part 2 of backup"), std::string::npos) << r.out << r.err;
    r = dbkeep({"restore", "app", "--to", m_pg->url("copy")});
    EXPECT_NE(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("part 2"), std::string::npos) << r.err;
    EXPECT_EQ(m_pg->psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'copy'"), "0")
        << "the database the failed restore created is dropped";
}

// The commands docs/format.md gives, run as written there: the backup restores without dbkeep.
TEST_F(PostgresParallel, ThePartsRestoreWithZstdPgRestoreAndPsqlAlone)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    // --output writes one file, and a parallel dump is several: refused, naming the two ways that work (the
    // second of which this test runs).
    const auto one_file = m_work->dir() / "app.pgdump";
    auto out = dbkeep({"restore", "app", "--output", one_file.string()});
    EXPECT_NE(out.exit_code, 0);
    EXPECT_NE(out.err.find("it is a parallel dump of"), std::string::npos) << out.err;
    EXPECT_NE(out.err.find("restore it with --to URL, or load its objects with zstd, age, pg_restore and psql as "
                           "docs/format.md shows"),
              std::string::npos)
        << out.err;
    EXPECT_FALSE(fs::exists(one_file));
    std::string doc = read_file(fs::path(DBKEEP_SOURCE_DIR) / "docs/format.md");
    const std::string begin = "<!-- parallel-restore:begin -->", end = "<!-- parallel-restore:end -->";
    auto b = doc.find(begin), e = doc.find(end);
    ASSERT_NE(b, std::string::npos);
    ASSERT_NE(e, std::string::npos);
    std::string block = doc.substr(b + begin.size(), e - b - begin.size());
    auto fence = block.find("```sh\n");
    ASSERT_NE(fence, std::string::npos);
    block = block.substr(fence + 6, block.rfind("```") - fence - 6);
    m_pg->create_database("byhand");
    RunOptions o;
    o.env["M"] = (m_work->backups() / m_work->manifests()[0]).string();
    o.env["B"] = m_work->backups().string();
    o.env["DB"] = m_pg->url("byhand");
    o.env["PATH"] = PostgresServer::bin_dir() + ":" + std::string(std::getenv("PATH"));
    auto r = run({"bash", "-euo", "pipefail", "-c", block}, o);
    ASSERT_EQ(r.exit_code, 0) << block << r.out << r.err;
    EXPECT_EQ(fingerprint("byhand"), fingerprint("app"));
    EXPECT_EQ(m_pg->psql("byhand", "SELECT count(*) FROM pg_indexes WHERE indexname = 'big_body'"), "1");
}

// Rows written while the backup runs: one transaction inserts into big (copied in chunks) and small (dumped by
// pg_dump) at once, so a restore that saw one without the other would show the two sessions used different
// snapshots. The result equals one snapshot, and matches its manifest.
TEST_F(PostgresParallel, WritesDuringTheBackupLandWholeOrNotAtAllAcrossPartsAndPgDump)
{
    auto writer = std::make_unique<Background>(std::vector<std::string>{
        "sh", "-c",
        "i=100000; while :; do i=$((i+1)); " + PostgresServer::bin_dir() + "/psql -qX -d '" + m_pg->url("app") +
            "' -c \"BEGIN; INSERT INTO big (id, body) VALUES ($i, 'w'); INSERT INTO small VALUES ($i, $i); COMMIT\" "
            ">/dev/null 2>&1; done"});
    ASSERT_TRUE(
        wait_until([&] { return m_pg->psql("app", "SELECT count(*) > 5 FROM small WHERE id > 100000") == "t"; }));
    auto r = dbkeep({"backup", "app"});
    writer.reset();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto m = only_manifest();
    ASSERT_EQ(dbkeep({"restore", "app", "--to", m_pg->url("copy")}).exit_code, 0);
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM big WHERE id > 100000"),
              m_pg->psql("copy", "SELECT count(*) FROM small WHERE id > 100000"));
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM big"), std::to_string(m["stats"]["public.big"].get<int>()));
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM small"), std::to_string(m["stats"]["public.small"].get<int>()));
}

// The TRUNCATE window: a migration holds ACCESS EXCLUSIVE on big, empties and refills it, and commits while
// the backup waits for it. Plain pg_dump has its snapshot before it waits, so it would dump big empty; the
// parallel dump locks the tables it splits before it exports its snapshot, so it dumps the refill whole.
TEST_F(PostgresParallel, ARefillCommittedWhileTheBackupWaitsForItsLockIsDumpedWhole)
{
    RunOptions o;
    o.env["PGAPPNAME"] = "migration";
    const std::string refill = "BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); TRUNCATE big "
                               "CASCADE; INSERT INTO big (id, body) SELECT g, md5(g::text) FROM generate_series(1, "
                               "50000) g; COMMIT;";
    auto migration =
        std::make_unique<Background>(std::vector<std::string>{PostgresServer::bin_dir() + "/psql", "-qX", "-v",
                                                              "ON_ERROR_STOP=1", "-d", m_pg->url("app"), "-c", refill},
                                     o);
    ASSERT_TRUE(wait_until([&] {
        return m_pg->psql("app", "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE "
                                 "a.application_name = 'migration' AND l.mode = 'AccessExclusiveLock' AND "
                                 "l.granted") != "0";
    }));
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(migration->wait(std::chrono::seconds(60)), 0);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto m = only_manifest();
    EXPECT_EQ(m["stats"]["public.big"], 50000) << m.dump(2);
    ASSERT_EQ(dbkeep({"restore", "app", "--to", m_pg->url("copy")}).exit_code, 0);
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM big"), "50000");
}

// A worker's session killed in the middle of its chunk: the backup fails, and leaves no manifest and no object.
TEST_F(PostgresParallel, AWorkerKilledMidChunkLeavesNoManifestAndNoObject)
{
    m_pg->psql("app", "INSERT INTO big (id, body) SELECT g, repeat(md5(g::text), 8) FROM generate_series(200000, "
                      "700000) g");
    // Server-side, every millisecond for up to a minute: terminates the first session running a chunk's COPY.
    const std::string kill_first_copy =
        "DO $$ BEGIN FOR i IN 1..60000 LOOP PERFORM pg_stat_clear_snapshot(); "
        "PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT%' "
        "AND pid <> pg_backend_pid(); EXIT WHEN FOUND; PERFORM pg_sleep(0.001); END LOOP; END $$";
    auto killer = std::make_unique<Background>(std::vector<std::string>{
        PostgresServer::bin_dir() + "/psql", "-qX", "-d", m_pg->url("postgres"), "-c", kill_first_copy});
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(killer->wait(std::chrono::seconds(60)), 0);
    EXPECT_NE(r.exit_code, 0) << r.err;
    EXPECT_TRUE(m_work->manifests().empty());
    EXPECT_EQ(stored_data_objects(), std::vector<std::string>{}) << r.err;
    EXPECT_EQ(m_pg->psql("app", "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'dbkeep%'"), "0");
}

// SIGTERM while the parts load: dbkeep stops within seconds, and the database it created is dropped.
TEST_F(PostgresParallel, SigtermWhileThePartsLoadStopsAndDropsTheNewDatabase)
{
    m_pg->psql("app", "INSERT INTO big (id, body) SELECT g, repeat(md5(g::text), 8) FROM generate_series(200000, "
                      "900000) g");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto restore = m_work->start_dbkeep({"restore", "app", "--to", m_pg->url("copy")}, "restore.log");
    ASSERT_TRUE(wait_until(
        [&] {
            return m_pg->psql("postgres", "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'COPY %FROM "
                                          "STDIN'") == "t" ||
                   !restore->running();
        },
        std::chrono::seconds(120), std::chrono::milliseconds(10)));
    ASSERT_TRUE(restore->running()) << m_work->log("restore.log");
    const auto t0 = std::chrono::steady_clock::now();
    restore->signal(SIGTERM);
    EXPECT_NE(restore->wait(std::chrono::seconds(30)), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
    EXPECT_EQ(m_pg->psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'copy'"), "0")
        << m_work->log("restore.log");
}

// A parallel dump whose manifest is lost is not rebuilt from its data object alone (that manifest would describe
// a backup without its big tables' rows), nor from its parts; prune --orphans removes them all.
TEST_F(PostgresParallel, RepairLeavesAParallelDumpWithoutItsManifestAlone)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    const auto objects = stored_data_objects();
    ASSERT_GT(objects.size(), 1u);
    fs::remove(m_work->backups() / m_work->manifests()[0]);
    auto r = dbkeep({"repair", "app"});
    EXPECT_NE(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE((r.out + r.err).find("parallel dump whose manifest is lost"), std::string::npos) << r.out << r.err;
    // The data object: restore by hand or prune; each part: prune.
    EXPECT_NE(r.out.find("restore what it holds by hand with pg_restore or psql if needed (docs/format.md); "
                         "`dbkeep prune app --orphans` deletes it and its parts"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("`dbkeep prune app --orphans` deletes it, with the backup's other orphaned objects"),
              std::string::npos)
        << r.out;
    EXPECT_TRUE(m_work->manifests().empty());
    EXPECT_EQ(stored_data_objects(), objects);
}

TEST_F(PostgresParallel, WithoutATableOverTheThresholdTheBackupIsOneObject)
{
    write_config("    jobs: 2\n    split_tables_larger_than: 1GiB\n");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto m = only_manifest();
    EXPECT_EQ(m["format"], 1);
    EXPECT_FALSE(m.contains("parts"));
    EXPECT_EQ(stored_data_objects().size(), 1u);
}

} // namespace
