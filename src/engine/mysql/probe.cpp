#include "engine/mysql/restore.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>

namespace dbkeep::engine::mysql {
namespace {

// The privileges SHOW GRANTS gives the user on *.* (global) and on each `db`.*.
struct Grants {
    std::set<std::string> global;
    std::map<std::string, std::set<std::string>> on_db;
};

std::string trim(std::string s)
{
    while (!s.empty() && s.back() == ' ') {
        s.pop_back();
    }
    while (!s.empty() && s.front() == ' ') {
        s.erase(0, 1);
    }
    return s;
}

// "GRANT SELECT, SHOW VIEW ON `shop`.* TO `backup`@`%`" into grants. Pure.
void read_grant(const std::string& line, Grants& grants)
{
    if (!line.starts_with("GRANT ")) {
        return;
    }
    auto on = line.find(" ON ");
    auto to = line.find(" TO ");
    if (on == std::string::npos || to == std::string::npos || to < on) {
        return;
    }
    std::string privs = line.substr(6, on - 6);
    std::string scope = trim(line.substr(on + 4, to - on - 4));
    std::set<std::string>* into = nullptr;
    if (scope == "*.*") {
        into = &grants.global;
    } else if (scope.ends_with(".*")) {
        std::string db = scope.substr(0, scope.size() - 2);
        if (db.size() >= 2 && db.front() == '`' && db.back() == '`') {
            db = db.substr(1, db.size() - 2);
        }
        into = &grants.on_db[db];
    } else {
        return; // a table or routine grant
    }
    std::size_t pos = 0;
    while (pos < privs.size()) {
        auto comma = privs.find(',', pos);
        std::string p = trim(privs.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
        if (auto paren = p.find('('); paren != std::string::npos) {
            p = trim(p.substr(0, paren)); // column privileges
        }
        into->insert(p == "ALL" ? "ALL PRIVILEGES" : p);
        if (comma == std::string::npos) {
            break;
        }
        pos = comma + 1;
    }
}

bool has(const Grants& g, const std::string& db, const std::string& priv)
{
    if (g.global.contains(priv) || g.global.contains("ALL PRIVILEGES")) {
        return true;
    }
    auto it = g.on_db.find(db);
    return it != g.on_db.end() && (it->second.contains(priv) || it->second.contains("ALL PRIVILEGES"));
}

// "backup@%" -> 'backup'@'%'
std::string account(const std::string& current_user)
{
    auto at = current_user.rfind('@');
    if (at == std::string::npos) {
        return quote_string(current_user);
    }
    return quote_string(current_user.substr(0, at)) + "@" + quote_string(current_user.substr(at + 1));
}

// "10.11.19-MariaDB-0+deb12u1" -> {10, 11}
std::pair<int, int> major_minor(const std::string& v)
{
    int major = std::atoi(v.c_str());
    auto dot = v.find('.');
    int minor = dot == std::string::npos ? 0 : std::atoi(v.c_str() + dot + 1);
    return {major, minor};
}

} // namespace

std::vector<Finding> probe_target(runner::Runner& runner, const Target& target)
{
    std::vector<Finding> out;
    auto dumper = find_tool(runner, target, true);
    auto client = find_tool(runner, target, false);
    if (!dumper || !client) {
        const auto& e = dumper ? client.error() : dumper.error();
        out.push_back(failed("mysql.tools", e.message, e.hint));
        return out;
    }
    out.push_back(pass("mysql.tools",
                       dumper->path + " " + dumper->version + " and " + client->path + " on " + runner.describe()));
    auto endpoint = target_endpoint(target);
    endpoint.database.clear();
    auto facts = query(runner, client->path, endpoint, "SELECT @@version, CAST(@@log_bin AS CHAR), CURRENT_USER()");
    if (!facts || facts->empty() || facts->front().size() < 3) {
        std::string why = facts ? "the server gave no answer" : facts.error().message;
        std::string hint = facts ? "" : facts.error().hint;
        // The client's error names its cause and its hint (tool_error); any other failure gets none.
        out.push_back(failed("mysql.connect", "cannot connect to " + endpoint.what + ": " + why, hint));
        return out;
    }
    const std::string version = facts->front()[0];
    const bool log_bin = facts->front()[1] == "1" || facts->front()[1] == "ON";
    const std::string user = facts->front()[2];
    out.push_back(pass("mysql.connect", "connected to " + endpoint.what + " as " + user + " (server " + version + ")"));

    // The dump tool against the server: a MariaDB tool for a MariaDB server, not older than it.
    const bool server_maria = version.find("MariaDB") != std::string::npos;
    const bool tool_maria = dumper->version.find("MariaDB") != std::string::npos;
    auto [smaj, smin] = major_minor(version);
    auto [tmaj, tmin] = major_minor(dumper->version);
    if (dumper->version.empty()) {
        out.push_back(warn("mysql.version", "cannot read the version of " + dumper->path,
                           "check that " + dumper->path + " is mariadb-dump or mysqldump"));
    } else if (server_maria != tool_maria) {
        out.push_back(warn("mysql.version",
                           dumper->path + " " + dumper->version + " is from another family than the server " + version,
                           std::string("install ") + (server_maria ? "mariadb-client" : "mysql-client") +
                               " where the runner runs, or set dump_path"));
    } else if (std::pair{tmaj, tmin} < std::pair{smaj, smin}) {
        out.push_back(warn("mysql.version",
                           dumper->path + " " + dumper->version + " is older than the server " + version,
                           "install the client tools of the server's version (or newer) where the runner runs"));
    } else {
        out.push_back(pass("mysql.version", dumper->path + " " + dumper->version + " fits the server " + version));
    }

    if (log_bin) {
        out.push_back(pass("mysql.binlog", "the binary log is on: each manifest records the snapshot's position"));
    } else {
        out.push_back(warn("mysql.binlog",
                           "the binary log is off: manifests carry no binary-log position, so no point-in-time "
                           "recovery can start from a backup",
                           "set log_bin (and server_id) in the server's configuration and restart it"));
    }

    // Privileges for a consistent dump.
    std::vector<std::string> dbs;
    if (!target.options.database.empty()) {
        dbs = {target.options.database};
    } else {
        dbs = target.options.databases;
    }
    auto grants_rows = query(runner, client->path, endpoint, "SHOW GRANTS FOR CURRENT_USER()");
    if (!grants_rows) {
        out.push_back(warn("mysql.privileges", "cannot read the user's grants: " + grants_rows.error().message,
                           "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON db.* and RELOAD, BINLOG MONITOR ON *.*"));
    } else {
        Grants g;
        for (const auto& r : *grants_rows) {
            if (!r.empty()) {
                read_grant(r[0], g);
            }
        }
        std::string missing_sql, missing_text;
        std::vector<std::string> scope = dbs.empty() ? std::vector<std::string>{"*"} : dbs;
        for (const auto& db : scope) {
            std::vector<std::string> need;
            for (const char* p : {"SELECT", "SHOW VIEW", "TRIGGER", "EVENT"}) {
                if (db == "*" ? !g.global.contains(p) && !g.global.contains("ALL PRIVILEGES") : !has(g, db, p)) {
                    need.emplace_back(p);
                }
            }
            if (!need.empty()) {
                std::string list;
                for (const auto& p : need) {
                    list += (list.empty() ? "" : ", ") + p;
                }
                missing_text += (missing_text.empty() ? "" : "; ") + list + " on " + (db == "*" ? "*.*" : db);
                missing_sql += "GRANT " + list + " ON " + (db == "*" ? std::string("*") : quote_name(db)) + ".* TO " +
                               account(user) + "; ";
            }
        }
        if (log_bin) {
            std::vector<std::string> need;
            if (!g.global.contains("RELOAD") && !g.global.contains("ALL PRIVILEGES")) {
                need.emplace_back("RELOAD");
            }
            const bool monitor = g.global.contains("BINLOG MONITOR") || g.global.contains("REPLICATION CLIENT") ||
                                 g.global.contains("SUPER") || g.global.contains("ALL PRIVILEGES");
            if (!monitor) {
                need.emplace_back(server_maria ? "BINLOG MONITOR" : "REPLICATION CLIENT");
            }
            if (!need.empty()) {
                std::string list;
                for (const auto& p : need) {
                    list += (list.empty() ? "" : ", ") + p;
                }
                missing_text += (missing_text.empty() ? "" : "; ") + list +
                                " on *.* (the moment's global read lock and the binary-log position)";
                missing_sql += "GRANT " + list + " ON *.* TO " + account(user) + "; ";
            }
        }
        if (missing_text.empty()) {
            out.push_back(pass("mysql.privileges", user + " has the privileges a consistent dump needs"));
        } else {
            out.push_back(failed("mysql.privileges", user + " lacks " + missing_text, trim(missing_sql)));
        }
    }

    // Tables outside the transaction's snapshot.
    std::string where = "TABLE_SCHEMA NOT IN ('mysql', 'sys', 'information_schema', 'performance_schema')";
    if (!dbs.empty()) {
        std::string in;
        for (const auto& d : dbs) {
            in += (in.empty() ? "" : ",") + quote_string(d);
        }
        where = "TABLE_SCHEMA IN (" + in + ")";
    }
    auto tables = query(runner, client->path, endpoint,
                        "SELECT HEX(CONCAT(TABLE_SCHEMA, '.', TABLE_NAME, ' (', ENGINE, ')')) FROM "
                        "information_schema.TABLES WHERE " +
                            where +
                            " AND TABLE_TYPE = 'BASE TABLE' AND ENGINE NOT IN ('InnoDB', 'ROCKSDB', 'TokuDB') ORDER "
                            "BY 1 LIMIT 20");
    if (tables) {
        std::string list;
        for (const auto& r : *tables) {
            if (!r.empty()) {
                list += (list.empty() ? "" : ", ") + unhex(r[0]);
            }
        }
        if (list.empty()) {
            out.push_back(pass("mysql.tables", "every table is transactional (InnoDB)"));
        } else {
            out.push_back(warn("mysql.tables", "non-transactional tables are not part of the dump's snapshot: " + list,
                               "convert them: ALTER TABLE db.table ENGINE=InnoDB"));
        }
    }
    return out;
}

} // namespace dbkeep::engine::mysql
