// Issue 12 report 6 and item 6: a whole PostgreSQL server in one backup (databases: all or a list), with its
// roles (pg_dumpall --globals-only), restored whole onto a fresh server, one database with the roles it lacks,
// or the globals alone; through the dbkeep binary against real PostgreSQL 15 servers.
#include "support/postgres_fixture.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {

// Database `app`: a table owned by a role that a fresh server lacks, a database setting, a grant to a group.
constexpr const char* k_app_sql = R"SQL(
CREATE ROLE app_owner;
CREATE ROLE readers;
CREATE ROLE "Odd ""Login""" LOGIN PASSWORD 'pw;with''quote';
GRANT readers TO "Odd ""Login""";
ALTER ROLE app_owner SET work_mem = '8MB';
COMMENT ON ROLE app_owner IS 'owns; the app';
CREATE SCHEMA billing AUTHORIZATION app_owner;
CREATE TABLE billing.invoices (id int PRIMARY KEY, amount numeric(12,2));
INSERT INTO billing.invoices SELECT g, g * 1.5 FROM generate_series(1, 100) g;
ALTER TABLE billing.invoices OWNER TO app_owner;
GRANT USAGE ON SCHEMA billing TO readers;
GRANT SELECT ON billing.invoices TO readers;
ALTER DATABASE app SET search_path = billing, public;
)SQL";

// Database `shop`, a second database with its own owner.
constexpr const char* k_shop_sql = R"SQL(
CREATE ROLE shop_owner LOGIN PASSWORD 'shop-secret';
CREATE TABLE orders (id int PRIMARY KEY, item text);
INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 42) g;
ALTER TABLE orders OWNER TO shop_owner;
)SQL";

class PostgresServerBackup : public PostgresTest {
protected:
    PostgresServerBackup() : PostgresTest({.seed_sql = k_app_sql, .tag = "dbkeep-pgserver"}) {}
    void SetUp() override
    {
        PostgresTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        m_pg->create_database("shop");
        m_pg->psql("shop", k_shop_sql);
        write_config("    databases: all\n", m_pg->url(""));
    }
    nlohmann::json only_manifest() const
    {
        auto manifests = m_work->manifests();
        EXPECT_EQ(manifests.size(), 1u);
        return manifests.empty() ? nlohmann::json{}
                                 : nlohmann::json::parse(read_file(m_work->backups() / manifests[0]));
    }
    static std::string roles(const PostgresServer& pg)
    {
        return pg.psql("postgres", "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname "
                                   "NOT LIKE 'pg\\_%' AND rolname <> 'postgres'");
    }
    static std::string password_hash(const PostgresServer& pg, const std::string& role)
    {
        return pg.psql("postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = '" + role + "'");
    }
    static bool exists(const PostgresServer& pg, const std::string& db)
    {
        return pg.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = '" + db + "'") == "1";
    }
};

// Report 6: the whole server, roles first, restored onto a fresh server that has none of them: every database
// with its rows, owners, grants and settings; every role with its password, membership, setting and comment.
TEST_F(PostgresServerBackup, AllDatabasesAndTheirRolesRestoreOntoAFreshServer)
{
    auto c = dbkeep({"check", "app"});
    EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
    EXPECT_NE(c.out.find("backs up app, postgres, shop"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("pg_dumpall 15"), std::string::npos) << c.out;
    auto b = dbkeep({"backup", "app"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto m = only_manifest();
    EXPECT_EQ(m["details"]["layout"], "server");
    EXPECT_EQ(m["details"]["databases"], "app,postgres,shop");
    EXPECT_EQ(m["details"]["role_passwords"], "included");
    EXPECT_TRUE(m["object"]["key"].get<std::string>().ends_with(".sql.zst")) << m["object"].dump();
    ASSERT_EQ(m["parts"].size(), 3u) << m.dump(2);
    std::set<std::string> dbs;
    for (const auto& p : m["parts"]) {
        EXPECT_EQ(p["details"]["format"], "pgdump");
        dbs.insert(p["details"]["database"].get<std::string>());
    }
    EXPECT_EQ(dbs, (std::set<std::string>{"app", "postgres", "shop"}));
    EXPECT_EQ(m["stats"]["app/billing.invoices"], 100);
    EXPECT_EQ(m["stats"]["shop/public.orders"], 42);

    PostgresServer fresh;
    ASSERT_EQ(roles(fresh), "");
    auto r = dbkeep({"restore", "app", "--to", fresh.url("")});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(roles(fresh), "Odd \"Login\",app_owner,readers,shop_owner");
    EXPECT_EQ(password_hash(fresh, "shop_owner"), password_hash(*m_pg, "shop_owner"));
    EXPECT_EQ(password_hash(fresh, "Odd \"Login\""), password_hash(*m_pg, "Odd \"Login\""));
    EXPECT_EQ(fresh.psql("postgres", "SELECT pg_has_role('Odd \"Login\"', 'readers', 'MEMBER')"), "t");
    EXPECT_EQ(fresh.psql("postgres", "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = "
                                     "'app_owner'"),
              "owns; the app");
    EXPECT_EQ(
        fresh.psql("postgres", "SELECT array_to_string(rolconfig, ',') FROM pg_roles WHERE rolname = 'app_owner'"),
        "work_mem=8MB");
    EXPECT_EQ(fresh.psql("app", "SELECT count(*) FROM invoices"), "100"); // the database's search_path came along
    EXPECT_EQ(fresh.psql("app", "SELECT tableowner FROM pg_tables WHERE tablename = 'invoices'"), "app_owner");
    EXPECT_EQ(fresh.psql("app", "SELECT has_table_privilege('readers', 'billing.invoices', 'SELECT')"), "t");
    EXPECT_EQ(fresh.psql("shop", "SELECT count(*) || ' ' || min(tableowner) FROM orders, pg_tables WHERE tablename = "
                                 "'orders'"),
              "42 shop_owner");
    EXPECT_NE(r.out.find("restored app"), std::string::npos) << r.out;
}

// Item 6: one database onto a fresh server, under a new name, with the roles it lacks created first; the other
// databases stay out. Without the roles (--no-roles) the missing owner stops it, and nothing is left behind.
TEST_F(PostgresServerBackup, OneDatabaseWithTheRolesTheDestinationLacks)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    PostgresServer fresh;
    auto bare = dbkeep({"restore", "app", "--database", "shop", "--no-roles", "--to", fresh.url("store")});
    EXPECT_NE(bare.exit_code, 0);
    EXPECT_NE(bare.err.find("shop_owner"), std::string::npos) << bare.err;
    EXPECT_FALSE(exists(fresh, "store")) << "the failed restore drops the database it created";

    auto r = dbkeep({"restore", "app", "--database", "shop", "--to", fresh.url("store")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(fresh.psql("store", "SELECT count(*) FROM orders"), "42");
    EXPECT_EQ(fresh.psql("store", "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'"), "shop_owner");
    EXPECT_FALSE(exists(fresh, "app"));
    EXPECT_FALSE(exists(fresh, "shop"));

    auto unknown = dbkeep({"restore", "app", "--database", "nope", "--to", fresh.url("x")});
    EXPECT_NE(unknown.exit_code, 0);
    EXPECT_NE(unknown.err.find("no database nope (it has app, postgres, shop)"), std::string::npos) << unknown.err;
}

// Item 6: --globals restores the roles and nothing else; a role that exists keeps its own password.
TEST_F(PostgresServerBackup, GlobalsOnlyCreateTheMissingRolesAndLeaveExistingOnesAlone)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    PostgresServer fresh;
    fresh.psql("postgres", "CREATE ROLE shop_owner LOGIN PASSWORD 'a different one'");
    const auto before = password_hash(fresh, "shop_owner");
    auto r = dbkeep({"restore", "app", "--globals", "--to", fresh.url("")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(roles(fresh), "Odd \"Login\",app_owner,readers,shop_owner");
    EXPECT_EQ(password_hash(fresh, "shop_owner"), before);
    EXPECT_EQ(password_hash(fresh, "Odd \"Login\""), password_hash(*m_pg, "Odd \"Login\""));
    EXPECT_FALSE(exists(fresh, "app"));
    EXPECT_FALSE(exists(fresh, "shop"));
}

// A destination that already holds one of the databases with objects is refused before anything is written:
// no role created, no other database restored.
TEST_F(PostgresServerBackup, ADestinationDatabaseWithObjectsIsRefusedBeforeAnythingIsWritten)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    PostgresServer fresh;
    fresh.create_database("shop");
    fresh.psql("shop", "CREATE TABLE mine (x int)");
    auto r = dbkeep({"restore", "app", "--to", fresh.url("")});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("database shop already exists and holds objects"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("drop it first, add --clean to drop the dump's objects in them, or restore one database "
                         "elsewhere with --database NAME --to URL"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(roles(fresh), "");
    EXPECT_FALSE(exists(fresh, "app"));
    auto named = dbkeep({"restore", "app", "--to", fresh.url("elsewhere")});
    EXPECT_NE(named.exit_code, 0);
    EXPECT_NE(named.err.find("--database NAME"), std::string::npos) << named.err;
}

// A tablespace of the source whose folder the new server lacks: the whole-server restore stops at its CREATE
// TABLESPACE, before any database, naming both ways on; each works (one database alone leaves tablespaces out,
// and with the folder made the whole server restores).
TEST_F(PostgresServerBackup, ATablespaceWhoseFolderTheNewServerLacksNamesTheFolderToMake)
{
    TempDir spaces("dbkeep-pgspace");
    fs::permissions(spaces.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    const auto folder = spaces.path() / "archive";
    auto make_folder = [&] {
        fs::create_directories(folder);
        auto owned = run({"chown", "postgres:postgres", folder.string()});
        ASSERT_EQ(owned.exit_code, 0) << owned.err;
    };
    ASSERT_NO_FATAL_FAILURE(make_folder());
    m_pg->psql("postgres", "CREATE TABLESPACE archive LOCATION '" + folder.string() + "'");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    m_pg->psql("postgres", "DROP TABLESPACE archive");
    fs::remove_all(folder);

    PostgresServer fresh;
    auto r = dbkeep({"restore", "app", "--to", fresh.url("")});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("CREATE TABLESPACE"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("a tablespace needs its folder on the new server: create it (owned by postgres), or restore "
                         "each database alone with --database NAME, which leaves the tablespaces out"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(exists(fresh, "app"));

    auto one = dbkeep({"restore", "app", "--database", "shop", "--to", fresh.url("shop")});
    ASSERT_EQ(one.exit_code, 0) << one.err;
    EXPECT_EQ(fresh.psql("shop", "SELECT count(*) FROM orders"), "42");
    fresh.psql("postgres", "DROP DATABASE shop");

    ASSERT_NO_FATAL_FAILURE(make_folder());
    auto whole = dbkeep({"restore", "app", "--to", fresh.url("")});
    ASSERT_EQ(whole.exit_code, 0) << whole.err;
    EXPECT_EQ(fresh.psql("postgres", "SELECT count(*) FROM pg_tablespace WHERE spcname = 'archive'"), "1");
    EXPECT_EQ(fresh.psql("app", "SELECT count(*) FROM billing.invoices"), "100");
}

// A list of databases backs up those only; a name the server lacks fails before anything is stored.
TEST_F(PostgresServerBackup, AListOfDatabasesAndAMissingOne)
{
    write_config("    databases: [shop]\n", m_pg->url(""));
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto m = only_manifest();
    ASSERT_EQ(m["parts"].size(), 1u);
    EXPECT_EQ(m["parts"][0]["details"]["database"], "shop");
    EXPECT_EQ(m["stats"].size(), 1u) << m["stats"].dump();

    fs::remove_all(m_work->backups());
    write_config("    databases: [shop, nope]\n", m_pg->url(""));
    auto c = dbkeep({"check", "app"});
    EXPECT_EQ(c.exit_code, 3);
    EXPECT_NE((c.out + c.err).find("the server has no database nope"), std::string::npos) << c.out << c.err;
    auto r = dbkeep({"backup", "app"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("no database nope"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("correct 'databases' in the configuration, or use databases: all"), std::string::npos)
        << r.err;
    EXPECT_TRUE(m_work->manifests().empty());
    for (const auto& f : m_work->stored_files()) {
        EXPECT_EQ(f.find(".zst"), std::string::npos) << "left behind: " << f;
    }

    write_config("    databases: all\n", m_pg->url("app"));
    auto both = dbkeep({"config", "validate"});
    EXPECT_NE(both.exit_code, 0);
    EXPECT_NE(both.err.find("not both"), std::string::npos) << both.err;
}

// A role that cannot read pg_authid backs the server up without the role passwords, and the manifest says so.
TEST_F(PostgresServerBackup, WithoutASuperuserTheRolePasswordsAreLeftOutAndRecorded)
{
    // Not pg_read_all_data: it reads pg_authid too. Table grants alone, as a careful deployment gives them.
    m_pg->psql("postgres", "CREATE ROLE backup LOGIN");
    m_pg->psql("app", "GRANT USAGE ON SCHEMA billing TO backup; GRANT SELECT ON billing.invoices TO backup");
    m_pg->psql("shop", "GRANT SELECT ON orders TO backup");
    write_config("    databases: all\n", m_pg->url("", "backup"));
    auto b = dbkeep({"backup", "app"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto m = only_manifest();
    EXPECT_TRUE(m["details"]["role_passwords"].get<std::string>().starts_with("left out")) << m["details"].dump();
    EXPECT_EQ(m["stats"]["shop/public.orders"], 42);
    auto c = dbkeep({"check", "app"});
    EXPECT_NE((c.out + c.err).find("cannot read pg_authid: the roles are backed up without their passwords"),
              std::string::npos)
        << c.out << c.err;
}

// Standard tools: --output --globals gives the roles' SQL for psql, --output --database NAME that database's
// archive for pg_restore; verify reads every object; verify --restore test-restores each database in turn into
// the scratch database, compares its row counts with the manifest's and drops it, night after night.
TEST_F(PostgresServerBackup, ItsObjectsAsFilesAndVerify)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    const auto globals = m_work->dir() / "globals.sql";
    auto g = dbkeep({"restore", "app", "--globals", "--output", globals.string()});
    ASSERT_EQ(g.exit_code, 0) << g.err;
    EXPECT_NE(read_file(globals).find("CREATE ROLE shop_owner;"), std::string::npos);
    const auto shop = m_work->dir() / "shop.pgdump";
    auto s = dbkeep({"restore", "app", "--database", "shop", "--output", shop.string()});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    auto listed = run({PostgresServer::bin_dir() + "/pg_restore", "-l", shop.string()});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find("TABLE DATA public orders"), std::string::npos) << listed.out;
    auto whole = dbkeep({"restore", "app", "--output", (m_work->dir() / "all").string()});
    EXPECT_NE(whole.exit_code, 0);
    EXPECT_NE(whole.err.find("--globals"), std::string::npos) << whole.err;

    auto v = dbkeep({"verify", "app"});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    for (int night = 0; night < 2; ++night) {
        auto vr = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("scratch")});
        EXPECT_EQ(vr.exit_code, 0) << vr.out << vr.err;
        // One table in each: billing.invoices (100 rows) and orders (42); postgres holds none.
        for (const char* db : {R"("compared":"1","database":"app")", R"("compared":"0","database":"postgres")",
                               R"("compared":"1","database":"shop")"}) {
            EXPECT_NE(vr.err.find(db), std::string::npos) << vr.err;
        }
        EXPECT_FALSE(exists(*m_pg, "scratch"));
    }
    // A scratch database that dbkeep did not make and that holds objects is refused, and left alone.
    m_pg->create_database("scratch");
    m_pg->psql("scratch", "CREATE TABLE mine (id int)");
    auto refused = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("scratch")});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE((refused.out + refused.err).find("was not made by dbkeep verify"), std::string::npos) << refused.err;
    EXPECT_EQ(m_pg->psql("scratch", "SELECT count(*) FROM pg_tables WHERE tablename = 'mine'"), "1");
}

} // namespace

namespace {

// A whole server's backup whose manifest is lost is neither rebuilt from its globals alone (a manifest of roles
// without databases) nor from its parts: repair says so and leaves every object where it is.
TEST_F(PostgresServerBackup, RepairLeavesABackupWithoutItsManifestAlone)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    const auto before = m_work->stored_files();
    ASSERT_EQ(m_work->manifests().size(), 1u);
    fs::remove(m_work->backups() / m_work->manifests()[0]);
    auto r = dbkeep({"repair", "app"});
    EXPECT_NE(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE((r.out + r.err).find("(or a whole server's globals)"), std::string::npos) << r.out << r.err;
    EXPECT_TRUE(m_work->manifests().empty());
    EXPECT_EQ(m_work->stored_files().size() + 1, before.size());
}

// The exclusions apply to every database of a whole server, and --table restores part of one database of it
// (which one is named: a table name alone could mean any database's).
TEST_F(PostgresServerBackup, ExclusionsApplyToEveryDatabaseAndATableOfOneIsRestored)
{
    m_pg->psql("app", "CREATE TABLE public.orders (id int); INSERT INTO public.orders VALUES (1), (2)");
    write_config("    databases: all\n    exclude_table_data: [orders]\n", m_pg->url(""));
    auto b = dbkeep({"backup", "app"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto m = only_manifest();
    EXPECT_EQ(m["stats"]["shop/public.orders"], 0) << m["stats"].dump();
    EXPECT_EQ(m["stats"]["app/public.orders"], 0) << m["stats"].dump();
    EXPECT_EQ(m["stats"]["app/billing.invoices"], 100) << m["stats"].dump();
    EXPECT_NE(m["details"].value("exclude_table_data", "").find("orders"), std::string::npos) << m["details"].dump();

    auto unnamed = dbkeep({"restore", "app", "--table", "billing.invoices", "--to", m_pg->url("")});
    EXPECT_NE(unnamed.exit_code, 0);
    EXPECT_NE(unnamed.err.find("--database NAME"), std::string::npos) << unnamed.err;

    // Into an existing database that lacks the table: only that table arrives, the rest is left as it was.
    m_pg->create_database("reports");
    m_pg->psql("reports", "CREATE TABLE mine (id int)");
    auto r = dbkeep({"restore", "app", "--database", "app", "--table", "billing.invoices", "--no-roles", "--to",
                     m_pg->url("reports")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(m_pg->psql("reports", "SELECT count(*) FROM billing.invoices"), "100");
    EXPECT_EQ(m_pg->psql("reports", "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                                    "'information_schema')"),
              "2");
}

// dbkeep show lists a whole server's objects: the globals by their details, each database's archive with its
// table of contents and the rows counted in it.
TEST_F(PostgresServerBackup, ShowListsEveryDatabasesTableOfContents)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto s = dbkeep({"show", "app", "--json"});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    auto doc = nlohmann::json::parse(s.out);
    ASSERT_EQ(doc["objects"].size(), 4u) << doc.dump(2);
    std::map<std::string, nlohmann::json> by_database;
    for (std::size_t i = 1; i < doc["objects"].size(); ++i) {
        const auto& o = doc["objects"][i];
        EXPECT_EQ(o["checksum"], "ok") << o.dump(2);
        EXPECT_EQ(o["contents"]["kind"], "pg_dump custom archive") << o.dump(2);
        by_database[o["contents"]["facts"]["database"].get<std::string>()] = o;
    }
    ASSERT_EQ(by_database.size(), 3u);
    EXPECT_EQ(by_database["shop"]["contents"]["counts"]["public.orders"], 42);
    EXPECT_EQ(by_database["app"]["contents"]["counts"]["billing.invoices"], 100);
    EXPECT_EQ(doc["objects"][0]["checksum"], "ok") << doc["objects"][0].dump(2);
}

// A database that fails half-way through a whole server (the role cannot read one of shop's tables) fails the
// backup with pg_dump's own words and the database's name, and leaves no manifest and no object: the globals
// and app's archive, already stored, are removed with it.
TEST_F(PostgresServerBackup, ADatabaseThatFailsLeavesNoManifestAndNoObject)
{
    m_pg->psql("postgres", "CREATE ROLE backup LOGIN");
    m_pg->psql("app", "GRANT USAGE ON SCHEMA billing TO backup; GRANT SELECT ON billing.invoices TO backup");
    write_config("    databases: all\n", m_pg->url("", "backup"));
    auto b = dbkeep({"backup", "app"});
    EXPECT_NE(b.exit_code, 0);
    EXPECT_NE(b.err.find("dump database shop"), std::string::npos) << b.err;
    EXPECT_NE(b.err.find("permission denied for table orders"), std::string::npos) << b.err;
    EXPECT_TRUE(m_work->manifests().empty());
    for (const auto& f : m_work->stored_files()) {
        EXPECT_EQ(f.find(".zst"), std::string::npos) << "left behind: " << f;
    }
}

// verify --restore refuses exactly the server's own databases (postgres, template0, template1) as its scratch
// database, in a whole-server backup as in a single database's: a name that only starts with "template" is
// anyone's, made afresh and dropped afterwards.
TEST_F(PostgresServerBackup, AScratchDatabaseNamedLikeATemplateIsAcceptedATemplateIsNot)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto v = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("templates_scratch")});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_FALSE(exists(*m_pg, "templates_scratch"));
    for (const std::string db : {"template0", "template1"}) {
        auto bad = dbkeep({"verify", "app", "--restore", "--to", m_pg->url(db)});
        EXPECT_NE(bad.exit_code, 0) << db << bad.err;
        EXPECT_NE((bad.out + bad.err).find("needs a scratch database of its own"), std::string::npos)
            << bad.out << bad.err;
        EXPECT_NE((bad.out + bad.err)
                      .find("name one that nothing else uses, e.g. postgres://user@host:5432/"
                            "dbkeep_scratch"),
                  std::string::npos)
            << bad.out << bad.err;
    }
    EXPECT_EQ(m_pg->psql("template1", "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                                      "'information_schema')"),
              "0");
}

// Quotes of one kind inside names of the other (a database "it's" owned by "o'brien", a comment with ';'): the
// database-level statements are split where SQL ends them, so the owner, setting and comment arrive. verify
// --restore refuses the server itself or its postgres database as a scratch database, and --to naming postgres
// means the server: --database keeps the database's own name (here refused, as it holds objects).
TEST_F(PostgresServerBackup, QuotesInNamesKeepTheOwnerSettingAndComment)
{
    m_pg->psql("postgres", "CREATE ROLE \"o'brien\"");
    m_pg->psql("postgres", "CREATE DATABASE \"it's\" OWNER \"o'brien\"");
    m_pg->psql("postgres", "ALTER DATABASE \"it's\" SET search_path = billing, public; COMMENT ON DATABASE "
                           "\"it's\" IS 'O''Brien''s; data'");
    m_pg->psql("it's", "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2), (3)");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);

    PostgresServer fresh;
    auto r = dbkeep({"restore", "app", "--to", fresh.url("")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string where = " FROM pg_database WHERE datname = 'it''s'";
    EXPECT_EQ(fresh.psql("it's", "SELECT count(*) FROM t"), "3");
    EXPECT_EQ(fresh.psql("postgres", "SELECT pg_get_userbyid(datdba)" + where), "o'brien");
    EXPECT_EQ(fresh.psql("postgres", "SELECT shobj_description(oid, 'pg_database')" + where), "O'Brien's; data");
    EXPECT_EQ(fresh.psql("postgres", "SELECT array_to_string(s.setconfig, ',') FROM pg_db_role_setting s JOIN "
                                     "pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'it''s'"),
              "search_path=billing, public");

    auto v = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("scratch")});
    EXPECT_EQ(v.exit_code, 0) << v.err;
    for (const std::string& to : {m_pg->url(""), m_pg->url("postgres")}) {
        auto bad = dbkeep({"verify", "app", "--restore", "--to", to});
        EXPECT_NE(bad.exit_code, 0) << to << bad.err;
        EXPECT_NE((bad.out + bad.err).find("needs a scratch database of its own"), std::string::npos)
            << bad.out << bad.err;
    }
    EXPECT_EQ(m_pg->psql("postgres", "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                                     "'information_schema')"),
              "0");
    auto own = dbkeep({"restore", "app", "--database", "it's", "--to", m_pg->url("postgres")});
    EXPECT_NE(own.exit_code, 0);
    EXPECT_NE(own.err.find("database it's already exists and holds objects"), std::string::npos) << own.err;
    EXPECT_EQ(m_pg->psql("postgres", "SELECT count(*) FROM pg_tables WHERE tablename = 't'"), "0");
}

// The commands docs/format.md gives for a whole server, run as written there onto a fresh server.
TEST_F(PostgresServerBackup, TheServerRestoresWithZstdPsqlAndPgRestoreAlone)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    std::string doc = read_file(fs::path(DBKEEP_SOURCE_DIR) / "docs/format.md");
    const std::string begin = "<!-- server-restore:begin -->", end = "<!-- server-restore:end -->";
    auto b = doc.find(begin), e = doc.find(end);
    ASSERT_NE(b, std::string::npos);
    ASSERT_NE(e, std::string::npos);
    std::string block = doc.substr(b + begin.size(), e - b - begin.size());
    auto fence = block.find("```sh\n");
    ASSERT_NE(fence, std::string::npos);
    block = block.substr(fence + 6, block.rfind("```") - fence - 6);
    PostgresServer fresh;
    RunOptions o;
    o.env["M"] = (m_work->backups() / m_work->manifests()[0]).string();
    o.env["B"] = m_work->backups().string();
    o.env["PGURL"] = fresh.url("postgres");
    o.env["PATH"] = PostgresServer::bin_dir() + ":" + std::string(std::getenv("PATH"));
    auto r = run({"bash", "-euo", "pipefail", "-c", block}, o);
    ASSERT_EQ(r.exit_code, 0) << block << r.out << r.err;
    EXPECT_EQ(roles(fresh), "Odd \"Login\",app_owner,readers,shop_owner");
    EXPECT_EQ(fresh.psql("app", "SELECT count(*) FROM invoices"), "100");
    EXPECT_EQ(fresh.psql("app", "SELECT tableowner FROM pg_tables WHERE tablename = 'invoices'"), "app_owner");
    EXPECT_EQ(fresh.psql("shop", "SELECT count(*) FROM orders"), "42");
}

} // namespace
