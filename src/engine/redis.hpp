// Redis: backup as a replica (PSYNC full resync, the RDB streamed and checked as it arrives) or from a BGSAVE file
// read through the runner; restore into a live server with pipelined RESTORE commands.
#pragma once

#include "engine/engine.hpp"

#include <map>
#include <string>
#include <string_view>

namespace dbkeep::engine {

Result<std::unique_ptr<Engine>> make_redis_engine(const config::TargetConfig& target, runner::Runner& runner);

// "# Server\r\nredis_version:7.0.15\r\n..." -> {"redis_version": "7.0.15", ...}. Pure, for tests.
std::map<std::string, std::string> parse_redis_info(std::string_view text);

// INFO keyspace -> {"db0": keys, ...}. Pure, for tests.
std::map<std::string, std::int64_t> parse_redis_keyspace(std::string_view text);

} // namespace dbkeep::engine
