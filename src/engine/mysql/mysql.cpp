#include "engine/mysql/mysql.hpp"

#include "engine/mysql/dump.hpp"
#include "engine/mysql/restore.hpp"

namespace dbkeep::engine {
namespace {

class MysqlEngine final : public Engine {
public:
    MysqlEngine(mysql::Target target, runner::Runner& runner) : m_target(std::move(target)), m_runner(runner) {}

    std::string format() const override { return "sql"; }

    Result<DumpInfo> dump(stream::Sink& out) override { return mysql::dump_databases(m_runner, m_target, out); }

    Status restore(stream::Source& in, const RestoreOptions& options) override
    {
        return mysql::restore_dump(m_runner, m_target, in, options);
    }

    Status drop_scratch(const std::string& url, const std::string& password) override
    {
        return mysql::drop_scratch_database(m_runner, m_target, url, password);
    }

    Result<std::map<std::string, std::int64_t>> stats(const std::string& url, const std::string& password) override
    {
        return mysql::live_stats(m_runner, m_target, url, password);
    }

    std::vector<Finding> probe() override { return mysql::probe_target(m_runner, m_target); }

    Result<DumpInfo> inspect(stream::Source& dump) override { return mysql::inspect_dump(m_target, dump); }

private:
    const mysql::Target m_target;
    runner::Runner& m_runner;
};

} // namespace

Result<std::unique_ptr<Engine>> make_mysql_engine(const std::string& target, const std::string& url,
                                                  const MysqlOptions& options, runner::Runner& runner)
{
    if (options.database.empty() && options.databases.empty() && !options.all_databases) {
        return fail(ErrorKind::config, "open", target, "a mysql target names no database",
                    "give the database in the url (mysql://user@host:3306/db) or databases: all / [db1, db2]");
    }
    return std::make_unique<MysqlEngine>(mysql::Target{target, url, options}, runner);
}

} // namespace dbkeep::engine
