// Connection strings mean what libpq means (issue 12, report 8): a socket directory in the URL's query, ?port=,
// ?options= and key=value strings reach dbkeep's own session, pg_dump and pg_restore alike, against a real
// PostgreSQL 15; the manifest records the database actually dumped.
#include "support/postgres_fixture.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {

class PostgresConninfo : public PostgresTest {
protected:
    PostgresConninfo()
        : PostgresTest(
              {.seed_sql = "CREATE TABLE public.t (id int); INSERT INTO public.t SELECT generate_series(1, 321);"})
    {
    }
    // postgresql:///DB?host=<socket dir>&port=<port>&user=postgres: the form of report 8.
    std::string socket_url(const std::string& db) const
    {
        return "postgresql:///" + db + "?host=" + m_pg->socket_dir() + "&port=" + std::to_string(m_pg->port()) +
               "&user=postgres";
    }
    nlohmann::json only_manifest() const
    {
        auto manifests = m_work->files_ending(".manifest.json");
        EXPECT_EQ(manifests.size(), 1u);
        return manifests.empty() ? nlohmann::json{}
                                 : nlohmann::json::parse(read_file(m_work->backups() / manifests[0]));
    }
    std::string only_backup_id()
    {
        auto list = dbkeep({"list", "app", "--json"});
        EXPECT_EQ(list.exit_code, 0) << list.err;
        auto listed = nlohmann::json::parse(list.out);
        return listed.empty() ? std::string() : listed[0]["id"].get<std::string>();
    }
};

} // namespace

TEST_F(PostgresConninfo, SocketDirectoryUrlBacksUpAndRestoresThroughTheSocket)
{
    write_config("", socket_url("app"));
    auto v = dbkeep({"config", "validate"});
    EXPECT_EQ(v.exit_code, 0) << v.err;
    auto r = dbkeep({"backup", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(only_manifest()["details"]["database"], "app");
    auto id = only_backup_id();
    ASSERT_FALSE(id.empty());
    auto restored = dbkeep({"restore", "app", "--backup", id, "--to", socket_url("copy")});
    ASSERT_EQ(restored.exit_code, 0) << restored.err;
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM public.t"), "321");
}

TEST_F(PostgresConninfo, KeyValueStringWithTheDatabaseInItRecordsThatDatabase)
{
    m_pg->create_database("other");
    m_pg->psql("other", "CREATE TABLE public.only_here (x int); INSERT INTO public.only_here VALUES (1), (2);");
    write_config("", "\"host=" + m_pg->socket_dir() + " port=" + std::to_string(m_pg->port()) +
                         " user=postgres dbname=other\"");
    auto r = dbkeep({"backup", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto m = only_manifest();
    EXPECT_EQ(m["details"]["database"], "other") << m.dump();
}

TEST_F(PostgresConninfo, OptionsReachPgDump)
{
    // A pg_dump that records its arguments, then runs the real one.
    const fs::path seen = m_work->dir() / "pg_dump_args";
    auto wrapper = fake_pg_dump("pg_dump_recording", "printf '%s\\n' \"$@\" > '" + seen.string() + "'\nexec " +
                                                         PostgresServer::bin_dir() + "/pg_dump \"$@\"");
    write_config("    pg_dump_path: " + wrapper + "\n",
                 m_pg->url("app") + "?options=-c%20statement_timeout%3D4321&application_name=ignored");
    auto r = dbkeep({"backup", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto args = read_file(seen);
    EXPECT_NE(args.find("options='-c statement_timeout=4321'"), std::string::npos) << args;
}

TEST_F(PostgresConninfo, ABadOptionsValueFailsTheBackupWithTheServersMessage)
{
    // Before libpq read the URL, ?options= was dropped silently and this backup succeeded.
    write_config("", socket_url("app") + "&options=-c%20work_mem%3Dlots");
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("work_mem"), std::string::npos) << r.err;
    EXPECT_TRUE(m_work->files_ending(".manifest.json").empty());
}

TEST_F(PostgresConninfo, MisspelledParameterIsAConfigErrorAtItsColumn)
{
    write_config("", m_pg->url("app") + "?sslmod=disable");
    auto v = dbkeep({"config", "validate"});
    EXPECT_EQ(v.exit_code, 2) << v.err;
    EXPECT_NE(v.err.find("invalid URI query parameter: \"sslmod\""), std::string::npos) << v.err;
    EXPECT_NE(v.err.find("dbkeep.yaml:"), std::string::npos) << v.err; // FILE:LINE:COL
}
