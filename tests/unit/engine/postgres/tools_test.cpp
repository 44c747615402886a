// Finding pg_dump where the runner runs (src/engine/postgres/tools.cpp): a probe that gets no answer is
// reported as such, never as a missing tool.
#include "engine/postgres/tools.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::engine;

namespace {

// A runner that cannot start anything in time: what a slow ECS launcher or an unreachable host looks like to
// the version probe. (A stand-in for a remote peer, which cannot run here.)
class SilentRunner final : public runner::Runner {
public:
    explicit SilentRunner(ErrorKind kind) : m_kind(kind) {}
    Result<std::unique_ptr<runner::Process>> start(const runner::Command& command) override
    {
        ++starts;
        return fail(m_kind, "start", command.argv.front(), "no sign of life within 120 s (timed out)");
    }
    std::string describe() const override { return "ecs launcher test"; }
    int starts = 0;

private:
    ErrorKind m_kind;
};

} // namespace

TEST(PgTools, AVersionProbeThatTimesOutSaysSoInsteadOfNotFound)
{
    SilentRunner runner(ErrorKind::transient);
    pg::Target target{.name = "orders", .url = "postgres://u@h/db", .postgres = {}};
    auto tool = pg::find_tool(runner, target, "pg_dump", "", 15);
    ASSERT_FALSE(tool);
    EXPECT_EQ(runner.starts, 1);
    EXPECT_EQ(tool.error().kind, ErrorKind::transient);
    const std::string text = tool.error().to_string();
    EXPECT_NE(text.find("got no answer"), std::string::npos) << text;
    EXPECT_NE(text.find("timed out"), std::string::npos) << text;
    EXPECT_EQ(text.find("found none"), std::string::npos) << text;
    EXPECT_EQ(text.find("install postgresql-client"), std::string::npos) << text;
    EXPECT_EQ(tool.error().hint, "check the runner (dbkeep check shows it), then try again");
}

TEST(PgTools, ACancelledProbeIsACancelledError)
{
    SilentRunner runner(ErrorKind::cancelled);
    pg::Target target{.name = "orders", .url = "postgres://u@h/db", .postgres = {}};
    auto tool = pg::find_tool(runner, target, "pg_dump", "", 15);
    ASSERT_FALSE(tool);
    EXPECT_EQ(tool.error().kind, ErrorKind::cancelled);
}

TEST(PgTools, ToolVersionsAreReadAndTheOldestFittingOneIsPicked)
{
    auto v = parse_tool_version("/usr/lib/postgresql/15/bin/pg_dump",
                                "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->major, 15);
    EXPECT_EQ(v->version, "15.18");
    EXPECT_FALSE(parse_tool_version("x", "pg_dump: command not found"));
    // A runner's odd answer is no version, never an exception (std::stoi threw out_of_range on the first).
    EXPECT_FALSE(parse_tool_version("x", "pg_dump (PostgreSQL) 99999999999"));
    EXPECT_FALSE(parse_tool_version("x", "pg_dump (PostgreSQL) 0"));
    EXPECT_FALSE(parse_tool_version("x", "pg_dump (PostgreSQL) 2000.1"));
    std::vector<ToolCandidate> all{{"a", 13, "13.1"}, {"b", 16, "16.2"}, {"c", 15, "15.4"}};
    EXPECT_EQ(pick_tool(all, 14)->path, "c");
    EXPECT_EQ(pick_tool(all, 15)->path, "c");
    EXPECT_FALSE(pick_tool(all, 17));
}
