// Backups where the database lives: through a real sshd, and through an argv prefix (`type: command`).
#include "support/postgres_fixture.hpp"
#include "support/ssh_server.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;

namespace {
class RemoteRunner : public PostgresTest {
protected:
    RemoteRunner()
        : PostgresTest({.seed_sql = "CREATE TABLE all_bytes (b bytea); INSERT INTO all_bytes "
                                    "SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex') FROM "
                                    "generate_series(0, 255) i;"
                                    "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 5000) g;",
                        .server = {.superuser_password = "Runner-S3cret-pw"},
                        .tag = "dbkeep-runner"})
    {
    }

    void SetUp() override
    {
        PostgresTest::SetUp();
        if (m_work) {
            m_work->env = {{"APP_PW", "Runner-S3cret-pw"}, {"DBKEEP_RESTORE_PASSWORD", "Runner-S3cret-pw"}};
        }
    }

    void write_runner_config(const std::string& runner)
    {
        write_config("    password: ${APP_PW}\n    pg_dump_path: " + PostgresServer::bin_dir() +
                     "/pg_dump\n    pg_restore_path: " + PostgresServer::bin_dir() +
                     "/pg_restore\n    runner: " + runner + "\n");
    }
    void round_trip(const std::string& expected_runner)
    {
        auto b = dbkeep({"backup", "app"});
        ASSERT_EQ(b.exit_code, 0) << b.err;
        EXPECT_EQ(b.err.find("Runner-S3cret-pw"), std::string::npos);
        auto l = nlohmann::json::parse(dbkeep({"list", "--json"}).out);
        EXPECT_EQ(l[0]["runner"], expected_runner);
        EXPECT_EQ(l[0]["stats"]["public.t"], 5000);
        auto r = dbkeep({"restore", "app", "--to", m_pg->url("copy")});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(m_pg->psql("copy", "SELECT md5(b) FROM all_bytes"),
                  m_pg->psql("app", "SELECT md5(b) FROM all_bytes"));
        EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM t"), "5000");
    }
};
} // namespace

TEST_F(RemoteRunner, BackupAndRestoreThroughSsh)
{
    if (auto reason = SshServer::skip_reason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    SshServer sshd;
    write_runner_config("{ type: ssh, host: 127.0.0.1, user: root, port: " + std::to_string(sshd.port()) +
                        ", identity_file: " + sshd.identity_file() + ", known_hosts: " + sshd.known_hosts() + " }");
    round_trip("ssh root@127.0.0.1");
}

TEST_F(RemoteRunner, UnreachableSshHostFailsClearly)
{
    if (auto reason = SshServer::skip_reason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    write_runner_config("{ type: ssh, host: 127.0.0.1, user: root, port: " + std::to_string(free_port()) + " }");
    auto b = dbkeep({"backup", "app"});
    EXPECT_EQ(b.exit_code, 1);
    EXPECT_NE(b.err.find("Connection refused"), std::string::npos) << b.err;
    EXPECT_TRUE(m_work->stored_files().empty());
}

TEST_F(RemoteRunner, BackupAndRestoreThroughACommandPrefix)
{
    // Any argv prefix: here `setsid`, standing in for nsenter or `docker exec -i NAME`.
    write_runner_config("{ type: command, argv: [setsid] }");
    round_trip("command setsid");
}

TEST_F(RemoteRunner, CheckReportsAnUnreachableRunner)
{
    if (auto reason = SshServer::skip_reason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    write_runner_config("{ type: ssh, host: 127.0.0.1, user: root, port: " + std::to_string(free_port()) + " }");
    auto c = dbkeep({"check", "--json"});
    EXPECT_EQ(c.exit_code, 3);
    auto rows = nlohmann::json::parse(c.out);
    bool found = false;
    for (const auto& r : rows) {
        if (r["probe"] == "runner") {
            found = true;
            EXPECT_EQ(r["outcome"], "fail");
            EXPECT_NE(r["finding"].get<std::string>().find("Connection refused"), std::string::npos) << r.dump();
        }
    }
    EXPECT_TRUE(found) << c.out;
}
