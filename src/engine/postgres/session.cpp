#include "engine/postgres/session.hpp"

#include "core/url.hpp"

#include <chrono>

namespace dbkeep::engine::pg {

Result<std::unique_ptr<Connection>> open_session(runner::Runner& runner, const Target& target,
                                                 const ConnectParams& params)
{
    if (runner.local()) {
        return connect(params);
    }
    return connect_via(runner, params, psql_path(target.postgres));
}

std::string psql_path(const PostgresOptions& options)
{
    const auto& dump_path = options.pg_dump_path;
    if (auto slash = dump_path.rfind('/'); slash != std::string::npos) {
        return dump_path.substr(0, slash + 1) + "psql";
    }
    return "psql";
}

ConnectParams connect_params(const Target& target, const std::string& host, int port, const std::string& user,
                             const std::string& dbname, const std::string& password)
{
    ConnectParams p;
    p.keywords["host"] = host;
    p.keywords["port"] = port ? std::to_string(port) : "";
    p.keywords["user"] = user;
    p.keywords["dbname"] = dbname;
    p.keywords["sslmode"] = target.postgres.sslmode;
    p.keywords["passfile"] = target.postgres.passfile;
    p.password = password;
    p.what = target.name;
    p.settings["lock_timeout"] = std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(target.postgres.lock_wait_timeout).count());
    return p;
}

Result<ConnectParams> url_params(const Target& target, const std::string& url, const std::string& password)
{
    auto parsed = parse_conninfo(url);
    if (!parsed) {
        return fail(ErrorKind::config, "read the connection string",
                    url.contains("://") && !url.contains("password") ? redact_url(url) : "(given)",
                    parsed.error().message +
                        " (postgres://user@host:port/dbname?param=value or 'host=... dbname=...')");
    }
    auto& kw = parsed->keywords;
    auto get = [&](const char* key) { return kw.contains(key) ? kw.at(key) : std::string(); };
    auto params = connect_params(target, get("host"), 0, get("user"), get("dbname"),
                                 parsed->password.empty() ? password : parsed->password);
    for (const auto& [k, v] : kw) {
        params.keywords[k] = v;
    }
    params.what = kw.contains("password") || url.find("password") != std::string::npos || !url.contains("://")
                      ? "postgres://" + get("host") + "/" + get("dbname")
                      : redact_url(url);
    return params;
}

void add_password_env(runner::Command& cmd, const PostgresOptions& pg)
{
    if (!pg.password.empty()) {
        cmd.env["PGPASSWORD"] = pg.password.reveal();
    }
}

ConnectParams target_params(const Target& target)
{
    const auto& pg = target.postgres;
    // A whole-server target names no database: its sessions go to "postgres", as pg_dumpall's do.
    const bool server = pg.all_databases || !pg.databases.empty();
    auto params = connect_params(target, pg.host, pg.port, pg.user,
                                 pg.dbname.empty() && server ? "postgres" : pg.dbname, pg.password.reveal());
    for (const auto& [keyword, value] : pg.parameters) {
        if (auto& slot = params.keywords[keyword]; slot.empty()) {
            slot = value;
        }
    }
    return params;
}

} // namespace dbkeep::engine::pg
