// `type: ecs`, the asynchronous marker protocol, against a real container: the launcher is `docker exec -d`
// (detached, like an ECS Exec session that returns at once) and a bind-mounted host folder stands in for EFS.
#include "support/docker_fixture.hpp"
#include "support/process.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <thread>

using namespace dbkeep::test;

namespace {

constexpr const char* k_pg_pw = "Ecs-PG-S3cret";

class EcsTest : public DockerDaemonTest {
protected:
    EcsTest() : DockerDaemonTest("dbkeep-ecs-test") { m_work.env = {{"APP_PW", k_pg_pw}}; }

    void SetUp() override
    {
        DockerDaemonTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        m_shared = m_work.dir() / "efs";
        std::filesystem::create_directories(m_shared);
        start_database_container(
            k_pg_pw, "unused-pw",
            "CREATE TABLE all_bytes (b bytea); INSERT INTO all_bytes "
            "SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex') FROM generate_series(0, 255) i;"
            "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 10000) g;",
            {"-v", m_shared.string() + ":/efs"});
    }

    std::string launcher() const { return "[env, 'DOCKER_HOST=" + m_docker->host() + "', docker, exec, -d, db]"; }

    void write_config(const std::string& launcher_argv, int timeout, const std::string& extra = "")
    {
        m_work.write_config(m_work.local_storage_yaml() +
                            "targets:\n  app:\n    engine: postgres\n    url: postgres://postgres@127.0.0.1:5432/app\n"
                            "    password: ${APP_PW}\n" +
                            extra + "    runner:\n      type: ecs\n      argv: " + launcher_argv +
                            "\n      shared_dir: " + m_shared.string() +
                            "\n      remote_shared_dir: /efs\n      timeout: " + std::to_string(timeout) + "\n");
    }

    RunResult dbkeep(std::vector<std::string> args) { return m_work.dbkeep(std::move(args)); }
    std::vector<std::string> manifests() const { return m_work.manifests(); }

    std::vector<std::string> staging() const
    {
        std::vector<std::string> out;
        for (const auto& e : std::filesystem::directory_iterator(m_shared)) {
            if (e.path().filename().string().starts_with("dbkeep-")) {
                out.push_back(e.path().filename().string());
            }
        }
        return out;
    }

    std::filesystem::path m_shared;
};

} // namespace

TEST_F(EcsTest, DumpStreamsThroughTheSharedFolderAndIsVerifiedByTheStatus)
{
    // A stale staging folder of an earlier, crashed run: removed by this one.
    std::filesystem::create_directories(m_shared / "dbkeep-1000-deadbeef");
    write_file(m_shared / "dbkeep-1000-deadbeef" / "data", "old");
    sh("touch -d '3 days ago' " + (m_shared / "dbkeep-1000-deadbeef/data").string() + " " +
       (m_shared / "dbkeep-1000-deadbeef").string());

    write_config(launcher(), 30);
    auto b = dbkeep({"backup", "app"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(b.err.find(k_pg_pw), std::string::npos);
    ASSERT_EQ(manifests().size(), 1u);
    EXPECT_TRUE(staging().empty()) << "staging folders left behind: " << staging().size();

    auto listed = nlohmann::json::parse(dbkeep({"list", "--json"}).out);
    EXPECT_EQ(listed[0]["runner"], "ecs launcher env DOCKER_HOST=" + m_docker->host() + " docker exec");
    EXPECT_EQ(listed[0]["server_version"].get<std::string>().substr(0, 3), "15.");
    // Row counts through a runner that cannot hold a session: read from the dump as it streamed back.
    EXPECT_EQ(listed[0]["stats"]["public.all_bytes"], 1) << listed[0].dump(2);

    // The stored object is pg_dump's own custom format, every byte value of the bytea intact.
    auto file = m_work.dir() / "app.pgdump";
    auto r = dbkeep({"restore", "app", "--output", file.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto data = run({"pg_restore", "--data-only", "--table=all_bytes", "--file=-", file.string()});
    ASSERT_EQ(data.exit_code, 0) << data.err;
    const std::string hex = m_db->psql("app", "SELECT encode(b, 'hex') FROM all_bytes");
    ASSERT_EQ(hex.size(), 512u);
    EXPECT_NE(data.out.find("\\\\x" + hex), std::string::npos);
}

TEST_F(EcsTest, ADumpThatFailsInsideTheContainerIsAFailedBackup)
{
    write_file(m_shared / "fake_pg_dump",
               "#!/bin/sh\n"
               "if [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) 15.4'; exit 0; fi\n"
               "printf 'PGDMP partial output'\n"
               "echo 'pg_dump: error: simulated failure inside the container' >&2\n"
               "exit 3\n");
    std::filesystem::permissions(m_shared / "fake_pg_dump",
                                 std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                     std::filesystem::perms::others_exec | std::filesystem::perms::others_read);
    write_config(launcher(), 20, "    pg_dump_path: /efs/fake_pg_dump\n");
    auto b = dbkeep({"backup", "app"});
    EXPECT_NE(b.exit_code, 0);
    EXPECT_NE(b.err.find("exited with code 3"), std::string::npos) << b.err;
    EXPECT_NE(b.err.find("simulated failure inside the container"), std::string::npos) << b.err;
    EXPECT_TRUE(manifests().empty());
    EXPECT_TRUE(staging().empty());
}

TEST_F(EcsTest, ADumpKilledInsideTheContainerIsAFailedBackup)
{
    m_db->psql("app", "CREATE TABLE big AS SELECT g, repeat(md5(g::text), 20) AS v FROM generate_series(1, 300000) g");
    write_config(launcher(), 20);
    std::thread killer([&] { m_db->kill_when_running("pg_dump"); });
    auto b = dbkeep({"backup", "app"});
    killer.join();
    EXPECT_NE(b.exit_code, 0) << b.err;
    EXPECT_NE(b.err.find("pg_dump exited with code 137"), std::string::npos) << b.err;
    EXPECT_TRUE(manifests().empty());
    EXPECT_TRUE(staging().empty());
}

TEST_F(EcsTest, AStatusThatNeverAppearsTimesOut)
{
    // A launcher whose command writes part of a dump, then vanishes without a status (a task that was stopped).
    write_file(m_work.dir() / "vanishing-launcher",
               "#!/bin/sh\n# args: sh -c SCRIPT sh REMOTE_DIR command...\n"
               "d=\"" +
                   m_shared.string() +
                   "/$(basename \"$5\")\"\n"
                   "case \"$6\" in *psql) (: > \"$d/started\"; echo 'psql: not found' > \"$d/stderr\"; "
                   "echo '127 0 -' > \"$d/status\") & exit 0;; esac\n"
                   "if [ \"$7\" = --version ]; then (sleep 0.2; : > \"$d/started\"; echo 'pg_dump (PostgreSQL) 15.4' > "
                   "\"$d/data\"; "
                   "echo '0 26 -' > \"$d/status\") & exit 0; fi\n"
                   "(: > \"$d/started\"; printf 'PGDMP partial' > \"$d/data\") &\n");
    std::filesystem::permissions(m_work.dir() / "vanishing-launcher", std::filesystem::perms::owner_all);
    write_config("[" + (m_work.dir() / "vanishing-launcher").string() + "]", 2,
                 "    pg_dump_path: /usr/lib/postgresql/15/bin/pg_dump\n");
    auto b = dbkeep({"backup", "app"});
    EXPECT_NE(b.exit_code, 0);
    EXPECT_NE(b.err.find("no new output and no status for 2 s"), std::string::npos) << b.err;
    EXPECT_TRUE(manifests().empty());
    EXPECT_TRUE(staging().empty());

    // A launcher that starts nothing at all.
    write_config("[true]", 2, "    pg_dump_path: /usr/lib/postgresql/15/bin/pg_dump\n");
    auto n = dbkeep({"backup", "app"});
    EXPECT_NE(n.exit_code, 0);
    EXPECT_NE(n.err.find("did not start within 2 s"), std::string::npos) << n.err;
    EXPECT_TRUE(manifests().empty());
    EXPECT_TRUE(staging().empty());
}

TEST_F(EcsTest, CheckProvesTheSharedFolderFromBothSides)
{
    write_config(launcher(), 10);
    auto ok = dbkeep({"check", "app"});
    EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("both sides can write there"), std::string::npos) << ok.out;
    EXPECT_TRUE(staging().empty());

    // The container mounts the volume elsewhere: nothing ever appears in the folder dbkeep watches.
    auto cfg = read_file(m_work.dir() / "dbkeep.yaml");
    cfg.replace(cfg.find("remote_shared_dir: /efs"), 23, "remote_shared_dir: /elsewhere");
    cfg.replace(cfg.find("timeout: 10"), 11, "timeout: 2");
    write_file(m_work.dir() / "dbkeep.yaml", cfg);
    auto bad = dbkeep({"check", "app"});
    EXPECT_EQ(bad.exit_code, 3) << bad.out;
    EXPECT_NE(bad.out.find("runner.ecs"), std::string::npos) << bad.out;
    EXPECT_NE(bad.out.find("remote_shared_dir"), std::string::npos) << bad.out;
    EXPECT_TRUE(staging().empty());
}
