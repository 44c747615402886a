// The splitter of pg_dumpall --globals-only output (src/engine/postgres/server): statements, their kinds and
// names, on text shaped like pg_dumpall 15.18's (psql's \restrict lines, comments, quoted names, passwords and
// comments holding ';' and quotes). The live round trip is tests/integration/postgres_server_test.cpp.
#include "engine/postgres/server.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace dbkeep;
using dbkeep::engine::pg::GlobalsStatement;
using dbkeep::engine::pg::split_globals;

namespace {

constexpr const char* k_globals = R"SQL(\restrict AbCdEf0123
--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE app_owner;
ALTER ROLE app_owner WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE "Odd ""Role""";
ALTER ROLE "Odd ""Role""" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:a;b''c$x:y';
COMMENT ON ROLE "Odd ""Role""" IS 'owner; of -- nothing /* really */';
ALTER ROLE app_owner SET search_path TO 'billing', 'public';
/* a block
   comment; with a semicolon */
--
-- Role memberships
--

GRANT app_owner TO "Odd ""Role""" GRANTED BY postgres;
GRANT SET ON PARAMETER work_mem TO app_owner;
CREATE TABLESPACE fast OWNER postgres LOCATION '/srv/fast';
GRANT ALL ON TABLESPACE fast TO app_owner;
COMMENT ON TABLESPACE fast IS E'it\'s fast; really';
DO $body$ BEGIN PERFORM ';'; END $body$;

\unrestrict AbCdEf0123
--
-- PostgreSQL database cluster dump complete
--
)SQL";

} // namespace

TEST(GlobalsSplit, StatementsKindsAndNamesOfPgDumpallOutput)
{
    auto r = split_globals(k_globals);
    ASSERT_TRUE(r) << r.error().to_string();
    const auto& s = *r;
    ASSERT_EQ(s.size(), 15u);
    using K = GlobalsStatement::Kind;
    EXPECT_EQ(s[0].kind, K::setting);
    EXPECT_EQ(s[2].kind, K::setting);
    EXPECT_EQ(s[3].kind, K::role);
    EXPECT_EQ(s[3].name, "app_owner");
    EXPECT_EQ(s[3].summary, "CREATE ROLE app_owner");
    EXPECT_EQ(s[5].kind, K::role);
    EXPECT_EQ(s[5].name, "Odd \"Role\"");
    EXPECT_EQ(s[6].sql.find("ALTER ROLE \"Odd \"\"Role\"\"\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:a;b''c$x:y';"), 0u)
        << s[6].sql;
    // The summary, used in messages, never reaches the password.
    EXPECT_EQ(s[6].summary.find("SCRAM"), std::string::npos) << s[6].summary;
    EXPECT_EQ(s[7].kind, K::role);
    EXPECT_EQ(s[7].name, "Odd \"Role\"");
    EXPECT_NE(s[7].sql.find("owner; of -- nothing /* really */"), std::string::npos) << s[7].sql;
    EXPECT_EQ(s[8].kind, K::role);
    EXPECT_EQ(s[9].kind, K::membership);
    EXPECT_EQ(s[9].name, "app_owner");
    EXPECT_EQ(s[9].member, "Odd \"Role\"");
    EXPECT_EQ(s[10].kind, K::other); // GRANT ... ON PARAMETER
    EXPECT_EQ(s[11].kind, K::tablespace);
    EXPECT_EQ(s[11].name, "fast");
    EXPECT_EQ(s[12].kind, K::tablespace);
    EXPECT_EQ(s[13].kind, K::tablespace);
    EXPECT_NE(s[13].sql.find("E'it\\'s fast; really'"), std::string::npos) << s[13].sql;
    EXPECT_EQ(s[14].kind, K::other);
    EXPECT_NE(s[14].sql.find("$body$ BEGIN PERFORM ';'; END $body$;"), std::string::npos) << s[14].sql;
    for (const auto& st : s) {
        EXPECT_EQ(st.sql.find("\\restrict"), std::string::npos) << st.sql;
        EXPECT_EQ(st.sql.find("\\unrestrict"), std::string::npos) << st.sql;
        EXPECT_EQ(st.sql.back(), ';') << st.sql;
    }
}

TEST(GlobalsSplit, TextThatEndsInsideAStatementIsCorrupt)
{
    for (const char* text : {"CREATE ROLE a;\nALTER ROLE a WITH PASSWORD 'abc", "CREATE ROLE \"a;",
                             "CREATE ROLE a;\nCREATE ROLE b", "/* open comment; CREATE ROLE a;"}) {
        auto r = split_globals(text);
        ASSERT_FALSE(r) << text;
        EXPECT_EQ(r.error().kind, ErrorKind::corruption) << text;
        EXPECT_EQ(r.error().to_string().find("abc"), std::string::npos) << r.error().to_string();
    }
}

TEST(GlobalsSplit, EmptyTextHasNoStatements)
{
    auto r = split_globals("--\n-- nothing\n--\n\n");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->empty());
}
