// exclude_tables, exclude_schemas and exclude_table_data of a postgres target: lists of pg_dump patterns, an
// error at their line when they are not, and an error on any other engine.
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

const std::string k_pg = "targets:\n  app:\n    engine: postgres\n    url: postgres://u@db:5432/app\n";

} // namespace

TEST(PostgresExcludeConfig, ListsOfPatternsLoadIntoTheEnginesOptions)
{
    auto c = load_text(k_pg + "    exclude_tables: [audit_log, 'public.\"Big, Log\"']\n"
                              "    exclude_schemas:\n      - scratch\n      - 'tmp_*'\n"
                              "    exclude_table_data: [events]\n");
    ASSERT_TRUE(c) << c.error().message;
    const auto& pg = std::get<engine::PostgresOptions>(c->targets.at("app").engine);
    EXPECT_EQ(pg.exclude_tables, (std::vector<std::string>{"audit_log", "public.\"Big, Log\""}));
    EXPECT_EQ(pg.exclude_schemas, (std::vector<std::string>{"scratch", "tmp_*"}));
    EXPECT_EQ(pg.exclude_table_data, (std::vector<std::string>{"events"}));

    auto plain = load_text(k_pg);
    ASSERT_TRUE(plain);
    const auto& none = std::get<engine::PostgresOptions>(plain->targets.at("app").engine);
    EXPECT_TRUE(none.exclude_tables.empty() && none.exclude_schemas.empty() && none.exclude_table_data.empty());
}

TEST(PostgresExcludeConfig, ANonListOrAnEmptyPatternIsAnErrorAtItsLine)
{
    EXPECT_EQ(error_of(k_pg + "    exclude_tables: audit_log\n"),
              "t.yaml:5:21: 'exclude_tables' of target 'app' must be a list of pg_dump patterns ([audit.*, "
              "public.big_log]), found a scalar");
    EXPECT_EQ(error_of(k_pg + "    exclude_schemas: {a: b}\n"),
              "t.yaml:5:22: 'exclude_schemas' of target 'app' must be a list of pg_dump patterns ([audit.*, "
              "public.big_log]), found a mapping");
    EXPECT_EQ(error_of(k_pg + "    exclude_table_data: [events, '']\n"),
              "t.yaml:5:34: 'exclude_table_data' of target 'app' holds an empty pattern");
    EXPECT_NE(
        error_of(k_pg + "    exclude_tables: [[a]]\n").find("t.yaml:5:22: items of 'exclude_tables' must be strings"),
        std::string::npos);
}

TEST(PostgresExcludeConfig, OtherEnginesRefuseTheKeysAtTheirLine)
{
    EXPECT_EQ(error_of("targets:\n  cache:\n    engine: redis\n    url: redis://r:6379\n    exclude_tables: [a]\n"),
              "t.yaml:5:5: 'exclude_tables' of target 'cache' is for postgres targets only (pg_dump's patterns)");
    EXPECT_EQ(error_of("targets:\n  m:\n    engine: mysql\n    url: mysql://u@h:3306/db\n    exclude_schemas: [a]\n"),
              "t.yaml:5:5: 'exclude_schemas' of target 'm' is for postgres targets only (pg_dump's patterns)");
    EXPECT_EQ(error_of("targets:\n  f:\n    engine: sqlite\n    path: /d.db\n    exclude_table_data: [a]\n"),
              "t.yaml:5:5: 'exclude_table_data' of target 'f' is for postgres targets only (pg_dump's patterns)");
}
