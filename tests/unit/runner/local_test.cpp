#include "runner/local.hpp"

#include <algorithm>
#include <cstdlib>
#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::runner;

TEST(LocalRunner, CapturesStdoutStderrAndExitCode)
{
    auto r = make_local_runner();
    auto out = run_capture(*r, {.argv = {"sh", "-c", "printf 'out'; printf 'err' >&2; exit 3"}});
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(out->out, "out");
    EXPECT_EQ(out->err, "err");
    EXPECT_EQ(out->status.code, 3);
    EXPECT_FALSE(out->status.ok());
    EXPECT_EQ(out->status.describe(), "exited with code 3");
}

TEST(LocalRunner, StdinAndStdoutAreBinarySafe)
{
    auto r = make_local_runner();
    auto proc = r->start({.argv = {"cat"}, .with_stdin = true});
    ASSERT_TRUE(proc) << proc.error().to_string();
    std::string all;
    for (int i = 0; i < 256; ++i) {
        all.push_back(static_cast<char>(i));
    }
    ASSERT_TRUE((*proc)->in()->write(as_bytes(all)));
    ASSERT_TRUE((*proc)->in()->finish());
    std::string got;
    std::uint8_t buf[100];
    for (;;) {
        auto n = (*proc)->out().read(buf);
        ASSERT_TRUE(n);
        if (*n == 0) {
            break;
        }
        got.append(reinterpret_cast<char*>(buf), *n);
    }
    EXPECT_EQ(got, all);
    auto st = (*proc)->wait();
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->ok());
}

TEST(LocalRunner, EnvironmentReachesTheProcessAndNotArgv)
{
    auto r = make_local_runner();
    auto out = run_capture(
        *r, {.argv = {"sh", "-c", "printf '%s' \"$DBKEEP_TEST_VALUE\""}, .env = {{"DBKEEP_TEST_VALUE", "s3cret"}}});
    ASSERT_TRUE(out);
    EXPECT_EQ(out->out, "s3cret");
}

TEST(LocalRunner, MissingProgramIsNotFound)
{
    auto r = make_local_runner();
    auto proc = r->start({.argv = {"/nonexistent/dbkeep-no-such-tool"}});
    ASSERT_FALSE(proc);
    EXPECT_EQ(proc.error().kind, ErrorKind::not_found);
    EXPECT_NE(proc.error().to_string().find("dbkeep-no-such-tool"), std::string::npos);
}

TEST(LocalRunner, KillReportsTheSignal)
{
    auto r = make_local_runner();
    auto proc = r->start({.argv = {"sleep", "30"}});
    ASSERT_TRUE(proc);
    (*proc)->kill();
    auto st = (*proc)->wait();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->signal, 15);
}

// A child sees the base allow-list, what its command inherits, and its own env; never another target's
// password or the storage's AWS secret (the old runner passed dbkeep's whole environment to every child).
TEST(LocalRunner, AStartedChildSeesOnlyTheAllowListedEnvironment)
{
    ::setenv("DBKEEP_TEST_SECRET", "must-not-leak", 1);
    auto r = make_local_runner();
    auto out = run_capture(*r, {.argv = {"env"}, .env = {{"GIVEN", "yes"}}});
    ::unsetenv("DBKEEP_TEST_SECRET");
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(out->out.find("must-not-leak"), std::string::npos) << out->out;
    EXPECT_NE(out->out.find("GIVEN=yes"), std::string::npos) << out->out;
    EXPECT_NE(out->out.find("PATH="), std::string::npos) << out->out;
}
