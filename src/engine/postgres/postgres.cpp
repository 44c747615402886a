#include "engine/postgres/postgres.hpp"

#include "engine/postgres/dump.hpp"
#include "engine/postgres/parallel.hpp"
#include "engine/postgres/probe.hpp"
#include "engine/postgres/restore.hpp"
#include "engine/postgres/server.hpp"
#include "engine/postgres/session.hpp"
#include "engine/postgres/stats.hpp"

namespace dbkeep::engine {
namespace {

class PostgresEngine final : public Engine {
public:
    PostgresEngine(pg::Target target, runner::Runner& runner) : m_target(std::move(target)), m_runner(runner) {}

    // A whole server's data object is the globals' SQL (pg_dumpall); its databases' archives are its parts.
    std::string format() const override { return pg::is_server_target(m_target.postgres) ? "sql" : "pgdump"; }

    Result<DumpInfo> dump(stream::Sink& out) override
    {
        if (pg::is_server_target(m_target.postgres)) {
            return fail(ErrorKind::failed, "back up", m_target.name, "a whole-server backup is written in parts");
        }
        return pg::dump_database(m_runner, m_target, out);
    }

    Result<DumpInfo> dump_parts(stream::Sink& out, PartWriter& parts) override
    {
        if (pg::is_server_target(m_target.postgres)) {
            return pg::dump_server(m_runner, m_target, out, parts);
        }
        return pg::dump_parallel(m_runner, m_target, out, parts);
    }

    Result<DumpInfo> inspect(stream::Source& dump) override { return pg::inspect_archive(dump, m_target.postgres); }

    Result<Contents> contents(stream::Source& object, bool /*part*/,
                              const std::map<std::string, std::string>& details) override
    {
        return pg::object_contents(object, details);
    }

    Status restore(stream::Source& in, const RestoreOptions& options) override
    {
        if (auto it = options.details.find("layout"); it != options.details.end() && it->second == "server") {
            return pg::restore_server(m_runner, m_target, in, options);
        }
        if (!options.database.empty() || options.globals_only) {
            return fail(ErrorKind::config, "restore", m_target.name,
                        "--database and --globals restore part of a whole-server backup, and this backup is of "
                        "one database");
        }
        return pg::restore_database(m_runner, m_target, in, options);
    }

    Status drop_scratch(const std::string& url, const std::string& password) override
    {
        return pg::drop_scratch_database(m_runner, m_target, url, password);
    }

    Result<std::map<std::string, std::int64_t>> stats(const std::string& to_url, const std::string& password) override
    {
        return pg::database_stats(m_runner, m_target, to_url, password);
    }

    std::vector<Finding> probe() override { return pg::probe_target(m_runner, m_target); }

private:
    const pg::Target m_target;
    runner::Runner& m_runner;
};

} // namespace

Result<std::unique_ptr<Engine>> make_postgres_engine(const std::string& target, const std::string& url,
                                                     const PostgresOptions& options, runner::Runner& runner)
{
    return std::make_unique<PostgresEngine>(pg::Target{target, url, options}, runner);
}

} // namespace dbkeep::engine
