// Every engine's options, joined: what a target's `engine:` key selects. job/open builds the engine from
// this with std::visit; adding an engine is one alternative here, one branch in the config loader and one
// line in job/open.
#pragma once

#include "engine/mysql/mysql.hpp"
#include "engine/postgres/postgres.hpp"
#include "engine/redis/redis.hpp"
#include "engine/sqlite/sqlite.hpp"

#include <string>
#include <variant>

namespace dbkeep::engine {

using EngineOptions = std::variant<PostgresOptions, RedisOptions, SqliteOptions, MysqlOptions>;

// The engine's name as manifests and messages write it: "postgres", "redis".
inline std::string engine_name(const EngineOptions& options)
{
    struct Name {
        const char* operator()(const PostgresOptions&) const noexcept { return "postgres"; }
        const char* operator()(const RedisOptions&) const noexcept { return "redis"; }
        const char* operator()(const SqliteOptions&) const noexcept { return "sqlite"; }
        const char* operator()(const MysqlOptions&) const noexcept { return "mysql"; }
    };
    return std::visit(Name{}, options);
}

} // namespace dbkeep::engine
