// Redis restore: the RDB read from a source and replayed into a live server as pipelined RESTORE (and
// FUNCTION LOAD) commands, over RESP from here or through `redis-cli --pipe` where the runner runs.
#pragma once

#include "core/error.hpp"
#include "engine/redis/server.hpp"
#include "runner/runner.hpp"
#include "stream/sink.hpp"

namespace dbkeep::engine::redis {

// Restores the RDB read from `in` into the server at ep, reached as the runner (which must outlive the call)
// reaches it; with `flush`, FLUSHALL first. Keys already expired are skipped; existing keys are replaced.
// Fails on the first refused command (ErrorKind::auth for NOPERM, a hint when the destination is older than
// the RDB), on a truncated or corrupt RDB, or when cancelled; what was restored before stays.
Status restore_rdb(runner::Runner& runner, const Endpoint& ep, stream::Source& in, bool flush);

} // namespace dbkeep::engine::redis
