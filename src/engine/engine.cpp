#include "engine/engine.hpp"

#include "config/config.hpp"
#include "engine/postgres.hpp"
#include "engine/redis.hpp"

namespace dbkeep::engine {

Result<std::unique_ptr<Engine>> make_engine(const config::TargetConfig& target, runner::Runner& runner)
{
    if (target.engine == "postgres") {
        return make_postgres_engine(target, runner);
    }
    if (target.engine == "redis") {
        return make_redis_engine(target, runner);
    }
    return fail(ErrorKind::config, "open engine for", target.name,
                "engine '" + target.engine + "' is not supported yet");
}

} // namespace dbkeep::engine
