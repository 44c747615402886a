// `dbkeep check` for a Redis target: can we reach and log in to the server, and may the user dump it the
// way the target is configured to.
#pragma once

#include "core/finding.hpp"
#include "engine/redis/dump.hpp"
#include "engine/redis/server.hpp"
#include "runner/runner.hpp"

#include <optional>
#include <string>
#include <vector>

namespace dbkeep::engine::redis {

// One finding for the connection ("redis.connect"), then the dump strategy's own findings when connected, the
// rdb version the server writes ("redis.rdb_version", when INFO server answers) and, for a replica, its master
// link ("redis.replica"). Never fails: problems are findings. The runner must outlive the call.
std::vector<Finding> probe_redis(runner::Runner& runner, const Endpoint& ep, DumpStrategy& strategy);

// "redis.rdb_version": the rdb version a Redis of this version writes, passing when dbkeep reads it, failing when
// it is newer than dbkeep reads, warning when the Redis version is unknown. Pure, for tests.
Finding probe_rdb_version(const std::string& redis_version);

// "redis.replica" for a replica (nothing for a master or when INFO replication is denied): passes with its
// master link up; with the link down, fails when `replicates` (such a replica refuses to serve a sync) and
// warns otherwise (a bgsave backup copies the stale data).
std::optional<Finding> probe_master_link(Server& server, bool replicates);

} // namespace dbkeep::engine::redis
