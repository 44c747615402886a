#include "support/process.hpp"

#include <gtest/gtest.h>

using namespace dbkeep::test;

TEST(Cli, VersionPrintsTheVersion)
{
    auto r = run_dbkeep({"--version"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("dbkeep"), std::string::npos);
}
