// The SQLite engine's pure helpers: identifier quoting, restore destinations, the file header, and the script a
// runner executes (run here with sh against a real database).
#include "engine/sqlite/sqlite.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::engine;

TEST(SqliteEngine, QuotesIdentifiersSoAnyTableNameWorks)
{
    EXPECT_EQ(sqlite_quote_identifier("items"), "\"items\"");
    EXPECT_EQ(sqlite_quote_identifier("odd \"name\""), "\"odd \"\"name\"\"\"");
    EXPECT_EQ(sqlite_quote_identifier(""), "\"\"");
    EXPECT_EQ(sqlite_quote_identifier("a'b;--"), "\"a'b;--\"");
}

TEST(SqliteEngine, DestinationIsAPathOrALocalFileUrl)
{
    EXPECT_EQ(sqlite_destination_path("/srv/new.db"), "/srv/new.db");
    EXPECT_EQ(sqlite_destination_path("relative.db"), "relative.db");
    EXPECT_EQ(sqlite_destination_path("file:/srv/new.db"), "/srv/new.db");
    EXPECT_EQ(sqlite_destination_path("file:///srv/new%20db.db"), "/srv/new db.db");
    EXPECT_EQ(sqlite_destination_path("file://localhost/srv/a.db"), "/srv/a.db");
    EXPECT_EQ(sqlite_destination_path("file://otherhost/srv/a.db"), std::nullopt);
    EXPECT_EQ(sqlite_destination_path("file:/srv/a.db?mode=ro"), std::nullopt);
    EXPECT_EQ(sqlite_destination_path("postgres://h/db"), std::nullopt);
    EXPECT_EQ(sqlite_destination_path(""), std::nullopt);
    EXPECT_EQ(sqlite_destination_path("file://"), std::nullopt);
}

TEST(SqliteEngine, RecognisesTheFileHeader)
{
    EXPECT_TRUE(is_sqlite_header(std::string_view("SQLite format 3\0\x10\x00", 18)));
    EXPECT_FALSE(is_sqlite_header("SQLite format 3"));
    EXPECT_FALSE(is_sqlite_header(std::string_view("SQLite format 4\0", 16)));
    EXPECT_FALSE(is_sqlite_header(""));
}

TEST(SqliteEngine, RunnerScriptCopiesToStdoutAndRemovesItsTempFolder)
{
    if (!test::have_program("sqlite3")) {
        GTEST_SKIP() << "sqlite3 not installed (Debian sqlite3)";
    }
    test::TempDir dir("dbkeep-sqlite-unit");
    const std::string db = (dir / "it's a db.sqlite").string(); // a quote in the path
    ASSERT_EQ(test::run({"sqlite3", db, "CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);"}).exit_code, 0);
    const std::string tmp = (dir / "tmp").string();
    ASSERT_EQ(test::run({"mkdir", tmp}).exit_code, 0);
    test::RunOptions env;
    env.env["TMPDIR"] = tmp;
    auto r = test::run({"sh", "-c", sqlite_runner_dump_script(), "dbkeep-sqlite-dump", db}, env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(is_sqlite_header(r.out));
    test::write_file(dir / "copy.db", r.out);
    EXPECT_EQ(test::run({"sqlite3", (dir / "copy.db").string(), "SELECT count(*) FROM t"}).out, "2\n");
    EXPECT_TRUE(test::list_files(tmp).empty()) << "the temp folder is removed";

    auto missing = test::run({"sh", "-c", sqlite_runner_dump_script(), "x", (dir / "none.db").string()}, env);
    EXPECT_EQ(missing.exit_code, 3);
    EXPECT_NE(missing.err.find("no such file"), std::string::npos) << missing.err;
    EXPECT_TRUE(missing.out.empty());
}
