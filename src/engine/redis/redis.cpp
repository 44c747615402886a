#include "engine/redis/redis.hpp"

#include "engine/redis/dump.hpp"
#include "engine/redis/payload.hpp"
#include "engine/redis/probe.hpp"
#include "engine/redis/restore.hpp"
#include "engine/redis/server.hpp"
#include "observe/log.hpp"
#include "runner/runner.hpp"

namespace dbkeep::engine {
namespace {

class RedisEngine final : public Engine {
public:
    RedisEngine(std::string target, const RedisOptions& options, runner::Runner& runner)
        : m_target(std::move(target)),
          m_runner(runner), m_endpoint{options.host, options.port, options.username, options.password},
          m_strategy(redis::make_dump_strategy(options.mode, runner, m_endpoint, m_target))
    {
    }

    std::string format() const override { return "rdb"; }

    Result<DumpInfo> dump(stream::Sink& out) override
    {
        DumpInfo info;
        info.tool_version = DBKEEP_VERSION;
        auto session = redis::open_session(m_runner, m_endpoint);
        if (!session) {
            return std::unexpected(session.error());
        }
        // INFO may be denied to a narrow backup user: the version then comes from the RDB's aux fields. Through
        // the runner it is the first contact, and a failure to reach the server at all ends the dump.
        if (auto s = redis::info_section(*session->server, "server"); s) {
            info.server_version = (*s)["redis_version"];
        } else if (!session->connection &&
                   (s.error().kind == ErrorKind::auth || s.error().kind == ErrorKind::transient ||
                    s.error().kind == ErrorKind::not_found)) {
            return std::unexpected(s.error());
        }
        // The memory the source's keys take, for restore's maxmemory check; a user without INFO goes without.
        if (auto m = redis::info_section(*session->server, "memory"); m) {
            for (const char* field : {"used_memory", "used_memory_startup", "mem_not_counted_for_evict"}) {
                if (auto v = redis::info_int(*m, field); v >= 0) {
                    info.details[field] = std::to_string(v);
                }
            }
        }
        // A replica whose master link is down holds data of unknown age: recorded, and warned about.
        if (auto repl = redis::info_section(*session->server, "replication"); repl && (*repl)["role"] == "slave") {
            const std::string master = (*repl)["master_host"] + ":" + (*repl)["master_port"];
            info.details["replica_of"] = master;
            info.details["master_link_status"] = (*repl)["master_link_status"];
            if ((*repl)["master_link_status"] != "up") {
                const std::int64_t since = redis::info_int(*repl, "master_link_down_since_seconds");
                if (since >= 0) {
                    info.details["master_link_down_since_seconds"] = std::to_string(since);
                }
                observe::warn("backing up a replica whose master link is down: its data may be stale",
                              {{"target", m_target},
                               {"master", master},
                               {"down_for_seconds", since >= 0 ? std::to_string(since) : std::string("?")}});
            }
        }
        info.tool = m_strategy->tool();
        if (auto st = m_strategy->dump(*session, out, info); !st) {
            return std::unexpected(st.error());
        }
        return info;
    }

    Result<DumpInfo> inspect(stream::Source& dump) override
    {
        auto info = redis::inspect_rdb(dump);
        if (info) {
            // The RDB does not say how it was taken: the tool is the one this target is configured with now.
            info->tool = m_strategy->tool();
        }
        return info;
    }

    Result<Contents> contents(stream::Source& object, bool part,
                              const std::map<std::string, std::string>& /*details*/) override
    {
        Contents out;
        if (part) {
            return out; // an RDB backup has no parts
        }
        std::map<std::string, std::int64_t> types;
        auto info = redis::inspect_rdb(object, &types);
        if (!info) {
            return std::unexpected(info.error());
        }
        out.kind = "rdb";
        out.facts = std::move(info->details);
        out.counts = std::move(info->stats);
        out.columns = {"type", "keys"};
        for (const auto& [type, keys] : types) {
            out.entries.push_back({type, std::to_string(keys)});
        }
        return out;
    }

    Status restore(stream::Source& in, const RestoreOptions& options) override
    {
        auto ep = redis::endpoint_from_url(options.to_url, options.password, "restore " + m_target + " to");
        if (!ep) {
            return std::unexpected(ep.error());
        }
        return redis::restore_rdb(m_runner, *ep, in, options);
    }

    Result<std::map<std::string, std::int64_t>> stats(const std::string& url, const std::string& password) override
    {
        auto ep = redis::endpoint_from_url(url, password, "count keys of");
        if (!ep) {
            return std::unexpected(ep.error());
        }
        auto session = redis::open_session(m_runner, *ep);
        if (!session) {
            return std::unexpected(session.error());
        }
        redis::Server& server = *session->server;
        auto r = server.command({"INFO", "keyspace"});
        if (!r) {
            return std::unexpected(r.error());
        }
        if (r->is_error()) {
            return std::unexpected(redis::error_reply(*r, "run INFO keyspace on", server.endpoint()).error());
        }
        return parse_redis_keyspace(r->text);
    }

    std::vector<Finding> probe() override { return redis::probe_redis(m_runner, m_endpoint, *m_strategy); }

private:
    const std::string m_target;
    runner::Runner& m_runner;
    const redis::Endpoint m_endpoint;
    const std::unique_ptr<redis::DumpStrategy> m_strategy;
};

} // namespace

const char* to_string(RedisDumpMode mode) noexcept
{
    return mode == RedisDumpMode::bgsave ? "bgsave" : "replication";
}

std::optional<RedisDumpMode> parse_redis_dump_mode(std::string_view text) noexcept
{
    if (text == "replication") {
        return RedisDumpMode::replication;
    }
    if (text == "bgsave") {
        return RedisDumpMode::bgsave;
    }
    return std::nullopt;
}

Result<std::unique_ptr<Engine>> make_redis_engine(const std::string& target, const RedisOptions& options,
                                                  runner::Runner& runner)
{
    if (options.tls) {
        return fail(ErrorKind::config, "open redis engine for", target, "rediss:// (TLS) is not supported yet");
    }
    return std::make_unique<RedisEngine>(target, options, runner);
}

} // namespace dbkeep::engine
