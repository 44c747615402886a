#include "engine/postgres/probe.hpp"

#include "engine/postgres/server.hpp"
#include "engine/postgres/tools.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace dbkeep::engine::pg {

std::vector<Finding> probe_target(runner::Runner& runner, const Target& target)
{
    std::vector<Finding> out;
    const auto& pg = target.postgres;
    auto params = target_params(target);
    const std::string where = target.url;
    auto conn = open_session(runner, target, params);
    if (!conn) {
        const auto& e = conn.error();
        std::string remedy;
        switch (e.kind) {
        case ErrorKind::auth:
            remedy = "check the password (password:, passfile: or PGPASSWORD) and pg_hba.conf for this host";
            break;
        case ErrorKind::not_found: remedy = "create the database or fix dbname in the target's url"; break;
        case ErrorKind::transient:
            remedy = "check host and port, that the server is running, and security groups/firewalls";
            break;
        default: remedy = "check the target's url and the server's log";
        }
        out.push_back(failed("postgres.connect", e.message, remedy));
        return out;
    }
    int server_major = (*conn)->server_version_num() / 10000;
    auto version = (*conn)->query("SELECT current_setting('server_version')");
    auto user = (*conn)->query("SELECT current_user");
    std::string role = user ? (*user)[0][0] : pg.user;
    out.push_back(pass("postgres.connect", "connected to PostgreSQL " +
                                               (version ? first_line((*version)[0][0]) : std::to_string(server_major)) +
                                               " at " + where + " as " + role));
    auto denied = (*conn)->query(
        "SELECT n.nspname || '.' || c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = "
        "c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' "
        "AND NOT (has_schema_privilege(n.oid, 'USAGE') AND CASE WHEN c.relkind = 'S' "
        "THEN has_sequence_privilege(c.oid, 'SELECT') ELSE has_table_privilege(c.oid, 'SELECT') END) ORDER BY 1");
    if (!denied) {
        out.push_back(failed("postgres.read", "cannot check privileges: " + denied.error().message,
                             "check the role's permissions"));
    } else if (denied->empty()) {
        out.push_back(pass("postgres.read", "role " + role + " can read every table and sequence"));
    } else {
        std::string names;
        std::string grants;
        for (std::size_t i = 0; i < denied->size(); ++i) {
            const auto& name = (*denied)[i][0];
            if (i < 10) {
                names += (names.empty() ? "" : ", ") + name;
                grants += std::string(grants.empty() ? "" : " ") + "GRANT SELECT ON " +
                          ((*denied)[i][1] == "S" ? "SEQUENCE " : "") + name + " TO " + pg::quote_ident(role) + ";";
            }
        }
        if (denied->size() > 10) {
            names += " and " + std::to_string(denied->size() - 10) + " more";
        }
        out.push_back(failed(
            "postgres.read",
            "role " + role + " cannot read " + std::to_string(denied->size()) + " relation(s): " + names,
            (server_major >= 14 ? "GRANT pg_read_all_data TO " + pg::quote_ident(role) + "; or " : std::string()) +
                grants));
    }
    const bool server = pg.all_databases || !pg.databases.empty();
    if (server) {
        // A whole server: the databases it will dump, and whether the globals will carry role passwords.
        auto listed = (*conn)->query("SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                                     "ORDER BY datname");
        if (!listed) {
            out.push_back(failed("postgres.databases", "cannot list the databases: " + listed.error().message,
                                 "check the role's permissions"));
        } else {
            std::vector<std::string> present, missing;
            for (const auto& r : *listed) {
                present.push_back(r.empty() ? "" : r[0]);
            }
            for (const auto& db : pg.databases) {
                if (std::find(present.begin(), present.end(), db) == present.end()) {
                    missing.push_back(db);
                }
            }
            auto joined = [](const std::vector<std::string>& v) {
                std::string s;
                for (const auto& x : v) {
                    s += (s.empty() ? "" : ", ") + x;
                }
                return s;
            };
            if (!missing.empty()) {
                out.push_back(
                    failed("postgres.databases",
                           "the server has no database " + joined(missing) + " (it has " + joined(present) + ")",
                           "correct 'databases' in the configuration, or use databases: all"));
            } else {
                out.push_back(pass("postgres.databases",
                                   "backs up " + (pg.all_databases ? joined(present) : joined(pg.databases))));
            }
        }
        auto authid = (*conn)->query("SELECT has_table_privilege('pg_authid', 'SELECT')");
        if (authid && !authid->empty() && !authid->front().empty() && authid->front().front() == "t") {
            out.push_back(pass("postgres.globals", "role " + role + " reads the roles with their passwords"));
        } else {
            out.push_back(
                warn("postgres.globals",
                     "role " + role + " cannot read pg_authid: the roles are backed up without their passwords",
                     "back the server up as a superuser to keep the role passwords, or set them again "
                     "after a restore"));
        }
    }
    conn->reset();
    if (server) {
        auto tool = find_tool(runner, target, "pg_dumpall", dumpall_override(pg), server_major);
        if (!tool) {
            out.push_back(failed("postgres.pg_dumpall", tool.error().message, tool.error().hint));
        } else {
            out.push_back(pass("postgres.pg_dumpall", "pg_dumpall " + tool->version + " at " + tool->path));
        }
    }
    for (const char* tool_name : {"pg_dump", "pg_restore"}) {
        const std::string override_path = std::string(tool_name) == "pg_dump" ? pg.pg_dump_path : pg.pg_restore_path;
        auto tool = find_tool(runner, target, tool_name, override_path, server_major);
        if (!tool) {
            out.push_back(failed(std::string("postgres.") + tool_name, tool.error().message, tool.error().hint));
        } else {
            out.push_back(pass(std::string("postgres.") + tool_name,
                               std::string(tool_name) + " " + tool->version + " at " + tool->path + " (" +
                                   runner.describe() + ") matches server " + std::to_string(server_major)));
        }
    }
    return out;
}

} // namespace dbkeep::engine::pg
