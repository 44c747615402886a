#include "engine/postgres/stats.hpp"

#include "core/cancel.hpp"
#include "core/url.hpp"

namespace dbkeep::engine::pg {
namespace {

// Tables whose rows we count: ordinary tables outside the system schemas (partitions are counted as
// themselves; partitioned parents hold no rows of their own).
constexpr const char* k_tables_sql =
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' "
    "ORDER BY 1, 2";

std::string table_key(const std::string& schema, const std::string& table)
{
    return schema + "." + table;
}

} // namespace

Result<std::map<std::string, std::int64_t>> count_rows(Connection& conn)
{
    auto tables = conn.query(k_tables_sql);
    if (!tables) {
        return std::unexpected(tables.error());
    }
    std::map<std::string, std::int64_t> stats;
    for (const auto& row : *tables) {
        if (cancel::requested()) {
            return fail_cancelled("count rows", "");
        }
        auto r = conn.query("SELECT count(*) FROM " + quote_ident(row[0]) + "." + quote_ident(row[1]));
        if (!r) {
            return std::unexpected(r.error());
        }
        stats[table_key(row[0], row[1])] = std::stoll((*r)[0][0]);
    }
    return stats;
}

Result<std::map<std::string, std::int64_t>> database_stats(runner::Runner& runner, const Target& target,
                                                           const std::string& to_url, const std::string& password)
{
    auto url = parse_url(to_url);
    if (!url) {
        return fail(ErrorKind::config, "read statistics", redact_url(to_url), "not a PostgreSQL URL");
    }
    auto params = connect_params(target, url->host, url->port, url->user, url->path,
                                 url->password.empty() ? password : url->password);
    params.what = redact_url(to_url);
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
