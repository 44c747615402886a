#include "engine/redis/probe.hpp"

namespace dbkeep::engine::redis {

std::vector<Finding> probe_redis(runner::Runner& runner, const Endpoint& ep, DumpStrategy& strategy)
{
    std::vector<Finding> out;
    std::string where = ep.host + ":" + std::to_string(ep.port);
    auto session = open_session(runner, ep);
    if (!session) {
        const auto& e = session.error();
        out.push_back(failed("redis.connect", e.message,
                             e.kind == ErrorKind::auth ? "check the username and password of the target"
                                                       : "check host and port, that redis is running, and firewalls"));
        return out;
    }
    Server& srv = *session->server;
    if (!runner.local()) {
        where = srv.endpoint();
    }
    auto server = info_section(srv, "server");
    if (!server && !runner.local()) {
        const auto& e = server.error();
        out.push_back(
            failed("redis.connect", e.message, e.hint.empty() ? "check host and port, and that redis runs" : e.hint));
        return out;
    }
    out.push_back(pass("redis.connect", "connected to Redis " +
                                            (server ? (*server)["redis_version"] : std::string("?")) + " at " + where));
    auto more = strategy.probe(srv);
    out.insert(out.end(), more.begin(), more.end());
    return out;
}

} // namespace dbkeep::engine::redis
