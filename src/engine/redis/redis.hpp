// Redis: backup as a replica (PSYNC full resync, the RDB streamed and checked as it arrives) or from a BGSAVE file
// read through the runner; restore into a live server with pipelined RESTORE commands.
#pragma once

#include "core/secret.hpp"
#include "engine/engine.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace dbkeep::engine {

// How a Redis backup gets its RDB: as a replica (PSYNC full resync, nothing written on the server) or by
// BGSAVE and reading the file through the runner (for servers where PSYNC is renamed or forbidden).
enum class RedisDumpMode { replication, bgsave };

// "replication" / "bgsave", and back (nothing for another word).
const char* to_string(RedisDumpMode mode) noexcept;
std::optional<RedisDumpMode> parse_redis_dump_mode(std::string_view text) noexcept;

// A Redis target's connection, as the configuration gives it.
struct RedisOptions {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string username; // ACL user; empty: the default user
    Secret password;
    int db = 0;
    bool tls = false; // rediss://: refused by the factory (not supported yet)
    RedisDumpMode mode = RedisDumpMode::replication;
};

// The engine for target `target` (its name, for messages), running redis-cli and friends through runner,
// which must outlive the engine. Fails with ErrorKind::config for TLS, which is not supported yet.
Result<std::unique_ptr<Engine>> make_redis_engine(const std::string& target, const RedisOptions& options,
                                                  runner::Runner& runner);

// "# Server\r\nredis_version:7.0.15\r\n..." -> {"redis_version": "7.0.15", ...}. Pure, for tests.
std::map<std::string, std::string> parse_redis_info(std::string_view text);

// INFO keyspace -> {"db0": keys, ...}. Pure, for tests.
std::map<std::string, std::int64_t> parse_redis_keyspace(std::string_view text);

} // namespace dbkeep::engine
