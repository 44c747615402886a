// `type: docker` (the Docker Engine API) and `type: command` with `docker exec -i`, against a real dockerd whose
// container runs PostgreSQL 15 and Redis 7 with no network at all: the databases are reachable only from inside.
#include "core/cancel.hpp"
#include "runner/docker/docker.hpp"
#include "support/docker_fixture.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/wait.hpp"
#include "support/workspace.hpp"

#include <atomic>
#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <thread>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

constexpr const char* k_pg_pw = "Dock-PG-S3cret";
constexpr const char* k_redis_pw = "Dock-Redis-S3cret";

class DockerTest : public DockerDaemonTest {
protected:
    DockerTest() : DockerDaemonTest("dbkeep-docker-test")
    {
        m_work.env = {{"APP_PW", k_pg_pw}, {"CACHE_PW", k_redis_pw}};
    }

    void start_databases()
    {
        start_database_container(
            k_pg_pw, k_redis_pw,
            "CREATE TABLE all_bytes (b bytea); INSERT INTO all_bytes "
            "SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex') FROM generate_series(0, 255) i;"
            "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;");
        m_db->redis_cli({"SET", "plain", "value"});
        m_db->redis_cli({"HSET", "h", "f1", "v1", "f2", "v2"});
        m_db->redis_cli({"RPUSH", "l", "a", "b", "c"});
        m_db->redis_cli({"ZADD", "z", "1", "a", "2", "b"});
        m_db->redis_cli({"SET", "ttl", "x", "EX", "5000"});
        m_db->redis_cli(
            {"EVAL", "redis.call('SET', 'bin', ARGV[1]) return 1", "0", std::string("\x00\x01\xff\r\n", 5)});
    }

    void write_config(const std::string& runner)
    {
        m_work.write_config(m_work.local_storage_yaml() +
                            "targets:\n"
                            "  app:\n    engine: postgres\n    url: postgres://postgres@127.0.0.1:5432/app\n"
                            "    password: ${APP_PW}\n    runner: " +
                            runner +
                            "\n"
                            "  cache:\n    engine: redis\n    url: redis://127.0.0.1:6379\n    password: ${CACHE_PW}\n"
                            "    runner: " +
                            runner + "\n");
    }

    RunResult dbkeep(std::vector<std::string> args, const std::string& restore_password = k_pg_pw)
    {
        return m_work.dbkeep(std::move(args), {.env = {{"DBKEEP_RESTORE_PASSWORD", restore_password}}});
    }

    std::vector<std::string> manifests() const { return m_work.manifests(); }

    void round_trip(const std::string& expected_runner)
    {
        auto b = dbkeep({"backup", "app"});
        ASSERT_EQ(b.exit_code, 0) << b.err;
        auto c = dbkeep({"backup", "cache"});
        ASSERT_EQ(c.exit_code, 0) << c.err;
        for (const auto& out : {b.err, b.out, c.err, c.out}) {
            EXPECT_EQ(out.find(k_pg_pw), std::string::npos);
            EXPECT_EQ(out.find(k_redis_pw), std::string::npos);
        }
        auto listed = nlohmann::json::parse(dbkeep({"list", "--json"}).out);
        ASSERT_EQ(listed.size(), 2u);
        for (const auto& m : listed) {
            EXPECT_EQ(m["runner"], expected_runner);
            if (m["engine"] == "postgres") {
                EXPECT_EQ(m["stats"]["public.t"], 20000);
                EXPECT_EQ(m["stats"]["public.all_bytes"], 1);
            } else {
                EXPECT_EQ(m["stats"]["db0"], 6);
            }
        }

        // PostgreSQL: restore into a new database inside the container (created through psql there).
        auto r = dbkeep({"restore", "app", "--to", "postgres://postgres@127.0.0.1:5432/copy"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(m_db->psql("copy", "SELECT md5(b) FROM all_bytes"),
                  m_db->psql("app", "SELECT md5(b) FROM all_bytes"));
        EXPECT_EQ(m_db->psql("copy", "SELECT length(b) FROM all_bytes"), "256");
        EXPECT_EQ(m_db->psql("copy", "SELECT md5(string_agg(v, ',' ORDER BY id)) FROM t"),
                  m_db->psql("app", "SELECT md5(string_agg(v, ',' ORDER BY id)) FROM t"));

        // Redis: the digest before, a flush, the restore through redis-cli --pipe, the same digest after.
        const std::string digest = m_db->redis_cli({"DEBUG", "DIGEST"});
        ASSERT_EQ(digest.size(), 40u) << digest;
        m_db->redis_cli({"FLUSHALL"});
        m_db->redis_cli({"SET", "stale", "x"});
        auto rr = dbkeep({"restore", "cache", "--to", "redis://127.0.0.1:6379", "--flush", "--yes"}, k_redis_pw);
        ASSERT_EQ(rr.exit_code, 0) << rr.err;
        EXPECT_EQ(m_db->redis_cli({"DEBUG", "DIGEST"}), digest);
        EXPECT_EQ(m_db->redis_cli({"EXISTS", "stale"}), "0");
        auto ttl = std::stoi(m_db->redis_cli({"TTL", "ttl"}));
        EXPECT_GT(ttl, 4000);

        auto v = dbkeep({"verify", "app"});
        EXPECT_EQ(v.exit_code, 0) << v.err;
    }
};

// A thread that appends the process's output to `got` until its end or an error.
std::thread read_output(runner::Process& proc, std::string& got)
{
    return std::thread([&proc, &got] {
        std::uint8_t buf[65536];
        for (;;) {
            auto n = proc.out().read(buf);
            if (!n || *n == 0) {
                break;
            }
            got.append(reinterpret_cast<const char*>(buf), *n);
        }
    });
}

} // namespace

TEST_F(DockerTest, PostgresAndRedisRoundTripThroughTheEngineApi)
{
    start_databases();
    write_config("{ type: docker, container: db, host: '" + m_docker->host() + "' }");
    round_trip("docker container db");
}

TEST_F(DockerTest, PostgresAndRedisRoundTripThroughDockerExecAsACommandPrefix)
{
    start_databases();
    // The docker CLI finds this daemon through DOCKER_HOST, set in the command prefix itself.
    write_config("{ type: command, argv: [env, 'DOCKER_HOST=" + m_docker->host() + "', docker, exec, -i, db] }");
    round_trip("command env DOCKER_HOST=" + m_docker->host() + " docker exec -i db");
}

TEST_F(DockerTest, RunnerStreamsBinaryBothWaysAndReportsExitCodesAndStderr)
{
    m_docker->run_container("box");
    auto runner = runner::make_docker_runner({.host = m_docker->host(), .container = "box"});
    std::string data = random_bytes(6 << 20, 42);
    for (int i = 0; i < 256; ++i) {
        data[static_cast<std::size_t>(i)] = static_cast<char>(i); // every byte value, for certain
    }

    // stdin -> cat -> stdout: every byte value, megabytes, with stdout read while stdin is written.
    auto proc = runner->start({.argv = {"cat"}, .with_stdin = true});
    ASSERT_TRUE(proc) << proc.error().to_string();
    std::string got;
    std::thread reader = read_output(**proc, got);
    for (std::size_t off = 0; off < data.size(); off += 100000) {
        auto chunk = std::string_view(data).substr(off, 100000);
        ASSERT_TRUE((*proc)->in()->write(as_bytes(chunk)));
    }
    ASSERT_TRUE((*proc)->in()->finish());
    reader.join();
    auto status = (*proc)->wait();
    ASSERT_TRUE(status);
    EXPECT_TRUE(status->ok()) << status->describe();
    EXPECT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data) << "the stream through the engine changed bytes";

    // Exit codes, stderr apart from stdout, the environment (a secret never in argv).
    auto out =
        runner::run_capture(*runner, {.argv = {"sh", "-c", "printf 'out'; printf 'err: %s' \"$SECRET\" >&2; exit 7"},
                                      .env = {{"SECRET", "s3cret value"}}});
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(out->status.code, 7);
    EXPECT_EQ(out->out, "out");
    EXPECT_EQ(out->err, "err: s3cret value");

    // A missing program: a failure with the engine's reason, not a hang.
    auto missing = runner::run_capture(*runner, {.argv = {"no-such-program-x"}});
    if (missing) {
        EXPECT_FALSE(missing->status.ok());
        EXPECT_NE(missing->err + missing->out, "");
    }
}

// pg_restore --schema-only reads a dump's table of contents and exits; the engine then reads no more of the
// command's input. A write blocked on that input fails as soon as the command's output ends (a local pipe fails
// with EPIPE), where it used to wait until the engine gave up on the connection, two minutes per restore.
TEST_F(DockerTest, AWriteToACommandThatHasExitedFailsOnceItsOutputEnds)
{
    m_docker->run_container("box");
    auto runner = runner::make_docker_runner({.host = m_docker->host(), .container = "box"});
    auto proc = runner->start({.argv = {"sh", "-c", "head -c 1000 >/dev/null; echo done"}, .with_stdin = true});
    ASSERT_TRUE(proc) << proc.error().to_string();
    std::string got;
    std::thread reader = read_output(**proc, got);
    // Far more than the socket buffers hold, written from a thread so that a hang fails the test, not CI.
    std::atomic<int> outcome{0}; // 0 writing, 1 all written, 2 the write failed
    std::thread writer([&] {
        const std::string chunk(1 << 20, 'x');
        for (int i = 0; i < 256; ++i) {
            if (!(*proc)->in()->write(as_bytes(std::string_view(chunk)))) {
                outcome = 2;
                return;
            }
        }
        outcome = 1;
    });
    const bool ended = wait_until([&] { return outcome.load() != 0; }, std::chrono::seconds(30));
    if (!ended) {
        (*proc)->kill(); // wakes the writer (the old code's hang) so that the threads can be joined
    }
    writer.join();
    reader.join();
    EXPECT_TRUE(ended) << "the write to a command that has exited was still blocked after 30 s";
    EXPECT_EQ(outcome.load(), 2);
    EXPECT_EQ(got, "done\n");
    auto status = (*proc)->wait();
    ASSERT_TRUE(status);
    EXPECT_TRUE(status->ok()) << status->describe();
}

// wait() while another thread reads the output (pg_restore's table of contents, redis-cli --pipe's summary)
// leaves the output to that thread: it used to read and throw away what the thread had not read yet.
TEST_F(DockerTest, WaitLeavesTheOutputToTheThreadThatReadsIt)
{
    m_docker->run_container("box");
    auto runner = runner::make_docker_runner({.host = m_docker->host(), .container = "box"});
    auto proc = runner->start({.argv = {"sh", "-c", "sleep 2; seq 1 200000"}});
    ASSERT_TRUE(proc) << proc.error().to_string();
    std::string got;
    std::thread reader = read_output(**proc, got);
    // The reader is inside its first read, which the output answers 2 s after the start.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto status = (*proc)->wait();
    reader.join();
    ASSERT_TRUE(status) << status.error().to_string();
    EXPECT_TRUE(status->ok()) << status->describe();
    std::string expected;
    for (int i = 1; i <= 200000; ++i) {
        expected += std::to_string(i) + "\n";
    }
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected) << "the reader lost output to wait()";
}

TEST_F(DockerTest, KillStopsTheCommandAndItsChildrenInsideTheContainer)
{
    m_docker->run_container("box");
    auto runner = runner::make_docker_runner({.host = m_docker->host(), .container = "box"});
    auto proc = runner->start({.argv = {"sh", "-c", "sleep 300 & sleep 301; wait"}});
    ASSERT_TRUE(proc) << proc.error().to_string();
    // How many of the two sleeps run inside the container.
    const std::string count_sleeps =
        "for d in /proc/[0-9]*; do tr '\\0' ' ' < $d/cmdline 2>/dev/null; echo; done | grep -c '^sleep 30[01]'";
    auto running = [&] { return m_docker->docker({"exec", "box", "sh", "-c", count_sleeps}, {}, false).out; };
    wait_until([&] { return running() != "0\n"; });
    ASSERT_NE(running(), "0\n");
    (*proc)->kill();
    auto status = (*proc)->wait();
    ASSERT_TRUE(status) << status.error().to_string();
    EXPECT_FALSE(status->ok()) << status->describe();
    EXPECT_EQ(running(), "0\n") << "sleep processes survived the kill";
}

TEST_F(DockerTest, StoppedOrMissingContainerFailsClearlyWithNoManifest)
{
    start_databases();
    write_config("{ type: docker, container: db, host: '" + m_docker->host() + "' }");
    m_docker->docker({"stop", "-t", "1", "db"});
    auto b = dbkeep({"backup", "app"});
    EXPECT_NE(b.exit_code, 0);
    EXPECT_NE(b.err.find("not running"), std::string::npos) << b.err;
    EXPECT_NE(b.err.find("docker start db"), std::string::npos) << b.err;
    auto c = dbkeep({"backup", "cache"});
    EXPECT_NE(c.exit_code, 0);
    EXPECT_TRUE(manifests().empty());

    write_config("{ type: docker, container: nope, host: '" + m_docker->host() + "' }");
    auto m = dbkeep({"backup", "app"});
    EXPECT_NE(m.exit_code, 0);
    EXPECT_NE(m.err.find("nope"), std::string::npos) << m.err;
    EXPECT_NE(m.err.find("check the runner's container: name (docker ps -a)"), std::string::npos) << m.err;
    EXPECT_EQ(m.err.find("install psql"), std::string::npos) << "psql is not what is missing: " << m.err;
    EXPECT_TRUE(manifests().empty());

    write_config("{ type: docker, container: db, host: 'unix://" + (m_work.dir() / "no.sock").string() + "' }");
    auto s = dbkeep({"backup", "app"});
    EXPECT_NE(s.exit_code, 0);
    EXPECT_NE(s.err.find("no.sock"), std::string::npos) << s.err;
    EXPECT_NE(s.err.find("daemon running?"), std::string::npos) << s.err;
}

TEST_F(DockerTest, PgDumpKilledInsideTheContainerLeavesNoManifest)
{
    start_databases();
    m_db->psql("app", "CREATE TABLE big AS SELECT g, repeat(md5(g::text), 20) AS v FROM generate_series(1, 300000) g");
    write_config("{ type: docker, container: db, host: '" + m_docker->host() + "' }");
    std::thread killer([&] { m_db->kill_when_running("pg_dump"); });
    auto b = dbkeep({"backup", "app"});
    killer.join();
    EXPECT_NE(b.exit_code, 0) << b.err;
    EXPECT_NE(b.err.find("pg_dump"), std::string::npos) << b.err;
    EXPECT_TRUE(manifests().empty());
}

TEST_F(DockerTest, CheckPassesOnAHealthySetUpAndNamesAStoppedContainer)
{
    start_databases();
    write_config("{ type: docker, container: db, host: '" + m_docker->host() + "' }");
    auto ok = dbkeep({"check", "--json"});
    EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    auto findings = nlohmann::json::parse(ok.out);
    std::map<std::string, std::string> outcome;
    for (const auto& f : findings) {
        outcome[f["target"].get<std::string>() + " " + f["probe"].get<std::string>()] = f["outcome"];
    }
    EXPECT_EQ(outcome["app runner.docker"], "pass") << ok.out;
    EXPECT_EQ(outcome["app runner.container"], "pass") << ok.out;
    EXPECT_EQ(outcome["app postgres.connect"], "pass") << ok.out;
    EXPECT_EQ(outcome["app postgres.pg_dump"], "pass") << ok.out;
    EXPECT_EQ(outcome["cache redis.connect"], "pass") << ok.out;

    m_docker->docker({"stop", "-t", "1", "db"});
    auto stopped = dbkeep({"check", "app"});
    EXPECT_EQ(stopped.exit_code, 3) << stopped.out;
    EXPECT_NE(stopped.out.find("container db is exited"), std::string::npos) << stopped.out;
    EXPECT_NE(stopped.out.find("docker start db"), std::string::npos) << stopped.out;
}
