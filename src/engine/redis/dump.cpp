#include "engine/redis/dump.hpp"

namespace dbkeep::engine::redis {

std::unique_ptr<DumpStrategy> make_dump_strategy(RedisDumpMode mode, runner::Runner& runner, Endpoint endpoint,
                                                 std::string target)
{
    if (mode == RedisDumpMode::bgsave) {
        return make_bgsave_dump(runner);
    }
    if (runner.local()) {
        return make_psync_dump();
    }
    return make_cli_rdb_dump(runner, std::move(endpoint), std::move(target));
}

} // namespace dbkeep::engine::redis
