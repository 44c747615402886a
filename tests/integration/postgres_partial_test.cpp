// Issue 12 (kind 6): leaving tables out of a PostgreSQL backup (exclude_tables, exclude_schemas,
// exclude_table_data, pg_dump's patterns) and restoring part of one (restore --table / --schema), against a real
// PostgreSQL 15: what is left out is absent after a restore, excluded data leaves the table present and empty
// (and verify --restore agrees), a partial restore works into a fresh database and into one lacking the
// objects, refuses a name the backup lacks before anything is written, and loads only the named tables' chunks
// of a parallel (jobs:) backup.
#include "support/postgres_fixture.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* k_seed_sql = R"SQL(
CREATE SCHEMA audit;
CREATE TABLE audit.log (id int PRIMARY KEY, msg text);
INSERT INTO audit.log SELECT g, 'm' || g FROM generate_series(1, 5) g;
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id serial PRIMARY KEY, total numeric NOT NULL);
INSERT INTO billing.invoices (total) SELECT g FROM generate_series(1, 20) g;
CREATE INDEX invoices_total ON billing.invoices (total);
COMMENT ON TABLE billing.invoices IS 'the invoices';
CREATE TABLE customers (id int PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 30) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers (id), note text);
INSERT INTO orders SELECT g, g % 30 + 1, 'o' || g FROM generate_series(1, 50) g;
CREATE TABLE sessions (id int, token text);
INSERT INTO sessions SELECT g, md5(g::text) FROM generate_series(1, 40) g;
CREATE TABLE debug_trace (id int);
INSERT INTO debug_trace VALUES (1);
CREATE TABLE big (id bigint PRIMARY KEY, body text);
INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
VACUUM ANALYZE;
)SQL";

class PostgresPartial : public PostgresTest {
protected:
    PostgresPartial() : PostgresTest({.seed_sql = k_seed_sql, .tag = "dbkeep-pgpart"}) {}
    void SetUp() override
    {
        PostgresTest::SetUp();
        if (!IsSkipped()) {
            write_config();
        }
    }
    nlohmann::json only_manifest() const
    {
        auto manifests = m_work->manifests();
        EXPECT_EQ(manifests.size(), 1u);
        return manifests.empty() ? nlohmann::json{}
                                 : nlohmann::json::parse(read_file(m_work->backups() / manifests[0]));
    }
    std::string psql(const std::string& db, const std::string& sql) const { return m_pg->psql(db, sql); }
    bool database_exists(const std::string& db) const
    {
        return psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = '" + db + "'") == "1";
    }
    // The user tables of db, "schema.table" sorted, comma-separated.
    std::string tables(const std::string& db) const
    {
        return psql(
            db,
            "SELECT coalesce(string_agg(schemaname || '.' || tablename, ',' ORDER BY schemaname, tablename), '') FROM "
            "pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')");
    }
};

TEST_F(PostgresPartial, ExcludedTablesAndSchemasAreAbsentAfterRestore)
{
    write_config("    exclude_tables: [debug_trace]\n    exclude_schemas: ['aud*']\n");
    auto r = dbkeep({"backup", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto m = only_manifest();
    EXPECT_EQ(m["details"]["exclude_tables"], "[\"debug_trace\"]") << m["details"].dump(2);
    EXPECT_EQ(m["details"]["exclude_schemas"], "[\"aud*\"]");
    EXPECT_FALSE(m["stats"].contains("public.debug_trace")) << m["stats"].dump(2);
    EXPECT_FALSE(m["stats"].contains("audit.log"));
    EXPECT_EQ(m["stats"]["public.orders"], 50);

    r = dbkeep({"restore", "app", "--to", m_pg->url("copy")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(tables("copy"), "billing.invoices,public.big,public.customers,public.orders,public.sessions");
    EXPECT_EQ(psql("copy", "SELECT count(*) FROM pg_namespace WHERE nspname = 'audit'"), "0");
    EXPECT_EQ(psql("copy", "SELECT count(*) FROM orders"), "50");
    r = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("scratch")});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(PostgresPartial, ExcludedTableDataLeavesTheTableEmptyAndVerifyRestorePasses)
{
    write_config("    exclude_table_data: [public.sessions]\n");
    auto r = dbkeep({"backup", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto m = only_manifest();
    EXPECT_EQ(m["details"]["exclude_table_data"], "[\"public.sessions\"]");
    EXPECT_EQ(m["stats"]["public.sessions"], 0) << "dumped without rows, and recorded so: " << m["stats"].dump(2);
    EXPECT_EQ(m["stats"]["public.customers"], 30);

    r = dbkeep({"restore", "app", "--to", m_pg->url("copy")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(psql("copy", "SELECT count(*) FROM sessions"), "0");
    EXPECT_EQ(psql("copy", "SELECT count(*) FROM customers"), "30");
    r = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("scratch")});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

// `dbkeep repair` records what the backup recorded for exclude_table_data: the patterns and 0 rows for the table
// the archive holds without data (record_exclusions, as dump_database), so verify --restore passes on the
// rebuilt manifest too.
TEST_F(PostgresPartial, RepairRecordsExcludedTableDataAsTheBackupDid)
{
    write_config("    exclude_table_data: [public.sessions]\n");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    const auto original = only_manifest();
    ASSERT_EQ(original["stats"]["public.sessions"], 0) << original["stats"].dump(2);
    fs::remove(m_work->backups() / m_work->manifests()[0]);
    auto r = dbkeep({"repair", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const auto repaired = only_manifest();
    EXPECT_EQ(repaired["stats"], original["stats"]);
    EXPECT_EQ(repaired["details"]["exclude_table_data"], "[\"public.sessions\"]") << repaired["details"].dump(2);
    EXPECT_EQ(repaired["details"]["tables_without_data"], original["details"]["tables_without_data"]);
    EXPECT_TRUE(repaired["details"].contains("repaired"));
    r = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("scratch")});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(PostgresPartial, OneTableIntoAFreshDatabaseComesWithItsSchemaIndexesAndSequence)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("fresh"), "--table", "billing.invoices"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(tables("fresh"), "billing.invoices");
    EXPECT_EQ(psql("fresh", "SELECT count(*), sum(total) FROM billing.invoices"), "20|210");
    EXPECT_EQ(psql("fresh", "SELECT count(*) FROM pg_indexes WHERE indexname IN ('invoices_pkey', 'invoices_total')"),
              "2");
    EXPECT_EQ(psql("fresh", "SELECT obj_description('billing.invoices'::regclass)"), "the invoices");
    EXPECT_EQ(psql("fresh", "INSERT INTO billing.invoices (total) VALUES (1) RETURNING id"), "21")
        << "the serial column's sequence and default came with the table";

    // A table whose foreign key points at a table left out: restored without that key.
    r = dbkeep({"restore", "app", "--to", m_pg->url("fresh2"), "--table", "orders"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(tables("fresh2"), "public.orders");
    EXPECT_EQ(psql("fresh2", "SELECT count(*) FROM orders"), "50");
    EXPECT_EQ(
        psql("fresh2", "SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'p'"),
        "1");
}

// A partial restore logged and summed up the whole backup's size as if all of it had been restored; it says what
// it restored instead, and only a whole restore gives the backup's raw size.
TEST_F(PostgresPartial, APartialRestoreLogsWhatItRestoredNotTheWholeBackupsSize)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto complete = [](const std::string& err) {
        nlohmann::json found;
        std::istringstream in(err);
        for (std::string line; std::getline(in, line);) {
            auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_object() && j.value("msg", "") == "restore complete") {
                found = j;
            }
        }
        return found;
    };

    auto r = dbkeep({"restore", "app", "--to", m_pg->url("part"), "--table", "billing.invoices", "--schema", "audit"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(tables("part"), "audit.log,billing.invoices");
    auto log = complete(r.err);
    ASSERT_TRUE(log.is_object()) << r.err;
    EXPECT_EQ(log["restored"], "table billing.invoices, schema audit") << log.dump();
    EXPECT_EQ(log["tables"], "billing.invoices") << log.dump();
    EXPECT_EQ(log["schemas"], "audit") << log.dump();
    EXPECT_FALSE(log.contains("raw_bytes")) << log.dump();
    const auto partial_log = log;
    EXPECT_NE(r.out.find("restored table billing.invoices, schema audit of app "), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find('('), std::string::npos) << "no size in the summary: " << r.out;

    auto j = dbkeep({"restore", "app", "--to", m_pg->url("part2"), "--table", "orders", "--json"});
    ASSERT_EQ(j.exit_code, 0) << j.err;
    EXPECT_EQ(nlohmann::json::parse(j.out)["restored"], "table orders") << j.out;

    // The whole backup: its raw size, in the log and the summary.
    auto whole = dbkeep({"restore", "app", "--to", m_pg->url("whole")});
    ASSERT_EQ(whole.exit_code, 0) << whole.err;
    log = complete(whole.err);
    EXPECT_EQ(log["restored"], "the whole backup") << whole.err;
    const std::string raw = log.value("raw_bytes", "");
    EXPECT_GT(raw.size(), 3u) << whole.err;
    EXPECT_EQ(partial_log.dump().find(raw), std::string::npos) << partial_log.dump();
    EXPECT_NE(whole.out.find(") into "), std::string::npos) << whole.out;
}

TEST_F(PostgresPartial, IntoAnExistingDatabaseOnlyWhenTheObjectsAreAbsentThere)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    m_pg->create_database("live");
    psql("live", "CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers VALUES (1, 'kept')");

    auto r = dbkeep({"restore", "app", "--to", m_pg->url("live"), "--table", "orders", "--table", "billing.invoices"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(tables("live"), "billing.invoices,public.customers,public.orders");
    EXPECT_EQ(psql("live", "SELECT count(*) FROM orders"), "50");
    EXPECT_EQ(psql("live", "SELECT count(*) FROM billing.invoices"), "20") << "its missing schema was created";
    EXPECT_EQ(psql("live", "SELECT name FROM customers"), "kept") << "the database's own table is untouched";
    EXPECT_EQ(psql("live", "SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'f'"),
              "0")
        << "a foreign key to a table outside the selection is left out";

    // Again: the tables are there now, so it is refused unless --clean.
    psql("live", "DELETE FROM orders WHERE id > 10");
    r = dbkeep({"restore", "app", "--to", m_pg->url("live"), "--table", "orders"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("table public.orders"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--clean"), std::string::npos) << r.err;
    EXPECT_EQ(psql("live", "SELECT count(*) FROM orders"), "10");

    r = dbkeep({"restore", "app", "--to", m_pg->url("live"), "--table", "public.orders", "--clean"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(psql("live", "SELECT count(*) FROM orders"), "50");
    EXPECT_EQ(psql("live", "SELECT name FROM customers"), "kept");
}

TEST_F(PostgresPartial, ANameNotInTheBackupIsRefusedBeforeAnythingIsWritten)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("fresh"), "--table", "orders", "--table", "nope"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("not in the backup: table nope"), std::string::npos) << r.err;
    EXPECT_FALSE(database_exists("fresh")) << "nothing written: not even the database";

    m_pg->create_database("live");
    r = dbkeep({"restore", "app", "--to", m_pg->url("live"), "--table", "orders", "--schema", "nowhere"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("schema nowhere"), std::string::npos) << r.err;
    EXPECT_EQ(tables("live"), "");

    // A schema-qualified name must match the schema too.
    r = dbkeep({"restore", "app", "--to", m_pg->url("live"), "--table", "billing.orders"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(tables("live"), "");
}

TEST_F(PostgresPartial, SchemaRestoresEverythingInIt)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("fresh"), "--schema", "billing"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(tables("fresh"), "billing.invoices");
    EXPECT_EQ(psql("fresh", "SELECT count(*) FROM billing.invoices"), "20");
    EXPECT_EQ(psql("fresh", "INSERT INTO billing.invoices (total) VALUES (1) RETURNING id"), "21");

    // Into a database that has the schema already: refused unless --clean.
    r = dbkeep({"restore", "app", "--to", m_pg->url("fresh"), "--schema", "billing"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("schema billing"), std::string::npos) << r.err;
}

TEST_F(PostgresPartial, TableOfAParallelBackupLoadsOnlyItsChunks)
{
    write_config("    jobs: 2\n    split_tables_larger_than: 64KiB\n");
    auto r = dbkeep({"backup", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto m = only_manifest();
    ASSERT_TRUE(m["parts"].is_array() && !m["parts"].empty()) << m.dump(2);
    for (const auto& p : m["parts"]) {
        EXPECT_EQ(p["details"]["table"], "big") << "only big is split";
    }

    r = dbkeep({"restore", "app", "--to", m_pg->url("one"), "--table", "big"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(tables("one"), "public.big");
    EXPECT_EQ(psql("one", "SELECT count(*), sum(id) FROM big"), "20000|200010000");
    EXPECT_EQ(psql("one", "SELECT count(*) FROM pg_indexes WHERE indexname = 'big_pkey'"), "1");

    // Another table: big's chunks are not loaded (they would fail: big is not there).
    r = dbkeep({"restore", "app", "--to", m_pg->url("two"), "--table", "customers", "--jobs", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(tables("two"), "public.customers");
    EXPECT_EQ(psql("two", "SELECT count(*) FROM customers"), "30");
}

TEST_F(PostgresPartial, ExclusionsWithJobsDumpOneStreamWithAWarning)
{
    write_config("    jobs: 2\n    split_tables_larger_than: 64KiB\n    exclude_table_data: [big]\n");
    auto r = dbkeep({"backup", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("one stream"), std::string::npos) << r.err;
    auto m = only_manifest();
    EXPECT_TRUE(!m.contains("parts") || m["parts"].empty()) << m.dump(2);
    EXPECT_EQ(m["stats"]["public.big"], 0);
    r = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("scratch")});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(PostgresPartial, AChecksumMismatchRestoresNothing)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto mpath = m_work->backups() / m_work->manifests().at(0);
    auto m = nlohmann::json::parse(read_file(mpath));
    m["object"]["sha256"] = std::string(64, '0');
    write_file(mpath, m.dump(2));
    m_pg->create_database("live");
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("live"), "--table", "orders"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("SHA-256 mismatch"), std::string::npos) << r.err;
    EXPECT_EQ(tables("live"), "") << "the checksum is checked before pg_restore starts";
    r = dbkeep({"restore", "app", "--to", m_pg->url("fresh"), "--schema", "billing"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_FALSE(database_exists("fresh"));
}

// A dump whose table of contents this dbkeep cannot read (here pg_dump compressed its data itself, as a wrapper
// set as pg_dump_path may make it do): --table is refused before anything is written, naming the two ways that
// work, and both do.
TEST_F(PostgresPartial, ADumpWhoseTableOfContentsCannotBeReadIsRestoredWholeOrByPgRestore)
{
    auto gzip = fake_pg_dump("pg_dump_gzip", "for a; do shift; case \"$a\" in --compress=0) set -- \"$@\" "
                                             "--compress=6;; *) set -- \"$@\" \"$a\";; esac; done\nexec " +
                                                 PostgresServer::bin_dir() + "/pg_dump \"$@\"");
    write_config("    pg_dump_path: " + gzip + "\n");
    auto b = dbkeep({"backup", "app"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("fresh"), "--table", "orders"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("this dbkeep cannot read it (its data is compressed"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("restore the whole backup, or write it with --output and use pg_restore -t/-n"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(database_exists("fresh"));

    const auto out = (m_work->dir() / "app.pgdump").string();
    auto o = dbkeep({"restore", "app", "--output", out});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    m_pg->create_database("by_hand");
    auto pr = run({PostgresServer::bin_dir() + "/pg_restore", "--dbname", m_pg->url("by_hand"), "-t", "orders", out});
    ASSERT_EQ(pr.exit_code, 0) << pr.err;
    EXPECT_EQ(tables("by_hand"), "public.orders");
    EXPECT_EQ(psql("by_hand", "SELECT count(*) FROM orders"), "50");
    auto whole = dbkeep({"restore", "app", "--to", m_pg->url("whole")});
    ASSERT_EQ(whole.exit_code, 0) << whole.err;
    EXPECT_EQ(psql("whole", "SELECT count(*) FROM orders"), "50");
}

TEST_F(PostgresPartial, TableAndSchemaAreUsageErrorsWithOutputOrAnotherEngine)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto out = (m_work->dir() / "app.pgdump").string();
    auto r = dbkeep({"restore", "app", "--output", out, "--table", "orders"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--output writes the whole dump"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("write the dump with --output and pick from it with pg_restore -t/-n, or restore with --to"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(fs::exists(out));

    m_work->write_config(m_work->local_storage_yaml() + postgres_target_yaml(m_pg->url("app")) +
                         "  lite:\n    engine: sqlite\n    path: /tmp/dbkeep-partial-none.db\n");
    r = dbkeep({"restore", "lite", "--to", "/tmp/dbkeep-partial-none-copy.db", "--schema", "main"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("part of a PostgreSQL dump; this target's engine is sqlite"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("restore the whole backup without --table/--schema"), std::string::npos) << r.err;
}

// A LATIN1 database: names given in UTF-8 (the YAML file, the command line) mean the same table as in the
// database. exclude_tables leaves "café" out (pg_dump reads the pattern in the database's encoding), and
// --table finds "naïve" in a dump whose names are LATIN1 bytes; a pattern the encoding cannot hold is refused.
TEST_F(PostgresPartial, NonAsciiNamesOfALatin1DatabaseAreExcludedAndRestoredByName)
{
    m_pg->psql("postgres", "CREATE DATABASE legacy ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
    m_pg->psql("legacy", "SET client_encoding = 'UTF8'; CREATE TABLE public.\"café\" (id int); INSERT INTO "
                         "public.\"café\" VALUES (1), (2); CREATE TABLE public.\"naïve\" (id int); INSERT INTO "
                         "public.\"naïve\" VALUES (1), (2), (3);");
    write_config("    exclude_tables: ['café']\n", m_pg->url("legacy"));
    auto b = dbkeep({"backup", "app"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto m = nlohmann::json::parse(read_file(m_work->backups() / m_work->manifests()[0]));
    EXPECT_FALSE(m["stats"].contains("public.café")) << m["stats"].dump();
    EXPECT_EQ(m["stats"]["public.naïve"], 3) << m["stats"].dump();

    auto r = dbkeep({"restore", "app", "--table", "naïve", "--to", m_pg->url("legacy_part")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(m_pg->psql("legacy_part", "SET client_encoding = 'UTF8'; SELECT count(*) FROM public.\"naïve\""), "3");

    write_config("    exclude_tables: ['日本']\n", m_pg->url("legacy"));
    auto refused = dbkeep({"backup", "app"});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("cannot be written in the database's encoding LATIN1"), std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("write the pattern with characters of that encoding, or with ? for the others"),
              std::string::npos)
        << refused.err;
}

} // namespace
