// core/child: the allow-listed environment, and run()'s bounds: output cap, deadline, cancellation.
#include "core/cancel.hpp"
#include "core/child.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <gtest/gtest.h>
#include <thread>

using namespace dbkeep;
using namespace dbkeep::child;

TEST(Child, EnvironmentIsAllowListed)
{
    const char* parent[] = {"PATH=/usr/bin",
                            "HOME=/root",
                            "LC_ALL=C.UTF-8",
                            "TZ=Europe/Paris",
                            "AWS_SECRET_ACCESS_KEY=storage-secret",
                            "CACHE_REDIS_PASSWORD=other-target",
                            "PGHOST=/run/postgresql",
                            "PGPASSWORD=from-env",
                            "NOEQUALS",
                            nullptr};
    auto env = environment({.argv = {"pg_dump"}, .env = {{"PGPASSWORD", "configured"}}, .inherit = {"PG*"}}, parent);
    auto has = [&](const std::string& kv) { return std::ranges::find(env, kv) != env.end(); };
    EXPECT_TRUE(has("PATH=/usr/bin"));
    EXPECT_TRUE(has("HOME=/root"));
    EXPECT_TRUE(has("LC_ALL=C.UTF-8"));
    EXPECT_TRUE(has("TZ=Europe/Paris"));
    EXPECT_TRUE(has("PGHOST=/run/postgresql"));
    EXPECT_TRUE(has("PGPASSWORD=configured"));
    EXPECT_FALSE(has("PGPASSWORD=from-env")) << "the command's own value wins";
    for (const auto& kv : env) {
        EXPECT_EQ(kv.find("storage-secret"), std::string::npos) << kv;
        EXPECT_EQ(kv.find("other-target"), std::string::npos) << kv;
    }
    auto plain = environment({.argv = {"cat"}}, parent);
    EXPECT_EQ(std::ranges::count_if(plain, [](const std::string& kv) { return kv.starts_with("PG"); }), 0);
}

TEST(Child, RunCapturesOutputAndExitCode)
{
    auto r = run({.argv = {"sh", "-c", "printf out; printf err >&2; exit 3"}}, {}, "sh");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->out, "out");
    EXPECT_EQ(r->err, "err");
    EXPECT_EQ(r->code, 3);
    EXPECT_FALSE(r->ok());
}

TEST(Child, AMissingProgramIsNotFound)
{
    auto r = run({.argv = {"dbkeep-no-such-program"}}, {}, "dbkeep-no-such-program");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::not_found);
}

TEST(Child, AChildPastItsDeadlineIsKilledWithItsGroup)
{
    const auto start = std::chrono::steady_clock::now();
    // The shell's child (sleep) holds the pipes open too: the whole group must go.
    auto r = run({.argv = {"sh", "-c", "sleep 30; echo late"}}, {.deadline = std::chrono::milliseconds(300)}, "sh");
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::transient);
    EXPECT_NE(r.error().message.find("did not finish within 300 ms"), std::string::npos) << r.error().message;
    EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(Child, OutputPastTheCapIsAnErrorAndTheChildIsStopped)
{
    const auto start = std::chrono::steady_clock::now();
    auto r = run({.argv = {"yes"}}, {.max_output = 4096}, "yes");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::failed);
    EXPECT_NE(r.error().message.find("more than 4096 bytes"), std::string::npos) << r.error().message;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(Child, CancellationStopsARunningChild)
{
    cancel::reset();
    std::thread signal([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        cancel::request();
    });
    const auto start = std::chrono::steady_clock::now();
    auto r = run({.argv = {"sleep", "30"}}, {}, "sleep");
    signal.join();
    cancel::reset();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::cancelled);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(Child, ARunChildSeesOnlyTheAllowListedEnvironment)
{
    ::setenv("DBKEEP_TEST_SECRET", "must-not-leak", 1);
    ::setenv("DBKEEP_TEST_ALLOWED", "inherited", 1);
    auto r = run({.argv = {"env"}, .env = {{"GIVEN", "yes"}}, .inherit = {"DBKEEP_TEST_ALLOW*"}}, {}, "env");
    ::unsetenv("DBKEEP_TEST_SECRET");
    ::unsetenv("DBKEEP_TEST_ALLOWED");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->out.find("must-not-leak"), std::string::npos) << r->out;
    EXPECT_NE(r->out.find("DBKEEP_TEST_ALLOWED=inherited"), std::string::npos) << r->out;
    EXPECT_NE(r->out.find("GIVEN=yes"), std::string::npos) << r->out;
}
