#include "engine/redis/probe.hpp"

#include "engine/redis/rdb.hpp"
#include "engine/redis/restore.hpp"

namespace dbkeep::engine::redis {

Finding probe_rdb_version(const std::string& redis_version)
{
    auto rdb_version = max_rdb_version_loaded_by(redis_version);
    if (!rdb_version) {
        return warn("redis.rdb_version",
                    "Redis " + redis_version + " is newer than the versions dbkeep knows: its rdb version is unknown",
                    "run a backup to see whether dbkeep reads its rdb, or use a dbkeep release that knows this "
                    "Redis version");
    }
    const std::string v = std::to_string(*rdb_version);
    if (*rdb_version > rdb::k_max_rdb_version) {
        return failed("redis.rdb_version",
                      "Redis " + redis_version + " writes rdb version " + v +
                          "; this dbkeep reads rdb versions up to " + std::to_string(rdb::k_max_rdb_version),
                      "use a dbkeep release that reads rdb version " + v);
    }
    return pass("redis.rdb_version", "Redis " + redis_version + " writes rdb version " + v +
                                         ", which dbkeep reads; a restore needs Redis " +
                                         oldest_redis_loading(*rdb_version) + " or newer");
}

std::optional<Finding> probe_master_link(Server& server, bool replicates)
{
    auto repl = info_section(server, "replication");
    if (!repl || (*repl)["role"] != "slave") {
        return std::nullopt;
    }
    const std::string master = (*repl)["master_host"] + ":" + (*repl)["master_port"];
    if ((*repl)["master_link_status"] == "up") {
        return pass("redis.replica", "a replica of " + master + " with its master link up");
    }
    const std::int64_t since = info_int(*repl, "master_link_down_since_seconds");
    const std::string down = "this server is a replica of " + master + " whose master link is down" +
                             (since >= 0 ? " (for " + std::to_string(since) + " s)" : std::string());
    if (replicates) {
        return failed("redis.replica", down + ": it refuses to serve a sync (NOMASTERLINK), so a backup fails",
                      "back up the master, or repair the replication link (INFO replication on the replica, and "
                      "its log)");
    }
    return warn("redis.replica", down + ": a backup copies its possibly stale data (the manifest records it)",
                "back up the master, or repair the replication link (INFO replication on the replica, and its "
                "log)");
}

std::vector<Finding> probe_redis(runner::Runner& runner, const Endpoint& ep, DumpStrategy& strategy)
{
    std::vector<Finding> out;
    std::string where = ep.host + ":" + std::to_string(ep.port);
    auto session = open_session(runner, ep);
    if (!session) {
        const auto& e = session.error();
        // The error's own hint names its cause; else one that fits the kind, or none.
        out.push_back(failed("redis.connect", e.message,
                             !e.hint.empty() ? e.hint
                             : e.kind == ErrorKind::transient
                                 ? "check host and port, that redis is running, and firewalls"
                                 : std::string()));
        return out;
    }
    Server& srv = *session->server;
    if (!runner.local()) {
        where = srv.endpoint();
    }
    auto server = info_section(srv, "server");
    if (!server && !runner.local()) {
        const auto& e = server.error();
        out.push_back(failed("redis.connect", e.message,
                             !e.hint.empty()                  ? e.hint
                             : e.kind == ErrorKind::transient ? "check host and port, and that redis runs"
                                                              : std::string()));
        return out;
    }
    out.push_back(pass("redis.connect", "connected to Redis " +
                                            (server ? (*server)["redis_version"] : std::string("?")) + " at " + where));
    auto more = strategy.probe(srv);
    out.insert(out.end(), more.begin(), more.end());
    if (server) {
        out.push_back(probe_rdb_version((*server)["redis_version"]));
    }
    if (auto link = probe_master_link(srv, std::string_view(strategy.tool()) != "redis-bgsave")) {
        out.push_back(*link);
    }
    return out;
}

} // namespace dbkeep::engine::redis
