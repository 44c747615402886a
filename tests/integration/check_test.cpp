// `dbkeep check` against real services: a healthy set-up passes; each broken prerequisite shows ✗, a remedy,
// and exit code 3.
#include "support/postgres_fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;

namespace {

class Check : public PostgresTest {
protected:
    Check()
        : PostgresTest(
              {.seed_sql =
                   "CREATE TABLE public.orders (id int); CREATE SCHEMA billing; CREATE TABLE billing.invoices (id int);"
                   "CREATE SEQUENCE public.order_numbers;"
                   "CREATE ROLE backup LOGIN; GRANT USAGE ON SCHEMA billing TO backup;"
                   "GRANT SELECT ON public.orders TO backup; GRANT SELECT ON public.order_numbers TO backup;",
               .tag = "dbkeep-check"})
    {
    }

    // Target app at `url`, keeping dailies (the retention probe needs a policy), then `extra`.
    void configure(const std::string& url, const std::string& extra = "")
    {
        write_config("    keep: {daily: 7}\n" + extra, url);
    }

    RunResult check(std::vector<std::string> extra = {})
    {
        std::vector<std::string> args{"check", "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        return dbkeep(args);
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
};

} // namespace

TEST_F(Check, HealthySetupPassesEveryProbeAndExitsZero)
{
    configure(m_pg->url("app"));
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
    auto human = dbkeep({"check"});
    EXPECT_NE(human.out.find("✓"), std::string::npos);
    EXPECT_EQ(human.out.find("✗"), std::string::npos) << human.out;
    for (const auto& f : m_work->stored_files()) {
        ADD_FAILURE() << "left behind: " << f;
    }
}

TEST_F(Check, RoleWithoutSelectOnATableFailsWithTheGrantToRun)
{
    configure(m_pg->url("app", "backup"));
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
    auto human = dbkeep({"check"});
    EXPECT_NE(human.out.find("✗"), std::string::npos);
    EXPECT_NE(human.out.find("→ GRANT"), std::string::npos) << human.out;
}

TEST_F(Check, PgDumpOlderThanTheServerFails)
{
    auto old = m_work->write_script("old_pg_dump", "echo 'pg_dump (PostgreSQL) 12.9'");
    configure(m_pg->url("app"), "    pg_dump_path: " + old + "\n");
    auto r = check();
    EXPECT_EQ(r.exit_code, 3);
    auto p = probe(nlohmann::json::parse(r.out), "postgres.pg_dump");
    EXPECT_EQ(p["outcome"], "fail");
    EXPECT_NE(p["finding"].get<std::string>().find("needs pg_dump 15 or newer"), std::string::npos) << p.dump();
    EXPECT_NE(p["remedy"].get<std::string>().find("postgresql-client-15"), std::string::npos) << p.dump();
}

TEST_F(Check, UnreachableHostFailsWithAConnectivityRemedy)
{
    const ClosedPort closed;
    configure("postgres://postgres@127.0.0.1:" + std::to_string(closed.port()) + "/app");
    auto r = check();
    EXPECT_EQ(r.exit_code, 3);
    auto p = probe(nlohmann::json::parse(r.out), "postgres.connect");
    EXPECT_EQ(p["outcome"], "fail");
    EXPECT_NE(p["finding"].get<std::string>().find("Connection refused"), std::string::npos) << p.dump();
    EXPECT_NE(p["remedy"].get<std::string>().find("host and port"), std::string::npos) << p.dump();
}

TEST_F(Check, UnwritableStorageFails)
{
    configure(m_pg->url("app"));
    // A regular file where the storage folder should be: nothing can be created below it, even by root.
    write_file(m_work->backups(), "not a folder");
    auto r = check();
    EXPECT_EQ(r.exit_code, 3);
    auto p = probe(nlohmann::json::parse(r.out), "storage.write");
    EXPECT_EQ(p["outcome"], "fail") << r.out;
    // The remedy fits the cause: a file in the way, not a permission (it said "make ... writable").
    const std::string remedy = p["remedy"].get<std::string>();
    EXPECT_NE(remedy.find("is a file: move it away"), std::string::npos) << r.out;
    EXPECT_EQ(remedy.find("writable"), std::string::npos) << r.out;
}

TEST_F(Check, BrokenConfigurationFailsWithExitThree)
{
    m_work->write_config("targets:\n  app:\n    engine: oracle\n");
    auto r = check();
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find("dbkeep.yaml:3:13: unknown engine 'oracle'"), std::string::npos) << r.err;
}
