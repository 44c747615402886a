// `dbkeep check` against real services: a healthy set-up passes; each broken prerequisite shows ✗, a remedy,
// and exit code 3.
#include "support/postgres_server.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {

class Check : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (auto reason = PostgresServer::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        m_pg = std::make_unique<PostgresServer>();
        m_pg->create_database("app");
        m_pg->psql("app",
                   "CREATE TABLE public.orders (id int); CREATE SCHEMA billing; CREATE TABLE billing.invoices (id int);"
                   "CREATE SEQUENCE public.order_numbers;"
                   "CREATE ROLE backup LOGIN; GRANT USAGE ON SCHEMA billing TO backup;"
                   "GRANT SELECT ON public.orders TO backup; GRANT SELECT ON public.order_numbers TO backup;");
        m_dir = std::make_unique<TempDir>("dbkeep-check");
    }

    void write_config(const std::string& url, const std::string& extra = "")
    {
        write_file(m_dir->path() / "dbkeep.yaml",
                   "storages:\n  default:\n    type: local\n    path: " + (m_dir->path() / "backups").string() +
                       "\ntargets:\n  app:\n    engine: postgres\n    url: " + url + "\n    keep: {daily: 7}\n" +
                       extra);
    }

    RunResult check(std::vector<std::string> extra = {})
    {
        std::vector<std::string> args{"--config", (m_dir->path() / "dbkeep.yaml").string(), "check", "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_dbkeep(args);
    }

    static nlohmann::json probe(const nlohmann::json& rows, const std::string& name)
    {
        for (const auto& r : rows) {
            if (r["probe"] == name) {
                return r;
            }
        }
        return {};
    }

    std::unique_ptr<PostgresServer> m_pg;
    std::unique_ptr<TempDir> m_dir;
};

} // namespace

TEST_F(Check, HealthySetupPassesEveryProbeAndExitsZero)
{
    write_config(m_pg->url("app"));
    auto r = check();
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto rows = nlohmann::json::parse(r.out);
    for (const auto& name :
         {"config", "postgres.connect", "postgres.read", "postgres.pg_dump", "postgres.pg_restore", "storage"}) {
        auto p = probe(rows, name);
        ASSERT_FALSE(p.is_null()) << name << " missing in " << r.out;
        EXPECT_EQ(p["outcome"], "pass") << p.dump();
    }
    // The human table marks passes with ✓ and leaves no probe object behind.
    auto human = run_dbkeep({"--config", (m_dir->path() / "dbkeep.yaml").string(), "check"});
    EXPECT_NE(human.out.find("✓"), std::string::npos);
    EXPECT_EQ(human.out.find("✗"), std::string::npos) << human.out;
    for (const auto& f : list_files(m_dir->path() / "backups")) {
        ADD_FAILURE() << "left behind: " << f;
    }
}

TEST_F(Check, RoleWithoutSelectOnATableFailsWithTheGrantToRun)
{
    write_config(m_pg->url("app", "backup"));
    auto r = check();
    EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
    auto p = probe(nlohmann::json::parse(r.out), "postgres.read");
    EXPECT_EQ(p["outcome"], "fail");
    EXPECT_NE(p["finding"].get<std::string>().find("billing.invoices"), std::string::npos) << p.dump();
    EXPECT_EQ(p["finding"].get<std::string>().find("public.orders"), std::string::npos) << p.dump();
    EXPECT_NE(p["remedy"].get<std::string>().find("GRANT SELECT ON billing.invoices TO \"backup\""), std::string::npos)
        << p.dump();
    EXPECT_NE(p["remedy"].get<std::string>().find("pg_read_all_data"), std::string::npos);
    // The human form shows the failure mark and the remedy arrow.
    auto human = run_dbkeep({"--config", (m_dir->path() / "dbkeep.yaml").string(), "check"});
    EXPECT_NE(human.out.find("✗"), std::string::npos);
    EXPECT_NE(human.out.find("→ GRANT"), std::string::npos) << human.out;
}

TEST_F(Check, PgDumpOlderThanTheServerFails)
{
    auto old = m_dir->path() / "old_pg_dump";
    write_file(old, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 12.9'\n");
    fs::permissions(old, fs::perms::owner_all);
    write_config(m_pg->url("app"), "    pg_dump_path: " + old.string() + "\n");
    auto r = check();
    EXPECT_EQ(r.exit_code, 3);
    auto p = probe(nlohmann::json::parse(r.out), "postgres.pg_dump");
    EXPECT_EQ(p["outcome"], "fail");
    EXPECT_NE(p["finding"].get<std::string>().find("needs pg_dump 15 or newer"), std::string::npos) << p.dump();
    EXPECT_NE(p["remedy"].get<std::string>().find("postgresql-client-15"), std::string::npos) << p.dump();
}

TEST_F(Check, UnreachableHostFailsWithAConnectivityRemedy)
{
    int closed = free_port();
    write_config("postgres://postgres@127.0.0.1:" + std::to_string(closed) + "/app");
    auto r = check();
    EXPECT_EQ(r.exit_code, 3);
    auto p = probe(nlohmann::json::parse(r.out), "postgres.connect");
    EXPECT_EQ(p["outcome"], "fail");
    EXPECT_NE(p["finding"].get<std::string>().find("Connection refused"), std::string::npos) << p.dump();
    EXPECT_NE(p["remedy"].get<std::string>().find("host and port"), std::string::npos) << p.dump();
}

TEST_F(Check, UnwritableStorageFails)
{
    write_config(m_pg->url("app"));
    // A regular file where the storage folder should be: nothing can be created below it, even by root.
    write_file(m_dir->path() / "backups", "not a folder");
    auto r = check();
    EXPECT_EQ(r.exit_code, 3);
    auto p = probe(nlohmann::json::parse(r.out), "storage.write");
    EXPECT_EQ(p["outcome"], "fail") << r.out;
    EXPECT_FALSE(p["remedy"].get<std::string>().empty());
}

TEST_F(Check, BrokenConfigurationFailsWithExitThree)
{
    write_file(m_dir->path() / "dbkeep.yaml", "targets:\n  app:\n    engine: oracle\n");
    auto r = check();
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find("dbkeep.yaml:3:13: unknown engine 'oracle'"), std::string::npos) << r.err;
}
