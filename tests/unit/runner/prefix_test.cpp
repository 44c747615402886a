#include "runner/prefix.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <cstdlib>
#include <dirent.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <thread>

using namespace dbkeep;
using namespace dbkeep::runner;

namespace {
std::string all_cmdlines()
{
    std::string out;
    DIR* d = opendir("/proc");
    while (auto* e = readdir(d)) {
        std::ifstream f(std::string("/proc/") + e->d_name + "/cmdline", std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        out += ss.str() + "\n";
    }
    closedir(d);
    return out;
}

std::string read_all_out(Process& p)
{
    std::string s;
    std::uint8_t buf[65536];
    for (;;) {
        auto n = p.out().read(buf);
        if (!n || *n == 0) {
            return s;
        }
        s.append(reinterpret_cast<char*>(buf), *n);
    }
}
} // namespace

class PrefixRunner : public ::testing::TestWithParam<bool> {};

TEST_P(PrefixRunner, EnvironmentArrivesExactlyAndNeverInAnyArgv)
{
    // as_one_string: the far side is a shell given one string, like ssh; otherwise an argv prefix.
    auto r = GetParam() ? make_prefix_runner({"sh", "-c"}, true, "one-string")
                        : make_prefix_runner({"env"}, false, "prefix");
    const std::string secret = "p@ss 'w\"o$rd`\\\n zaż\nłć-XYZZY\n";
    auto proc =
        r->start({.argv = {"sh", "-c", "printf '%s' \"$DBKEEP_SECRET\"; sleep 1"}, .env = {{"DBKEEP_SECRET", secret}}});
    ASSERT_TRUE(proc) << proc.error().to_string();
    // The command is running once its `sleep 1` is: every process between here and there has started.
    test::wait_until([] {
        return all_cmdlines().find(std::string("sleep\0"
                                               "1\0",
                                               8)) != std::string::npos;
    });
    EXPECT_EQ(all_cmdlines().find("XYZZY"), std::string::npos) << "the secret is in some process's argv";
    EXPECT_EQ(read_all_out(**proc), secret);
    EXPECT_TRUE((*proc)->wait()->ok());
}

TEST_P(PrefixRunner, StdinAfterThePreambleIsBinarySafe)
{
    auto r = GetParam() ? make_prefix_runner({"sh", "-c"}, true, "one-string")
                        : make_prefix_runner({"env"}, false, "prefix");
    auto proc = r->start({.argv = {"cat"}, .env = {{"A", "1"}}, .with_stdin = true});
    ASSERT_TRUE(proc);
    std::string data;
    for (int i = 0; i < 3 * 65536 + 7; ++i) {
        data.push_back(static_cast<char>(i * 7 % 256));
    }
    std::thread writer([&] {
        ASSERT_TRUE((*proc)->in()->write(as_bytes(data)));
        ASSERT_TRUE((*proc)->in()->finish());
    });
    auto got = read_all_out(**proc);
    writer.join();
    EXPECT_TRUE(got == data);
    EXPECT_TRUE((*proc)->wait()->ok());
}

TEST_P(PrefixRunner, ExitCodesPassThrough)
{
    auto r = GetParam() ? make_prefix_runner({"sh", "-c"}, true, "one-string")
                        : make_prefix_runner({"env"}, false, "prefix");
    auto out = run_capture(*r, {.argv = {"sh", "-c", "echo oops >&2; exit 7"}});
    ASSERT_TRUE(out);
    EXPECT_EQ(out->status.code, 7);
    EXPECT_EQ(out->err, "oops\n");
}

INSTANTIATE_TEST_SUITE_P(Forms, PrefixRunner, ::testing::Values(false, true),
                         [](const auto& param_info) { return param_info.param ? "OneString" : "ArgvPrefix"; });

TEST(RunnerArgv, SshAndKubectlPrefixes)
{
    SshOptions ssh;
    ssh.host = "db.internal";
    ssh.user = "backup";
    ssh.port = 2222;
    ssh.identity_file = "/keys/id";
    ssh.known_hosts = "/keys/known_hosts";
    auto a = ssh_prefix(ssh);
    std::string joined;
    for (const auto& w : a) {
        joined += w + " ";
    }
    EXPECT_EQ(joined, "ssh -o BatchMode=yes -o ServerAliveInterval=30 -p 2222 -i /keys/id -o IdentitiesOnly=yes "
                      "-o UserKnownHostsFile=/keys/known_hosts -o StrictHostKeyChecking=yes backup@db.internal -- ");
    KubectlOptions k;
    k.pod = "pg-0";
    k.namespace_ = "prod";
    k.context = "eks";
    k.container = "postgres";
    joined.clear();
    for (const auto& w : kubectl_prefix(k)) {
        joined += w + " ";
    }
    EXPECT_EQ(joined, "kubectl --context eks -n prod exec -i pg-0 -c postgres -- ");
    EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

// A `type: command` prefix gets what its program needs: a container engine its DOCKER_* and no AWS_* (the
// storage's AWS_SECRET_ACCESS_KEY reached `docker exec` before); a launcher dbkeep does not know gets AWS_* too.
TEST(RunnerEnvironment, AContainerEnginePrefixSeesNoAwsSecret)
{
    test::TempDir dir;
    const auto seen = dir / "seen.txt";
    for (const char* program : {"docker", "podman", "my-launcher"}) {
        const auto script = dir / program;
        test::write_file(script, "#!/bin/sh\nenv > '" + seen.string() + "'\nexec \"$@\"\n");
        std::filesystem::permissions(script, std::filesystem::perms::owner_all);
        ::setenv("AWS_SECRET_ACCESS_KEY", "storage-secret-XYZZY", 1);
        ::setenv("DOCKER_HOST", "unix:///run/test-docker.sock", 1);
        auto r = make_command_runner({.argv = {script.string()}});
        auto out = run_capture(*r, {.argv = {"true"}});
        ::unsetenv("AWS_SECRET_ACCESS_KEY");
        ::unsetenv("DOCKER_HOST");
        ASSERT_TRUE(out) << out.error().to_string();
        EXPECT_TRUE(out->status.ok()) << out->err;
        const std::string env = test::read_file(seen);
        EXPECT_NE(env.find("DOCKER_HOST=unix:///run/test-docker.sock"), std::string::npos) << program;
        if (std::string(program) == "my-launcher") {
            EXPECT_NE(env.find("storage-secret-XYZZY"), std::string::npos) << "an unknown launcher may need AWS_*";
        } else {
            EXPECT_EQ(env.find("storage-secret-XYZZY"), std::string::npos) << program << " saw AWS_SECRET_ACCESS_KEY";
        }
    }
    EXPECT_EQ(command_environment({"/usr/bin/ssh", "host"}), ssh_environment());
    EXPECT_EQ(command_environment({"kubectl", "exec"}), kubectl_environment());
}
