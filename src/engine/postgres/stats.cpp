#include "engine/postgres/stats.hpp"

#include "core/cancel.hpp"
#include "core/url.hpp"

#include <cstdlib>

namespace dbkeep::engine::pg {
namespace {

// Tables whose rows we count: ordinary tables outside the system schemas and not part of an extension
// (partitions are counted as themselves; partitioned parents hold no rows of their own). These are the tables
// whose data a dump records in full.
constexpr const char* k_tables_sql =
    "SELECT n.nspname, c.relname, c.oid::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
    "AND d.deptype = 'e') "
    "ORDER BY 1, 2";

// The rows of the table with this oid, counted on the server: the table's name never makes a round trip
// through the client, where names that are not UTF-8 (a SQL_ASCII database) arrive escaped.
std::string count_sql(const std::string& oid)
{
    return "SELECT (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %s', " + oid +
           "::oid::regclass), false, true, '')))[1]::text";
}

std::string table_key(const std::string& schema, const std::string& table)
{
    return schema + "." + table;
}

} // namespace

Result<std::map<std::string, std::int64_t>> count_rows(Connection& conn, const std::atomic<bool>* stop)
{
    auto tables = conn.query(k_tables_sql);
    if (!tables) {
        return std::unexpected(tables.error());
    }
    std::map<std::string, std::int64_t> stats;
    for (const auto& row : *tables) {
        if (cancel::requested() || (stop != nullptr && stop->load())) {
            return fail_cancelled("count rows", "");
        }
        if (row.size() < 3 || row[2].find_first_not_of("0123456789") != std::string::npos) {
            return fail(ErrorKind::failed, "count rows", "", "unexpected answer listing the tables");
        }
        auto r = conn.query(count_sql(row[2]));
        if (!r) {
            if (cancel::requested() || (stop != nullptr && stop->load())) {
                return fail_cancelled("count rows", "");
            }
            return wrap(r.error(), "count rows of table " + table_key(row[0], row[1]));
        }
        if (r->empty() || r->front().empty()) {
            return fail(ErrorKind::failed, "count rows of", table_key(row[0], row[1]), "the server returned no count");
        }
        stats[table_key(row[0], row[1])] = std::strtoll((*r)[0][0].c_str(), nullptr, 10);
    }
    return stats;
}

Result<std::map<std::string, std::int64_t>> database_stats(runner::Runner& runner, const Target& target,
                                                           const std::string& to_url, const std::string& password)
{
    auto to = url_params(target, to_url, password);
    if (!to) {
        return std::unexpected(to.error());
    }
    const auto& params = *to;
    auto conn = open_session(runner, target, params);
    if (!conn) {
        return std::unexpected(conn.error());
    }
    if (auto st = (*conn)->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !st) {
        return std::unexpected(st.error());
    }
    return count_rows(**conn);
}

} // namespace dbkeep::engine::pg
