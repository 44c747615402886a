#include "engine/postgres/probe.hpp"

#include "engine/postgres/tools.hpp"

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
    conn->reset();
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
