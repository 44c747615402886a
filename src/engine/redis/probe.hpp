// `dbkeep check` for a Redis target: can we reach and log in to the server, and may the user dump it the
// way the target is configured to.
#pragma once

#include "core/finding.hpp"
#include "engine/redis/dump.hpp"
#include "engine/redis/server.hpp"
#include "runner/runner.hpp"

#include <vector>

namespace dbkeep::engine::redis {

// One finding for the connection ("redis.connect"), then the dump strategy's own findings when connected.
// Never fails: problems are findings. The runner must outlive the call.
std::vector<Finding> probe_redis(runner::Runner& runner, const Endpoint& ep, DumpStrategy& strategy);

} // namespace dbkeep::engine::redis
