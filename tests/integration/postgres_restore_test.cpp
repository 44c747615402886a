// Restores that recreate the source database and are safe to repeat (issue 12, reports 5 and 7), through the
// dbkeep binary against real PostgreSQL 15 servers.
#include "support/postgres_fixture.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;

namespace {

// Database `app` as an application sets it up: its tables in schema billing, found through the database's
// search_path; a comment; CONNECT only for the application's role.
constexpr const char* k_app_sql = R"SQL(
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id int PRIMARY KEY, amount numeric(12,2));
INSERT INTO billing.invoices SELECT g, g * 1.5 FROM generate_series(1, 100) g;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_reader') THEN CREATE ROLE app_reader LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_owner') THEN CREATE ROLE app_owner; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stranger') THEN CREATE ROLE stranger LOGIN; END IF;
END $$;
ALTER TABLE billing.invoices OWNER TO app_owner;
ALTER DATABASE app SET search_path = billing, public;
COMMENT ON DATABASE app IS 'the billing app';
REVOKE CONNECT ON DATABASE app FROM PUBLIC;
GRANT CONNECT ON DATABASE app TO app_reader;
)SQL";

class PostgresRestore : public PostgresTest {
protected:
    PostgresRestore() : PostgresTest({.seed_sql = k_app_sql}) {}
    void SetUp() override
    {
        PostgresTest::SetUp();
        if (!IsSkipped()) {
            write_config();
        }
    }
    static std::string encoding_of(const PostgresServer& pg, const std::string& db)
    {
        return pg.psql("postgres", "SELECT pg_encoding_to_char(encoding) || ' ' || datcollate || ' ' || datctype "
                                   "FROM pg_database WHERE datname = '" +
                                       db + "'");
    }
    static bool exists(const PostgresServer& pg, const std::string& db)
    {
        return pg.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = '" + db + "'") == "1";
    }
};

// Report 5: a SQL_ASCII source restored on a server whose default is UTF8 stays SQL_ASCII, bytes and all.
TEST_F(PostgresRestore, SqlAsciiSourceStaysSqlAsciiOnAUtf8Server)
{
    m_pg->psql("postgres", "CREATE DATABASE ascii TEMPLATE template0 ENCODING 'SQL_ASCII' LOCALE 'C'");
    m_pg->psql("ascii", "CREATE TABLE t (v text); INSERT INTO t VALUES (E'caf\\351')");
    write_config("", m_pg->url("ascii"));
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("ascii_copy")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(encoding_of(*m_pg, "ascii_copy"), "SQL_ASCII C C");
    EXPECT_EQ(m_pg->psql("ascii_copy", "SELECT encode(v::bytea, 'hex') FROM t"), "636166e9");
}

// Report 5: a UTF8 source restored on a server initialised with --locale=C (SQL_ASCII by default) stays UTF8
// with its locale.
TEST_F(PostgresRestore, Utf8SourceStaysUtf8OnALocaleCServer)
{
    PostgresServer plain({.initdb_locale = "--locale=C"});
    ASSERT_EQ(encoding_of(plain, "postgres"), "SQL_ASCII C C") << "the destination server's default";
    plain.psql("postgres", "CREATE ROLE app_reader LOGIN; CREATE ROLE app_owner; CREATE ROLE stranger LOGIN");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto r = dbkeep({"restore", "app", "--to", plain.url("copy")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(encoding_of(plain, "copy"), "UTF8 C.UTF-8 C.UTF-8");
    EXPECT_EQ(plain.psql("copy", "SELECT count(*) FROM invoices"), "100");
}

// Report 5: the database's search_path, comment and CONNECT privileges come along under the new name, so the
// application's unqualified queries work after the restore.
TEST_F(PostgresRestore, SettingsCommentAndConnectAclSurviveUnderTheNewName)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("copy")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(m_pg->psql("copy", "SHOW search_path"), "billing, public");
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM invoices"), "100");
    EXPECT_EQ(m_pg->psql("postgres", "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                                     "WHERE datname = 'copy'"),
              "the billing app");
    EXPECT_EQ(m_pg->psql("postgres", "SELECT has_database_privilege('app_reader', 'copy', 'CONNECT')"), "t");
    EXPECT_EQ(m_pg->psql("postgres", "SELECT has_database_privilege('stranger', 'copy', 'CONNECT')"), "f");
    EXPECT_EQ(m_pg->psql("copy", "SELECT tableowner FROM pg_tables WHERE tablename = 'invoices'"), "app_owner");
}

// Report 7: verify --restore into the same scratch URL night after night; the scratch database is dropped
// afterwards unless --keep, and a kept one is made afresh the next night.
TEST_F(PostgresRestore, VerifyRestoreIntoTheSameScratchWorksEveryNight)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    for (int night = 1; night <= 2; ++night) {
        auto r = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("scratch")});
        ASSERT_EQ(r.exit_code, 0) << "night " << night << ": " << r.out << r.err;
        EXPECT_NE(r.out.find(" ok"), std::string::npos) << r.out;
        EXPECT_FALSE(exists(*m_pg, "scratch")) << "night " << night;
    }
    for (int night = 3; night <= 4; ++night) {
        auto r = dbkeep({"verify", "app", "--restore", "--keep", "--to", m_pg->url("scratch")});
        ASSERT_EQ(r.exit_code, 0) << "night " << night << ": " << r.out << r.err;
        EXPECT_EQ(m_pg->psql("scratch", "SELECT count(*) FROM billing.invoices"), "100");
    }
}

// Report 7: a scratch database verify did not make is left alone when it holds objects.
TEST_F(PostgresRestore, VerifyRestoreRefusesAScratchDatabaseItDidNotMake)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    m_pg->create_database("precious");
    m_pg->psql("precious", "CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (1)");
    auto r = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("precious")});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE((r.out + r.err).find("not made by dbkeep verify"), std::string::npos) << r.out << r.err;
    EXPECT_NE((r.out + r.err).find("drop it or name another --to: verify --restore makes its scratch database afresh"),
              std::string::npos)
        << r.out << r.err;
    EXPECT_EQ(m_pg->psql("precious", "SELECT count(*) FROM keep_me"), "1");
    // The server's own databases are never a scratch database, whatever they hold.
    for (const std::string db : {"postgres", "template1"}) {
        auto own = dbkeep({"verify", "app", "--restore", "--to", m_pg->url(db)});
        EXPECT_NE(own.exit_code, 0) << db;
        EXPECT_NE((own.out + own.err).find(db + " is the server's own"), std::string::npos) << own.out << own.err;
        EXPECT_NE((own.out + own.err)
                      .find("name a database that nothing else uses, e.g. "
                            "postgres://user@host:5432/dbkeep_scratch"),
                  std::string::npos)
            << own.out << own.err;
    }
}

// Report 7: a restore into a database that holds objects refuses with a hint and touches nothing; with
// --clean it replaces the dump's objects.
TEST_F(PostgresRestore, RestoreIntoADatabaseWithObjectsNeedsClean)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    ASSERT_EQ(dbkeep({"restore", "app", "--to", m_pg->url("copy")}).exit_code, 0);
    m_pg->psql("copy", "DELETE FROM billing.invoices WHERE id > 10");
    auto refused = dbkeep({"restore", "app", "--to", m_pg->url("copy")});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("--clean"), std::string::npos) << refused.err;
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM billing.invoices"), "10");
    auto cleaned = dbkeep({"restore", "app", "--clean", "--to", m_pg->url("copy")});
    ASSERT_EQ(cleaned.exit_code, 0) << cleaned.err;
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM billing.invoices"), "100");
}

// Report 6/7: a restore onto a server without the owner roles fails with a remedy and drops the database it
// created, so the retry (here with --no-owner --no-acl) starts clean; --keep-failed keeps it.
TEST_F(PostgresRestore, FailedRestoreDropsTheDatabaseItCreated)
{
    PostgresServer fresh;
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto failed = dbkeep({"restore", "app", "--to", fresh.url("copy")});
    EXPECT_NE(failed.exit_code, 0);
    EXPECT_NE(failed.err.find("--no-owner"), std::string::npos) << failed.err;
    // The database's own GRANT CONNECT to the missing role fails before any object is restored.
    EXPECT_NE(
        failed.err.find("refused the source database's setting `GRANT CONNECT ON DATABASE \"copy\" TO app_reader"),
        std::string::npos)
        << failed.err;
    EXPECT_FALSE(exists(fresh, "copy"));

    // The database's own statements passed (--no-acl), the tables' owners did not: still dropped.
    auto owners = dbkeep({"restore", "app", "--no-acl", "--to", fresh.url("copy")});
    EXPECT_NE(owners.exit_code, 0);
    EXPECT_NE(owners.err.find("app_owner"), std::string::npos) << owners.err;
    EXPECT_FALSE(exists(fresh, "copy"));

    auto kept = dbkeep({"restore", "app", "--no-acl", "--keep-failed", "--to", fresh.url("copy")});
    EXPECT_NE(kept.exit_code, 0);
    EXPECT_TRUE(exists(fresh, "copy"));
    fresh.psql("postgres", "DROP DATABASE copy");

    auto retry = dbkeep({"restore", "app", "--no-owner", "--no-acl", "--to", fresh.url("copy")});
    ASSERT_EQ(retry.exit_code, 0) << retry.err;
    EXPECT_EQ(fresh.psql("copy", "SELECT count(*) FROM invoices"), "100");
}

} // namespace

namespace {

// Reading the database's entries before a single-job restore reads the dump's table of contents only, not
// the data behind it (which streams on to pg_restore without being held in memory).
TEST_F(PostgresRestore, ReadingTheDatabaseEntriesReadsOnlyTheTableOfContents)
{
    m_pg->psql("app", "CREATE TABLE public.bulk AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS pad "
                      "FROM generate_series(1, 200000) g");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto r = dbkeep({"--log-level", "debug", "restore", "app", "--to", m_pg->url("copy")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto at = r.err.find("read_ahead_bytes");
    ASSERT_NE(at, std::string::npos) << r.err;
    auto digits = r.err.substr(r.err.find_first_of("0123456789", at));
    EXPECT_LT(std::stoull(digits), 1u << 20) << "a dump of about 14 MB: " << r.err.substr(at, 80);
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM public.bulk"), "200000");
}

} // namespace

namespace {

// A table of contents larger than a single-job restore holds in memory while pg_restore reads it (256 MiB; here a
// 300 MiB comment): refused, naming --jobs 2, with which the same backup restores.
TEST_F(PostgresRestore, ATableOfContentsOver256MiBRestoresWithJobs2)
{
    m_pg->psql("app", "DO $$ BEGIN EXECUTE format('COMMENT ON TABLE billing.invoices IS %L', repeat('x', 300 * 1024 * "
                      "1024)); END $$");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("copy")});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("pg_restore read more than 256 MiB of it"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("restore with --jobs 2, which reads the table of contents from a temp file"),
              std::string::npos)
        << r.err;
    auto jobs = dbkeep({"restore", "app", "--to", m_pg->url("copy"), "--jobs", "2"});
    ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
    EXPECT_EQ(m_pg->psql("copy", "SELECT length(obj_description('billing.invoices'::regclass))"), "314572800");
}

// A single-job restore runs in one transaction: a SHA-256 mismatch, found only at the end of the stream,
// leaves nothing behind, even in a database the restore did not create; --jobs checks before pg_restore.
TEST_F(PostgresRestore, ChecksumMismatchAtTheEndCommitsNothing)
{
    // Big enough that pg_restore has created the schema long before the stream (and its checksum) ends.
    m_pg->psql("app", "CREATE TABLE public.bulk AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS pad "
                      "FROM generate_series(1, 200000) g");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto manifests = m_work->manifests();
    ASSERT_EQ(manifests.size(), 1u);
    auto mpath = m_work->backups() / manifests[0];
    auto m = nlohmann::json::parse(read_file(mpath));
    m["object"]["sha256"] = std::string(64, '0');
    write_file(mpath, m.dump(2));
    m_pg->create_database("empty");
    for (const char* jobs : {"1", "2"}) {
        auto r = dbkeep({"restore", "app", "--jobs", jobs, "--to", m_pg->url("empty")});
        EXPECT_EQ(r.exit_code, 1) << "--jobs " << jobs;
        EXPECT_NE(r.err.find("SHA-256 mismatch"), std::string::npos) << r.err;
        EXPECT_EQ(m_pg->psql("empty", "SELECT count(*) FROM pg_namespace WHERE nspname = 'billing'"), "0")
            << "--jobs " << jobs;
    }
}

} // namespace

namespace {

// A source whose name pg_dump must quote (a reserved word) is recreated under a new name all the same.
TEST_F(PostgresRestore, ASourceNameThatNeedsQuotingIsRenamedInEveryStatement)
{
    m_pg->psql("postgres", "CREATE DATABASE \"user\"");
    m_pg->psql("user", "CREATE TABLE t (x int); ALTER DATABASE \"user\" SET work_mem = '7MB'; "
                       "COMMENT ON DATABASE \"user\" IS 'DATABASE \"user\" stays in the comment'");
    write_config("", m_pg->url("user"));
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("users_copy")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(m_pg->psql("users_copy", "SHOW work_mem"), "7MB");
    EXPECT_EQ(m_pg->psql("postgres", "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                                     "WHERE datname = 'users_copy'"),
              "DATABASE \"user\" stays in the comment");
    EXPECT_EQ(m_pg->psql("user", "SHOW work_mem"), "7MB") << "the source is untouched";
}

} // namespace
