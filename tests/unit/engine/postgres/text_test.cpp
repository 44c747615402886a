// Text from PostgreSQL and its tools on its way into manifests, logs and errors (src/engine/postgres): bytes
// that are not UTF-8 are escaped, every line a tool said is kept.
#include "engine/postgres/connection.hpp"
#include "engine/postgres/tools.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using namespace dbkeep::engine::pg;

TEST(Utf8OrEscaped, ValidUtf8PassesUnchanged)
{
    for (const std::string& s : std::vector<std::string>{"", "orders", "public.café", "zażółć ✓ 🐘", "a\\xe9 stays",
                                                         std::string("nul\0in", 6)}) {
        EXPECT_EQ(utf8_or_escaped(s), s);
    }
}

TEST(Utf8OrEscaped, EachInvalidByteBecomesBackslashXHex)
{
    EXPECT_EQ(utf8_or_escaped("caf\xe9"), "caf\\xe9");                      // LATIN1 é
    EXPECT_EQ(utf8_or_escaped("\xa4\xa2\xa4\xa4"), "\\xa4\\xa2\\xa4\\xa4"); // EUC_JP
    EXPECT_EQ(utf8_or_escaped("\xc0\xaf"), "\\xc0\\xaf");                   // overlong '/'
    EXPECT_EQ(utf8_or_escaped("\xed\xa0\x80"), "\\xed\\xa0\\x80");          // a UTF-16 surrogate
    EXPECT_EQ(utf8_or_escaped("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); // above U+10FFFF
    EXPECT_EQ(utf8_or_escaped("ok \xe2\x9c"), "ok \\xe2\\x9c");             // truncated ✓
    EXPECT_EQ(utf8_or_escaped("\xe9t\xc3\xa9"), "\\xe9t\xc3\xa9");          // the valid part stays
    // The result is always something nlohmann dumps without throwing.
    nlohmann::json j = utf8_or_escaped("caf\xe9\xff\xfe");
    EXPECT_NO_THROW((void)j.dump());
}

TEST(Utf8OrEscaped, APrefixForJsonTextDecodesToTheSameEscape)
{
    std::string line = "[[\"caf\xe9\"]]";
    auto j = nlohmann::json::parse(utf8_or_escaped(line, "\\\\x"));
    EXPECT_EQ(j[0][0].get<std::string>(), "caf\\xe9");
}

TEST(ToolMessage, KeepsDetailAndHintLinesWithoutTheToolPrefix)
{
    std::string err = "pg_dump: error: query failed: ERROR:  out of shared memory\n"
                      "HINT:  You might need to increase max_locks_per_transaction.\n"
                      "pg_dump: detail: Query was: LOCK TABLE public.a IN ACCESS SHARE MODE\n";
    EXPECT_EQ(tool_message(err), "query failed: ERROR:  out of shared memory; HINT:  You might need to increase "
                                 "max_locks_per_transaction.; detail: Query was: LOCK TABLE public.a IN ACCESS "
                                 "SHARE MODE");
    EXPECT_EQ(tool_message("pg_restore: error: could not execute query: ERROR:  role \"app\" does not exist\n"
                           "Command was: ALTER TABLE public.t OWNER TO app;\n"),
              "could not execute query: ERROR:  role \"app\" does not exist; Command was: ALTER TABLE public.t OWNER "
              "TO app;");
    EXPECT_EQ(tool_message(""), "");
}

TEST(ToolMessage, IsBoundedAndUtf8)
{
    std::string many;
    for (int i = 0; i < 100; ++i) {
        many += "pg_dump: warning: line " + std::to_string(i) + "\n";
    }
    auto m = tool_message(many);
    EXPECT_NE(m.find("line 29"), std::string::npos);
    EXPECT_EQ(m.find("line 30"), std::string::npos);
    EXPECT_TRUE(m.ends_with("; ...")) << m;
    EXPECT_EQ(tool_message("pg_dump: error: relation \"caf\xe9\" does not exist\n"),
              "relation \"caf\\xe9\" does not exist");
    EXPECT_LE(tool_message(std::string(10000, 'x')).size(), 4004u);
}

TEST(SessionOptions, SettingsBecomeDashCWithBlanksEscaped)
{
    ConnectParams p;
    p.settings["lock_timeout"] = "300000";
    p.settings["search_path"] = "a b";
    EXPECT_EQ(session_options(p), "-c lock_timeout=300000 -c search_path=a\\ b");
    EXPECT_EQ(session_options(ConnectParams{}), "");
}
