// The ECS runner's staging folder is written by the container too: a symbolic link planted there is never
// followed (neither to read the dump nor to write a marker), and the stale-folder cleanup never writes or
// deletes through one. The launcher here is `env` (the "container" is this machine), so the whole staging
// protocol runs for real without ECS.
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
