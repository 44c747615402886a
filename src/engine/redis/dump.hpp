// How a Redis dump gets its RDB from the server, chosen once per engine from the target's mode and where its
// runner runs: PSYNC over our own connection, `redis-cli --rdb` through the runner, or BGSAVE and the file.
#pragma once

#include "core/error.hpp"
#include "core/finding.hpp"
#include "engine/engine.hpp"
#include "engine/redis/redis.hpp"
#include "engine/redis/server.hpp"
#include "runner/runner.hpp"
#include "stream/sink.hpp"

#include <memory>
#include <string>
#include <vector>

namespace dbkeep::engine::redis {

class DumpStrategy {
public:
    virtual ~DumpStrategy() = default;

    // The dump tool the manifest records: "redis-replication", "redis-cli --rdb", "redis-bgsave".
    virtual const char* tool() const = 0;

    // Streams the server's RDB into out, checked as it streams, and records what it learnt in info.
    // `session` is open_session's for the target's endpoint. Fails (nothing committed by this) when the
    // server refuses, the stream breaks, or the RDB is truncated, corrupt or followed by other data.
    virtual Status dump(Session& session, stream::Sink& out, DumpInfo& info) = 0;

    // What `check` says of this way of dumping on server: whether the user may do it.
    virtual std::vector<Finding> probe(Server& server) = 0;
};

// The strategy for `mode`, where the runner (which must outlive it) runs; `target` names the target in
// messages. Replication is PSYNC over a direct connection when the runner is local, redis-cli --rdb otherwise.
std::unique_ptr<DumpStrategy> make_dump_strategy(RedisDumpMode mode, runner::Runner& runner, Endpoint endpoint,
                                                 std::string target);

// The strategies, for make_dump_strategy.
std::unique_ptr<DumpStrategy> make_psync_dump();
std::unique_ptr<DumpStrategy> make_cli_rdb_dump(runner::Runner& runner, Endpoint endpoint, std::string target);
std::unique_ptr<DumpStrategy> make_bgsave_dump(runner::Runner& runner);

} // namespace dbkeep::engine::redis
