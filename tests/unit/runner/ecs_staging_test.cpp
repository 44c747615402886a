// The ECS runner's staging folder is written by the container too: a symbolic link planted there is never
// followed (neither to read the dump nor to write a marker), and the stale-folder cleanup never writes or
// deletes through one. The launcher here is `env` (the "container" is this machine), so the whole staging
// protocol runs for real without ECS. The runner's own refusals and failures each carry the hint for their cause.
#include "runner/ecs.hpp"
#include "support/temp_dir.hpp"

#include <chrono>
#include <filesystem>
#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::runner;
namespace fs = std::filesystem;

TEST(EcsStaging, ADataFileReplacedByASymlinkIsNotFollowed)
{
    test::TempDir dir{"dbkeep-ecs-staging"};
    const fs::path shared = dir.path() / "efs";
    fs::create_directories(shared);
    const fs::path secret = dir.path() / "host-secret";
    test::write_file(secret, "HOST-ONLY-SECRET-CONTENT\n");
    auto runner = make_ecs_runner({.argv = {"env"},
                                   .shared_dir = shared.string(),
                                   .remote_shared_dir = shared.string(),
                                   .timeout = std::chrono::seconds(20)});
    // The "dump" swaps its own data file for a link to a host file, then lingers while dbkeep polls.
    const std::string hostile = "sleep 0.3; for d in '" + shared.string() + "'/dbkeep-*; do ln -s '" + secret.string() +
                                "' \"$d/link\" && mv -f \"$d/link\" \"$d/data\"; done; sleep 2";
    auto out = run_capture(*runner, {.argv = {"sh", "-c", hostile}});
    ASSERT_FALSE(out) << "read through the link: " << out->out;
    EXPECT_NE(out.error().message.find("symbolic link"), std::string::npos) << out.error().to_string();
    EXPECT_NE(out.error().hint.find("something other than dbkeep's staging script writes into the shared folder"),
              std::string::npos)
        << out.error().hint;
    EXPECT_EQ(out.error().to_string().find("HOST-ONLY-SECRET"), std::string::npos);
    EXPECT_EQ(test::read_file(secret), "HOST-ONLY-SECRET-CONTENT\n");
}

TEST(EcsStaging, StaleCleanupNeverWritesOrDeletesThroughASymlinkedFolder)
{
    test::TempDir dir{"dbkeep-ecs-stale"};
    const fs::path shared = dir.path() / "efs";
    const fs::path outside = dir.path() / "precious";
    fs::create_directories(shared);
    fs::create_directories(outside);
    test::write_file(outside / "keep.txt", "keep");
    fs::create_directory_symlink(outside, shared / "dbkeep-1-aaaaaa");
    const auto old = fs::file_time_type::clock::now() - std::chrono::hours(48);
    fs::last_write_time(outside, old);
    fs::last_write_time(outside / "keep.txt", old);
    fs::create_directories(shared / "dbkeep-2-bbbbbb");
    fs::last_write_time(shared / "dbkeep-2-bbbbbb", old);

    EXPECT_EQ(clean_stale_ecs_staging(shared.string(), std::chrono::hours(24)), 1u) << "only the real stale folder";
    EXPECT_FALSE(fs::exists(shared / "dbkeep-2-bbbbbb"));
    EXPECT_TRUE(fs::is_symlink(shared / "dbkeep-1-aaaaaa"));
    EXPECT_TRUE(fs::exists(outside / "keep.txt"));
    EXPECT_FALSE(fs::exists(outside / "cancel")) << "a marker was written through the link";
}

namespace {

// The staging protocol on this machine: the launcher is `env`, the shared folder a temp folder.
std::unique_ptr<Runner> local_ecs(const fs::path& shared, int timeout_seconds = 20)
{
    return make_ecs_runner({.argv = {"env"},
                            .shared_dir = shared.string(),
                            .remote_shared_dir = shared.string(),
                            .timeout = std::chrono::seconds(timeout_seconds)});
}

} // namespace

// A command that wrote part of its output and then went quiet (a stopped container, a killed process): the idle
// timeout ends the wait, and the hint sends the user to the container's logs and the timeout.
TEST(EcsStaging, ACommandThatGoesQuietPastTheTimeoutPointsAtTheLogsAndTheTimeout)
{
    test::TempDir dir{"dbkeep-ecs-idle"};
    const fs::path shared = dir.path() / "efs";
    fs::create_directories(shared);
    auto runner = local_ecs(shared, 1);
    auto out = run_capture(*runner, {.argv = {"sh", "-c", "printf partial; exec sleep 30"}});
    ASSERT_FALSE(out) << "finished: " << out->out;
    EXPECT_EQ(out.error().kind, ErrorKind::failed);
    EXPECT_NE(out.error().message.find("no new output and no status for 1 s"), std::string::npos)
        << out.error().to_string();
    EXPECT_NE(out.error().hint.find("see the container's logs; raise the runner's timeout"), std::string::npos)
        << out.error().hint;
}

// The shared folder gives back less than the command wrote (the data file was cut after dbkeep read it, as a
// volume that loses writes would): the status's byte count and SHA-256 disagree, a corruption error.
TEST(EcsStaging, DataThatTheSharedFolderLostIsACorruptionNamingTheVolume)
{
    test::TempDir dir{"dbkeep-ecs-lost"};
    const fs::path shared = dir.path() / "efs";
    fs::create_directories(shared);
    auto runner = local_ecs(shared);
    const std::string cut = "printf AAAAAAAAAAAAAAAA; sleep 1; truncate -s 2 '" + shared.string() + "'/dbkeep-*/data";
    auto out = run_capture(*runner, {.argv = {"sh", "-c", cut}});
    ASSERT_FALSE(out) << "accepted: " << out->out;
    EXPECT_EQ(out.error().kind, ErrorKind::corruption) << out.error().to_string();
    EXPECT_NE(out.error().message.find("but the command wrote 2 bytes"), std::string::npos) << out.error().to_string();
    EXPECT_NE(out.error().hint.find("the shared folder lost or changed data"), std::string::npos) << out.error().hint;
}

// A command that needs input (a restore) cannot run detached: refused before anything is launched.
TEST(EcsStaging, ACommandThatNeedsInputIsRefusedNamingTheRunnersThatCan)
{
    test::TempDir dir{"dbkeep-ecs-stdin"};
    auto runner = local_ecs(dir.path());
    auto p = runner->start({.argv = {"psql"}, .with_stdin = true});
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().kind, ErrorKind::config);
    EXPECT_NE(p.error().hint.find("restore through a docker, kubectl, ssh or local runner"), std::string::npos)
        << p.error().hint;
    EXPECT_TRUE(fs::is_empty(dir.path())) << "nothing staged";
}

TEST(EcsStaging, AMissingSharedFolderSaysToMountTheVolume)
{
    test::TempDir dir{"dbkeep-ecs-noshared"};
    auto runner = local_ecs(dir.path() / "efs-not-mounted");
    auto p = runner->start({.argv = {"true"}});
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().kind, ErrorKind::config);
    EXPECT_NE(p.error().message.find("not a folder here"), std::string::npos) << p.error().to_string();
    EXPECT_NE(p.error().hint.find("mount the volume shared with the container (EFS) and set the runner's shared_dir"),
              std::string::npos)
        << p.error().hint;
}

// The launcher fails as `aws ecs execute-command` does on a task started without ECS Exec: the error carries
// what it said, the hint the settings ECS Exec needs, and no staging folder is left behind.
TEST(EcsStaging, ALauncherThatFailsNamesWhatEcsExecNeeds)
{
    test::TempDir dir{"dbkeep-ecs-launcher"};
    const std::string said = "An error occurred (InvalidParameterException) when calling the ExecuteCommand "
                             "operation: The execute command failed because execute command was not enabled when "
                             "the task was run";
    auto runner = make_ecs_runner({.argv = {"sh", "-c", "echo '" + said + "' >&2; exit 255", "launcher"},
                                   .shared_dir = dir.path().string(),
                                   .timeout = std::chrono::seconds(20)});
    auto p = runner->start({.argv = {"true"}});
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().kind, ErrorKind::failed);
    EXPECT_NE(p.error().message.find("execute command was not enabled"), std::string::npos) << p.error().to_string();
    EXPECT_NE(p.error().hint.find("the task's enableExecuteCommand"), std::string::npos) << p.error().hint;
    EXPECT_TRUE(fs::is_empty(dir.path())) << "the staging folder was left behind";
}
