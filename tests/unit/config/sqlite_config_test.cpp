// `engine: sqlite` targets in the configuration: the path (absolute, where the runner runs), temp_dir, and the
// server keys a file has no use for.
#include "catalog/naming.hpp"
#include "config/config.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::config;

namespace {

Result<Config> load_text(const std::string& yaml)
{
    return load_from_string(yaml, "t.yaml", "/etc/dbkeep");
}

std::string error_of(const std::string& yaml)
{
    auto c = load_text(yaml);
    if (c) {
        return "<loaded>";
    }
    EXPECT_EQ(c.error().kind, ErrorKind::config);
    return c.error().message;
}

const std::string k_target = "targets:\n  app:\n    engine: sqlite\n";

} // namespace

TEST(SqliteConfig, PathAndTempDirLoadIntoTheEnginesOptions)
{
    auto c = load_text(k_target + "    path: /data/app.db\n    temp_dir: staging\n");
    ASSERT_TRUE(c) << c.error().message;
    const auto& t = c->targets.at("app");
    EXPECT_EQ(t.engine_name(), "sqlite");
    const auto& o = std::get<engine::SqliteOptions>(t.engine);
    EXPECT_EQ(o.path, "/data/app.db");
    EXPECT_EQ(o.temp_dir, "/etc/dbkeep/staging") << "temp_dir is relative to the file, like other local paths";
    EXPECT_EQ(t.url, "/data/app.db");
    EXPECT_EQ(catalog::dump_format("sqlite"), "sqlite");
}

TEST(SqliteConfig, PathIsRequiredAndAbsolute)
{
    EXPECT_EQ(error_of(k_target), "t.yaml:3:5: target 'app' needs 'path'");
    EXPECT_EQ(error_of(k_target + "    path: data/app.db\n"),
              "t.yaml:4:11: 'path' of target 'app' must be the absolute path of the database file (/data/app.db), "
              "on the machine where its runner runs");
}

TEST(SqliteConfig, ServerKeysAreUnknownForAFile)
{
    EXPECT_NE(error_of(k_target + "    path: /data/app.db\n    url: sqlite:///data/app.db\n").find("'url'"),
              std::string::npos);
    EXPECT_NE(error_of(k_target + "    path: /data/app.db\n    password: x\n").find("'password'"), std::string::npos);
}

TEST(SqliteConfig, AnUnknownEngineNamesSqliteAmongTheChoices)
{
    EXPECT_NE(error_of("targets:\n  app:\n    engine: sqlite3\n").find("(expected postgres, redis, mysql or sqlite)"),
              std::string::npos);
}
