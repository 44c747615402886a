#include "engine/mysql/restore.hpp"

#include "core/cancel.hpp"
#include "observe/log.hpp"

#include <cstdlib>
#include <thread>

namespace dbkeep::engine::mysql {
namespace {

constexpr std::size_t k_chunk = 1 << 20;

std::vector<std::string> split(const std::string& text, char sep)
{
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= text.size() && !text.empty()) {
        auto next = text.find(sep, pos);
        out.push_back(text.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
        if (next == std::string::npos) {
            break;
        }
        pos = next + 1;
    }
    return out;
}

std::string detail(const RestoreOptions& o, const std::string& key)
{
    auto it = o.details.find(key);
    return it == o.details.end() ? "" : it->second;
}

struct DatabaseState {
    bool exists = false;
    bool busy = false;   // holds tables, routines or events (the scratch marker aside)
    bool marked = false; // holds the scratch marker
};

// What each of `dbs` holds on the server of `admin`.
Result<std::map<std::string, DatabaseState>> database_states(runner::Runner& runner, const std::string& client,
                                                             const Endpoint& admin, const std::vector<std::string>& dbs)
{
    std::string in;
    for (const auto& d : dbs) {
        in += (in.empty() ? "" : ",") + quote_string(d);
    }
    const std::string marker = quote_string(k_scratch_table);
    auto rows = query(
        runner, client, admin,
        "SELECT HEX(s.SCHEMA_NAME), (SELECT COUNT(*) FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = "
        "s.SCHEMA_NAME AND t.TABLE_NAME <> " +
            marker +
            ") + (SELECT COUNT(*) FROM information_schema.ROUTINES r WHERE r.ROUTINE_SCHEMA = s.SCHEMA_NAME) + (SELECT "
            "COUNT(*) FROM information_schema.EVENTS e WHERE e.EVENT_SCHEMA = s.SCHEMA_NAME), (SELECT COUNT(*) FROM "
            "information_schema.TABLES t WHERE t.TABLE_SCHEMA = s.SCHEMA_NAME AND t.TABLE_NAME = " +
            marker + ") FROM information_schema.SCHEMATA s WHERE s.SCHEMA_NAME IN (" + in + ")");
    if (!rows) {
        return std::unexpected(rows.error());
    }
    std::map<std::string, DatabaseState> out;
    for (const auto& d : dbs) {
        out[d] = {};
    }
    for (const auto& r : *rows) {
        if (r.size() >= 3) {
            out[unhex(r[0])] = DatabaseState{true, r[1] != "0", r[2] != "0"};
        }
    }
    return out;
}

// The mariadb client fed `in`, at `endpoint` (its database the default one).
Status run_client(runner::Runner& runner, const std::string& client, const Endpoint& endpoint, stream::Source& in)
{
    auto cmd = tool_command(client, endpoint);
    cmd.argv.insert(cmd.argv.end(), {"--batch", "--default-character-set=utf8mb4", "--connect-timeout=10"});
    if (!endpoint.database.empty()) {
        cmd.argv.push_back("--database=" + endpoint.database);
    }
    cmd.with_stdin = true;
    auto proc = runner.start(cmd);
    if (!proc) {
        return std::unexpected(proc.error());
    }
    std::thread drain([&] {
        std::uint8_t buf[4096];
        for (;;) {
            auto n = (*proc)->out().read(buf);
            if (!n || *n == 0) {
                break;
            }
        }
    });
    Status feed;
    std::vector<std::uint8_t> buf(k_chunk);
    for (;;) {
        auto n = in.read(buf);
        if (!n) {
            feed = std::unexpected(n.error());
            break;
        }
        if (*n == 0) {
            break;
        }
        if (auto st = (*proc)->in()->write(Bytes(buf.data(), *n)); !st) {
            feed = st;
            break;
        }
    }
    if (feed) {
        feed = (*proc)->in()->finish();
    } else {
        (*proc)->in()->abort();
        if (feed.error().kind != ErrorKind::failed) {
            (*proc)->kill(); // corrupt input or cancelled: the client must not run what is left
        }
    }
    auto status = (*proc)->wait();
    drain.join();
    if (!status) {
        return std::unexpected(status.error());
    }
    if (!status->ok()) {
        // The client's own words say more than a broken pipe.
        if (!feed && feed.error().kind != ErrorKind::failed) {
            return feed;
        }
        return std::unexpected(
            tool_error("load the dump into", endpoint.what, client, *status, (*proc)->error_output()));
    }
    return feed;
}

} // namespace

Status restore_dump(runner::Runner& runner, const Target& target, stream::Source& in, const RestoreOptions& options)
{
    auto to = parse_endpoint(options.to_url, options.password);
    if (!to) {
        return std::unexpected(to.error());
    }
    const bool single = detail(options, "layout") != "databases";
    std::vector<std::string> dbs;
    if (single) {
        if (to->database.empty()) {
            return fail(ErrorKind::config, "restore", target.name,
                        "--to must name the database to restore into, e.g. mysql://user@host:3306/newdb");
        }
        dbs = {to->database};
    } else {
        if (!to->database.empty()) {
            return fail(ErrorKind::config, "restore", target.name,
                        "this backup holds the databases " + detail(options, "databases") +
                            ", each restored under its own name: give --to a server URL without a database, e.g. "
                            "mysql://user@host:3306");
        }
        if (options.scratch) {
            return fail(ErrorKind::config, "test-restore", target.name,
                        "a backup of several databases restores under their own names, so it has no scratch "
                        "database",
                        "back up each database as its own target (url: mysql://user@host/db) to test-restore it "
                        "with verify --restore");
        }
        dbs = split(detail(options, "databases"), ',');
        if (dbs.empty()) {
            return fail(ErrorKind::config, "restore", target.name, "the manifest names no databases");
        }
    }
    auto client = find_tool(runner, target, false);
    if (!client) {
        return std::unexpected(client.error());
    }
    Endpoint admin = *to;
    admin.database.clear();
    auto states = database_states(runner, client->path, admin, dbs);
    if (!states) {
        return std::unexpected(states.error());
    }
    std::vector<std::string> create, recreate;
    for (const auto& d : dbs) {
        const auto& st = (*states)[d];
        const std::string what = "mysql://" + (to->host.empty() ? "localhost" : to->host) + "/" + d;
        if (!st.exists) {
            create.push_back(d);
        } else if (st.marked && options.scratch) {
            recreate.push_back(d);
        } else if (st.busy && options.scratch) {
            return fail(ErrorKind::config, "test-restore into", what,
                        "the scratch database holds objects and was not made by dbkeep verify",
                        "drop it or name another --to: verify --restore makes its scratch database afresh each "
                        "time and drops it afterwards");
        } else if (st.busy && !options.clean) {
            return fail(ErrorKind::config, "restore into", what,
                        "the database already holds tables, routines or events, and restoring over them would mix "
                        "two states",
                        "restore into a new database (it is created like the source's), or add --clean to let the "
                        "dump drop and recreate each object it holds");
        }
    }

    std::vector<std::string> created;
    auto cleanup = [&](Error e) -> Status {
        if (created.empty()) {
            return std::unexpected(std::move(e));
        }
        if (options.keep_failed) {
            e.message += "; the database(s) it created were kept (--keep-failed)";
            return std::unexpected(std::move(e));
        }
        const cancel::Shield shield; // the drop must run even after SIGTERM
        std::string sql;
        for (const auto& d : created) {
            sql += "DROP DATABASE IF EXISTS " + quote_name(d) + ";";
        }
        if (auto st = query(runner, client->path, admin, sql); st) {
            observe::info("dropped what this failed restore created (--keep-failed keeps it)",
                          {{"target", target.name}});
            e.message += "; the database(s) it created were dropped";
        } else {
            observe::warn("cannot drop the database this failed restore created",
                          {{"target", target.name}, {"error", st.error().to_string()}});
        }
        return std::unexpected(std::move(e));
    };

    for (const auto& d : recreate) {
        observe::info("dropping the scratch database of the last test restore", {{"database", d}});
        if (auto st = query(runner, client->path, admin, "DROP DATABASE " + quote_name(d)); !st) {
            return wrap(st.error(), "drop the scratch database " + d);
        }
        create.push_back(d);
    }
    for (const auto& d : create) {
        const std::string cs = detail(options, single ? "charset" : "charset." + d);
        const std::string coll = detail(options, single ? "collation" : "collation." + d);
        std::string sql = "CREATE DATABASE " + quote_name(d);
        if (!cs.empty()) {
            sql += " CHARACTER SET " + quote_string(cs);
        }
        if (!coll.empty()) {
            sql += " COLLATE " + quote_string(coll);
        }
        observe::info("creating database like the source's", {{"database", d}, {"sql", sql}});
        if (auto st = query(runner, client->path, admin, sql); !st) {
            return cleanup(Error{ErrorKind::failed, "create database", d,
                                 "the server refused `" + sql + "`: " + st.error().message,
                                 "create the database yourself (empty) and restore into it"});
        }
        created.push_back(d);
    }
    if (options.scratch) {
        Endpoint in_db = admin;
        in_db.database = dbs.front();
        if (auto st = query(runner, client->path, in_db,
                            std::string("CREATE TABLE IF NOT EXISTS ") + quote_name(k_scratch_table) +
                                " (made_by VARCHAR(64)) ENGINE=InnoDB COMMENT='dbkeep verify --restore scratch "
                                "database, dropped afterwards'");
            !st) {
            return cleanup(st.error());
        }
    }
    Endpoint load = *to;
    if (auto st = run_client(runner, client->path, load, in); !st) {
        return cleanup(st.error());
    }
    return {};
}

Status drop_scratch_database(runner::Runner& runner, const Target& target, const std::string& url,
                             const std::string& password)
{
    auto to = parse_endpoint(url, password);
    if (!to) {
        return std::unexpected(to.error());
    }
    if (to->database.empty()) {
        return {};
    }
    auto client = find_tool(runner, target, false);
    if (!client) {
        return std::unexpected(client.error());
    }
    Endpoint admin = *to;
    admin.database.clear();
    auto states = database_states(runner, client->path, admin, {to->database});
    if (!states) {
        return std::unexpected(states.error());
    }
    if (!(*states)[to->database].marked) {
        return {};
    }
    if (auto st = query(runner, client->path, admin, "DROP DATABASE " + quote_name(to->database)); !st) {
        return wrap(st.error(), "drop the scratch database " + to->database);
    }
    observe::info("dropped the scratch database (--keep keeps it)", {{"database", to->database}});
    return {};
}

Result<std::map<std::string, std::int64_t>> live_stats(runner::Runner& runner, const Target& target,
                                                       const std::string& url, const std::string& password)
{
    auto to = parse_endpoint(url, password);
    if (!to) {
        return std::unexpected(to.error());
    }
    auto client = find_tool(runner, target, false);
    if (!client) {
        return std::unexpected(client.error());
    }
    Endpoint admin = *to;
    admin.database.clear();
    std::string where;
    if (!to->database.empty()) {
        where = "TABLE_SCHEMA = " + quote_string(to->database);
    } else {
        where = "TABLE_SCHEMA NOT IN ('mysql', 'sys', 'information_schema', 'performance_schema')";
        if (!target.options.databases.empty()) {
            std::string in;
            for (const auto& d : target.options.databases) {
                in += (in.empty() ? "" : ",") + quote_string(d);
            }
            where = "TABLE_SCHEMA IN (" + in + ")";
        }
    }
    auto tables = query(runner, client->path, admin,
                        "SELECT HEX(TABLE_SCHEMA), HEX(TABLE_NAME) FROM information_schema.TABLES WHERE " + where +
                            " AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') AND TABLE_NAME <> " +
                            quote_string(k_scratch_table) + " ORDER BY 1, 2");
    if (!tables) {
        return std::unexpected(tables.error());
    }
    std::map<std::string, std::int64_t> out;
    // Keys name the source's database: a one-database backup restored into scratch compares as the source.
    const std::string as_db = !to->database.empty() && !target.options.database.empty() ? target.options.database : "";
    std::string sql;
    for (const auto& r : *tables) {
        if (r.size() < 2) {
            continue;
        }
        const std::string db = unhex(r[0]), table = unhex(r[1]);
        const std::string key = (as_db.empty() ? db : as_db) + "." + table;
        sql += std::string(sql.empty() ? "" : " UNION ALL ") + "SELECT HEX(" + quote_string(key) + "), COUNT(*) FROM " +
               quote_name(db) + "." + quote_name(table);
    }
    if (sql.empty()) {
        return out;
    }
    auto counts = query(runner, client->path, admin, sql);
    if (!counts) {
        return std::unexpected(counts.error());
    }
    for (const auto& r : *counts) {
        if (r.size() >= 2) {
            out[unhex(r[0])] = std::strtoll(r[1].c_str(), nullptr, 10);
        }
    }
    return out;
}

} // namespace dbkeep::engine::mysql
