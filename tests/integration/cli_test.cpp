#include "support/process.hpp"

#include <gtest/gtest.h>

using namespace dbkeep::test;

TEST(Cli, VersionPrintsTheVersion)
{
    auto r = run_dbkeep({"--version"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("dbkeep"), std::string::npos);
}

#include "support/temp_dir.hpp"

TEST(Cli, UsageErrorsExitTwo)
{
    TempDir dir;
    write_file(dir / "dbkeep.yaml", "targets:\n  app:\n    engine: postgres\n    url: postgres://u@127.0.0.1:1/db\n");
    auto cfg = (dir / "dbkeep.yaml").string();
    auto unknown = run_dbkeep({"--config", cfg, "backup", "nope"});
    EXPECT_EQ(unknown.exit_code, 2);
    EXPECT_NE(unknown.err.find("nope"), std::string::npos) << unknown.err;
    EXPECT_NE(unknown.err.find("defined: app"), std::string::npos) << unknown.err;
    auto nowhere = run_dbkeep({"--config", cfg, "restore", "app"});
    EXPECT_EQ(nowhere.exit_code, 2);
    EXPECT_NE(nowhere.err.find("--to URL or --output FILE"), std::string::npos) << nowhere.err;
    auto flush = run_dbkeep({"--config", cfg, "restore", "app", "--to", "redis://x", "--flush"});
    EXPECT_EQ(flush.exit_code, 2);
    EXPECT_NE(flush.err.find("--yes"), std::string::npos);
    EXPECT_EQ(run_dbkeep({"--config", cfg, "frobnicate"}).exit_code, 2);
    EXPECT_EQ(run_dbkeep({}).exit_code, 2);
}

TEST(Cli, MissingConfigFileSaysHowToProvideOne)
{
    TempDir dir;
    RunOptions o;
    o.cwd = dir.path().string();
    o.env["DBKEEP_CONFIG"] = "\x01unset";
    auto r = run_dbkeep({"list"}, o);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("dbkeep.yaml"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--config"), std::string::npos) << r.err;
}

TEST(Cli, ConfigValidatePrintsTheSummaryWithoutSecrets)
{
    TempDir dir;
    write_file(dir / "dbkeep.yaml",
               "targets:\n  app:\n    engine: postgres\n    url: postgres://u:Sup3rSecret@db/app\n");
    auto r = run_dbkeep({"--config", (dir / "dbkeep.yaml").string(), "config", "validate"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("ok"), std::string::npos);
    EXPECT_NE(r.out.find("postgres://u:***@db/app"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("Sup3rSecret"), std::string::npos);
}
