// The SQL statement splitter shared by the globals of a whole-server backup (server.cpp) and the database-level
// entries of pg_restore's script (restore.cpp): a ';' ends a statement only outside every kind of quote and
// comment that PostgreSQL's lexer knows (documentation section 4.1), whatever the chunks the text comes in.
#include "engine/postgres/sql_splitter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using dbkeep::engine::pg::SqlSplitter;

namespace {

std::vector<std::string> split_whole(const std::string& text)
{
    SqlSplitter s;
    return s.add(text);
}

std::vector<std::string> split_bytewise(const std::string& text)
{
    SqlSplitter s;
    std::vector<std::string> out;
    for (const char c : text) {
        for (auto& st : s.add(std::string(1, c))) {
            out.push_back(std::move(st));
        }
    }
    return out;
}

struct Case {
    const char* kind;
    std::string text;
    std::vector<std::string> statements;
};

} // namespace

TEST(SqlSplitter, ASemicolonInsideEachKindOfQuoteOrCommentIsText)
{
    const std::vector<Case> cases = {
        {"string", "SELECT 'a;b';\nSELECT 2;", {"SELECT 'a;b';", "SELECT 2;"}},
        {"string with a doubled quote", "SELECT 'it''s; here';SELECT 2;", {"SELECT 'it''s; here';", "SELECT 2;"}},
        {"E string with an escaped quote",
         "SELECT E'it\\'s; here';SELECT 2;",
         {"SELECT E'it\\'s; here';", "SELECT 2;"}},
        {"e string, lower case", "SELECT e'\\\\';SELECT 2;", {"SELECT e'\\\\';", "SELECT 2;"}},
        {"a backslash escapes nothing in a plain string", "SELECT 'a\\';SELECT 2;", {"SELECT 'a\\';", "SELECT 2;"}},
        {"an E ending a word does not start an E string",
         "SELECT namE'a\\';SELECT 2;",
         {"SELECT namE'a\\';", "SELECT 2;"}},
        {"quoted name", "CREATE ROLE \"a;\"\"b\";SELECT 2;", {"CREATE ROLE \"a;\"\"b\";", "SELECT 2;"}},
        {"quote of one kind in the other",
         "CREATE ROLE \"o'brien\"; COMMENT ON ROLE x IS 'a \"b;';",
         {"CREATE ROLE \"o'brien\";", "COMMENT ON ROLE x IS 'a \"b;';"}},
        {"dollar quote", "DO $$ BEGIN PERFORM 1; END $$;SELECT 2;", {"DO $$ BEGIN PERFORM 1; END $$;", "SELECT 2;"}},
        {"tagged dollar quote holding $$",
         "DO $fn$ SELECT $$;$$; $fn$;SELECT 2;",
         {"DO $fn$ SELECT $$;$$; $fn$;", "SELECT 2;"}},
        {"a positional parameter is no dollar quote", "SELECT $1;SELECT $2;", {"SELECT $1;", "SELECT $2;"}},
        {"a $ inside a word is no dollar quote", "SELECT a$b$c;SELECT 2;", {"SELECT a$b$c;", "SELECT 2;"}},
        {"line comment", "SELECT 1 -- not; the end\n;SELECT 2;", {"SELECT 1 \n;", "SELECT 2;"}},
        {"block comment", "SELECT 1 /* not; the end */;SELECT 2;", {"SELECT 1  ;", "SELECT 2;"}},
        {"nested block comment", "SELECT 1 /* a /* b; */ c; */;SELECT 2;", {"SELECT 1  ;", "SELECT 2;"}},
        {"a minus and a slash are operators", "SELECT 4 - 2 / 1;SELECT -1;", {"SELECT 4 - 2 / 1;", "SELECT -1;"}},
        {"psql meta-command line", "\\restrict k;ey\nSELECT 1;\n\\connect x;\n", {"SELECT 1;"}},
        {"blank statements", " ; ;\n;SELECT 1;", {"SELECT 1;"}},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(split_whole(c.text), c.statements) << c.kind;
        EXPECT_EQ(split_bytewise(c.text), c.statements) << c.kind << ", byte by byte";
    }
}

TEST(SqlSplitter, SaysWhereTheTextEnds)
{
    const std::vector<std::pair<std::string, SqlSplitter::Inside>> cases = {
        {"SELECT 'a", SqlSplitter::Inside::string},       {"SELECT 'a'", SqlSplitter::Inside::code},
        {"SELECT 'a''", SqlSplitter::Inside::string},     {"SELECT E'a\\'", SqlSplitter::Inside::string},
        {"SELECT \"a", SqlSplitter::Inside::quoted_name}, {"DO $x$ a $y$", SqlSplitter::Inside::dollar_quote},
        {"DO $x$ a $x$", SqlSplitter::Inside::code},      {"/* a /* b */", SqlSplitter::Inside::block_comment},
        {"/* a /* b */ */", SqlSplitter::Inside::code},   {"SELECT 1; -- c", SqlSplitter::Inside::line},
    };
    for (const auto& [text, inside] : cases) {
        SqlSplitter s;
        (void)s.add(text);
        EXPECT_EQ(s.inside(), inside) << text;
    }
    SqlSplitter s;
    EXPECT_FALSE(s.in_statement());
    (void)s.add("SELECT 1; -- c\n/* d */\n");
    EXPECT_FALSE(s.in_statement());
    (void)s.add("SELECT");
    EXPECT_TRUE(s.in_statement());
    (void)s.add(" 2;");
    EXPECT_FALSE(s.in_statement());
}

// restore.cpp feeds pg_restore's script line by line: a line that ends in ';' inside a dollar-quoted function
// body (or a string) does not end the statement; the line that closes the quote and ends in ';' does.
TEST(SqlSplitter, ALineEndingInASemicolonInsideADollarQuoteDoesNotEndTheStatement)
{
    const std::vector<std::string> lines = {
        "CREATE FUNCTION public.f() RETURNS integer",
        "    LANGUAGE plpgsql",
        "    AS $_$",
        "BEGIN",
        "    RETURN 1;",
        "END;",
        "$_$;",
        "COMMENT ON DATABASE app IS 'line one;",
        "line two';",
    };
    SqlSplitter s;
    std::vector<std::string> got;
    std::vector<bool> open_after;
    for (const auto& l : lines) {
        for (auto& st : s.add(l + "\n")) {
            got.push_back(std::move(st));
        }
        open_after.push_back(s.in_statement());
    }
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], "CREATE FUNCTION public.f() RETURNS integer\n    LANGUAGE plpgsql\n    AS $_$\nBEGIN\n"
                      "    RETURN 1;\nEND;\n$_$;");
    EXPECT_EQ(got[1], "COMMENT ON DATABASE app IS 'line one;\nline two';");
    EXPECT_EQ(open_after, (std::vector<bool>{true, true, true, true, true, true, false, true, false}));
}
