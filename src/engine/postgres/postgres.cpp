#include "engine/postgres/postgres.hpp"

#include "core/cancel.hpp"
#include "core/url.hpp"
#include "engine/postgres/connection.hpp"
#include "observe/log.hpp"
#include "runner/runner.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>
#include <unistd.h>

namespace dbkeep::engine {
namespace {

constexpr std::size_t k_chunk = 1 << 20;

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

Result<std::map<std::string, std::int64_t>> count_rows(pg::Connection& conn)
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
        auto r = conn.query("SELECT count(*) FROM " + pg::quote_ident(row[0]) + "." + pg::quote_ident(row[1]));
        if (!r) {
            return std::unexpected(r.error());
        }
        stats[table_key(row[0], row[1])] = std::stoll((*r)[0][0]);
    }
    return stats;
}

std::string first_line(const std::string& text)
{
    std::string s = text;
    // pg_dump prefixes messages with "pg_dump: error: "; keep the first error line.
    auto pos = s.find("error: ");
    if (pos != std::string::npos) {
        s = s.substr(pos + 7);
    }
    auto nl = s.find('\n');
    if (nl != std::string::npos) {
        s = s.substr(0, nl);
    }
    while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

// The target an engine serves: its name and URL for messages, and its options.
struct Target {
    std::string name;
    std::string url;
    PostgresOptions postgres;
};

class PostgresEngine final : public Engine {
public:
    PostgresEngine(Target target, runner::Runner& runner) : m_target(std::move(target)), m_runner(runner) {}

    std::string format() const override { return "pgdump"; }

    Result<DumpInfo> dump(stream::Sink& out) override
    {
        if (!m_runner.interactive()) {
            return dump_detached(out);
        }
        const auto& pg = m_target.postgres;
        pg::ConnectParams params = connect_params(pg.host, pg.port, pg.user, pg.dbname, pg.password.reveal());
        auto conn = open_connection(params);
        if (!conn) {
            return std::unexpected(conn.error());
        }
        int server_num = (*conn)->server_version_num();
        int server_major = server_num / 10000;
        DumpInfo info;
        auto version = (*conn)->query("SELECT current_setting('server_version')");
        if (!version) {
            return std::unexpected(version.error());
        }
        info.server_version = first_line((*version)[0][0]);
        if (auto sp = info.server_version.find(' '); sp != std::string::npos) {
            info.server_version.resize(sp);
        }

        auto tool = find_tool("pg_dump", pg.pg_dump_path, server_major);
        if (!tool) {
            return std::unexpected(tool.error());
        }
        info.tool = "pg_dump";
        info.tool_version = tool->version;

        // The snapshot pg_dump imports: counts taken in it describe exactly what is dumped.
        if (auto st = (*conn)->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !st) {
            return std::unexpected(st.error());
        }
        auto snap = (*conn)->query("SELECT pg_export_snapshot()");
        if (!snap) {
            return std::unexpected(snap.error());
        }
        const std::string snapshot = (*snap)[0][0];

        runner::Command cmd;
        cmd.argv = {tool->path,      "--format=custom",
                    "--compress=0",  "--snapshot=" + snapshot,
                    "--no-password", "--dbname=" + pg::conninfo(params.keywords)};
        add_password_env(cmd, pg);
        observe::debug("starting pg_dump",
                       {{"target", m_target.name}, {"tool", tool->path}, {"runner", m_runner.describe()}});
        auto proc = m_runner.start(cmd);
        if (!proc) {
            return std::unexpected(proc.error());
        }

        // Count rows in the exporting transaction while pg_dump streams.
        Result<std::map<std::string, std::int64_t>> counts = std::map<std::string, std::int64_t>{};
        std::thread counter([&] { counts = count_rows(**conn); });

        auto copied = stream::copy((*proc)->out(), out, k_chunk);
        const std::uint64_t total = copied.value_or(0);
        Status stream_status;
        if (!copied) {
            stream_status = std::unexpected(copied.error());
        }
        if (!stream_status) {
            (*proc)->kill();
        }
        auto status = (*proc)->wait();
        counter.join();
        (void)(*conn)->exec("COMMIT");

        if (cancel::requested()) {
            return fail_cancelled("run pg_dump for", m_target.name);
        }
        if (!stream_status) {
            return std::unexpected(stream_status.error());
        }
        if (!status) {
            return std::unexpected(status.error());
        }
        if (!status->ok()) {
            std::string err = first_line((*proc)->error_output());
            return fail(ErrorKind::failed, "run pg_dump for", m_target.name,
                        "pg_dump " + status->describe() + (err.empty() ? "" : ": " + err));
        }
        if (total == 0) {
            return fail(ErrorKind::failed, "run pg_dump for", m_target.name, "pg_dump produced no output");
        }
        if (!counts) {
            return wrap(counts.error(), "count rows of " + m_target.name);
        }
        info.stats = std::move(*counts);
        info.details["pg_dump_path"] = tool->path;
        info.details["database"] = pg.dbname;
        return info;
    }

    Status restore(stream::Source& in, const RestoreOptions& options) override
    {
        auto url = parse_url(options.to_url);
        if (!url || (url->scheme != "postgres" && url->scheme != "postgresql") || url->path.empty()) {
            return fail(ErrorKind::config, "restore", m_target.name,
                        "--to must be a PostgreSQL URL with a database, e.g. postgres://user@host:5432/newdb");
        }
        std::string password = !url->password.empty() ? url->password : options.password;
        std::string what = redact_url(options.to_url);
        auto params = connect_params(url->host, url->port, url->user, url->path, password);
        params.what = what;
        if (auto it = url->query.find("sslmode"); it != url->query.end()) {
            params.keywords["sslmode"] = it->second;
        }
        int server_major = 0;
        // Create the database when it does not exist yet.
        auto conn = open_connection(params);
        if (!conn && conn.error().kind == ErrorKind::not_found) {
            auto admin_params = params;
            admin_params.keywords["dbname"] = "postgres";
            auto admin = open_connection(admin_params);
            if (!admin) {
                return std::unexpected(admin.error());
            }
            observe::info("creating database", {{"database", url->path}});
            if (auto st = (*admin)->exec("CREATE DATABASE " + pg::quote_ident(url->path)); !st) {
                return wrap(st.error(), "create database for restore");
            }
            conn = open_connection(params);
        }
        if (!conn) {
            return std::unexpected(conn.error());
        }
        server_major = (*conn)->server_version_num() / 10000;
        conn->reset();

        auto tool = find_tool("pg_restore", m_target.postgres.pg_restore_path, server_major);
        if (!tool) {
            return std::unexpected(tool.error());
        }
        runner::Command cmd;
        cmd.argv = {tool->path, "--exit-on-error", "--no-password", "--dbname=" + pg::conninfo(params.keywords)};
        if (!password.empty()) {
            cmd.env["PGPASSWORD"] = password;
        }

        std::filesystem::path temp_file;
        if (options.jobs > 1) {
            // Parallel restore needs a seekable file: decompress to a temp file first.
            auto dir = options.temp_dir.empty() ? std::filesystem::temp_directory_path() : options.temp_dir;
            temp_file = dir / ("dbkeep-restore-" + std::to_string(::getpid()) + ".pgdump");
            observe::info("parallel restore: writing the dump to a temp file first",
                          {{"file", temp_file.string()}, {"jobs", std::to_string(options.jobs)}});
            auto st = write_temp(in, temp_file);
            if (!st) {
                std::filesystem::remove(temp_file);
                return st;
            }
            cmd.argv.push_back("--jobs=" + std::to_string(options.jobs));
            cmd.argv.push_back(temp_file.string());
        } else {
            cmd.with_stdin = true;
        }
        auto result = run_restore(cmd, options.jobs > 1 ? nullptr : &in);
        if (!temp_file.empty()) {
            std::error_code ec;
            std::filesystem::remove(temp_file, ec);
        }
        return result;
    }

    Result<std::map<std::string, std::int64_t>> stats(const std::string& to_url, const std::string& password) override
    {
        auto url = parse_url(to_url);
        if (!url) {
            return fail(ErrorKind::config, "read statistics", redact_url(to_url), "not a PostgreSQL URL");
        }
        auto params = connect_params(url->host, url->port, url->user, url->path,
                                     url->password.empty() ? password : url->password);
        params.what = redact_url(to_url);
        auto conn = open_connection(params);
        if (!conn) {
            return std::unexpected(conn.error());
        }
        if (auto st = (*conn)->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !st) {
            return std::unexpected(st.error());
        }
        return count_rows(**conn);
    }

    std::vector<Finding> probe() override
    {
        std::vector<Finding> out;
        const auto& pg = m_target.postgres;
        auto params = connect_params(pg.host, pg.port, pg.user, pg.dbname, pg.password.reveal());
        const std::string where = m_target.url;
        auto conn = open_connection(params);
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
        out.push_back(
            pass("postgres.connect", "connected to PostgreSQL " +
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
            const std::string override_path =
                std::string(tool_name) == "pg_dump" ? pg.pg_dump_path : pg.pg_restore_path;
            auto tool = find_tool(tool_name, override_path, server_major);
            if (!tool) {
                out.push_back(failed(std::string("postgres.") + tool_name, tool.error().message, tool.error().hint));
            } else {
                out.push_back(pass(std::string("postgres.") + tool_name,
                                   std::string(tool_name) + " " + tool->version + " at " + tool->path + " (" +
                                       m_runner.describe() + ") matches server " + std::to_string(server_major)));
            }
        }
        return out;
    }

private:
    // A session with the server: libpq from here with a local runner, else psql where the runner runs (the
    // database may be reachable only from inside its container).
    Result<std::unique_ptr<pg::Connection>> open_connection(const pg::ConnectParams& params)
    {
        if (m_runner.local()) {
            return pg::connect(params);
        }
        return pg::connect_via(m_runner, params, psql_path());
    }

    std::string psql_path() const
    {
        const auto& dump_path = m_target.postgres.pg_dump_path;
        if (auto slash = dump_path.rfind('/'); slash != std::string::npos) {
            return dump_path.substr(0, slash + 1) + "psql";
        }
        return "psql";
    }

    // A runner that only launches commands detached (ecs): no session can hold a snapshot open, so pg_dump
    // takes its own (it is consistent by itself) and no row counts are recorded. The server version comes
    // from a one-shot psql where the runner runs, when there is one.
    Result<DumpInfo> dump_detached(stream::Sink& out)
    {
        const auto& pg = m_target.postgres;
        auto params = connect_params(pg.host, pg.port, pg.user, pg.dbname, pg.password.reveal());
        DumpInfo info;
        int server_major = 0;
        runner::Command version;
        version.argv = {psql_path(),
                        "-X",
                        "-A",
                        "-t",
                        "--no-password",
                        "--dbname=" + pg::conninfo(params.keywords),
                        "-c",
                        "SELECT current_setting('server_version_num') || ' ' || current_setting('server_version')"};
        add_password_env(version, pg);
        auto v = runner::run_capture(m_runner, version, 4096);
        if (!v && v.error().kind == ErrorKind::cancelled) {
            return std::unexpected(v.error());
        }
        if (!v) {
            observe::warn("server version unknown: psql did not run where the runner runs",
                          {{"target", m_target.name}, {"error", v.error().message}});
        } else if (v->status.ok()) {
            server_major = std::atoi(v->out.c_str()) / 10000;
            if (auto sp = v->out.find(' '); sp != std::string::npos) {
                info.server_version = first_line(v->out.substr(sp + 1));
                if (auto sp2 = info.server_version.find(' '); sp2 != std::string::npos) {
                    info.server_version.resize(sp2);
                }
            }
        } else if (v->status.code == 2) {
            // psql's "could not connect": the same failure pg_dump would meet, said now.
            std::string msg = first_line(v->err);
            auto [kind, hint] = pg::classify_connect_error(msg);
            return fail(kind, "connect to", m_target.name + " (via " + m_runner.describe() + ")", msg, hint);
        } else {
            observe::warn("server version unknown: no psql where the runner runs; using the newest pg_dump there",
                          {{"target", m_target.name}});
        }
        auto tool = find_tool("pg_dump", pg.pg_dump_path, server_major);
        if (!tool) {
            return std::unexpected(tool.error());
        }
        info.tool = "pg_dump";
        info.tool_version = tool->version;
        runner::Command cmd;
        cmd.argv = {tool->path, "--format=custom", "--compress=0", "--no-password",
                    "--dbname=" + pg::conninfo(params.keywords)};
        add_password_env(cmd, pg);
        auto proc = m_runner.start(cmd);
        if (!proc) {
            return std::unexpected(proc.error());
        }
        auto copied = stream::copy((*proc)->out(), out, k_chunk);
        const std::uint64_t total = copied.value_or(0);
        Status stream_status;
        if (!copied) {
            stream_status = std::unexpected(copied.error());
        }
        if (!stream_status) {
            (*proc)->kill();
            return std::unexpected(stream_status.error());
        }
        auto status = (*proc)->wait();
        if (!status) {
            std::string err = first_line((*proc)->error_output());
            auto e = status.error();
            if (!err.empty()) {
                e.message += " (pg_dump said: " + err + ")";
            }
            return std::unexpected(e);
        }
        if (!status->ok()) {
            std::string err = first_line((*proc)->error_output());
            return fail(ErrorKind::failed, "run pg_dump for", m_target.name,
                        "pg_dump " + status->describe() + (err.empty() ? "" : ": " + err));
        }
        if (total == 0) {
            return fail(ErrorKind::failed, "run pg_dump for", m_target.name, "pg_dump produced no output");
        }
        info.details["pg_dump_path"] = tool->path;
        info.details["database"] = pg.dbname;
        info.details["row_counts"] = "not recorded: the runner launches commands detached";
        return info;
    }

    pg::ConnectParams connect_params(const std::string& host, int port, const std::string& user,
                                     const std::string& dbname, const std::string& password) const
    {
        pg::ConnectParams p;
        p.keywords["host"] = host;
        p.keywords["port"] = port ? std::to_string(port) : "";
        p.keywords["user"] = user;
        p.keywords["dbname"] = dbname;
        p.keywords["sslmode"] = m_target.postgres.sslmode;
        p.keywords["passfile"] = m_target.postgres.passfile;
        p.password = password;
        p.what = m_target.name;
        return p;
    }

    void add_password_env(runner::Command& cmd, const PostgresOptions& pg) const
    {
        if (!pg.password.empty()) {
            cmd.env["PGPASSWORD"] = pg.password.reveal();
        }
    }

    // The tool (pg_dump / pg_restore) to use for a server major version, through the runner.
    Result<ToolCandidate> find_tool(const std::string& name, const std::string& override_path, int server_major)
    {
        std::vector<std::string> paths;
        if (!override_path.empty()) {
            paths.push_back(override_path);
        } else {
            if (m_runner.local()) {
                std::error_code ec;
                for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
                    auto p = e.path() / "bin" / name;
                    if (::access(p.c_str(), X_OK) == 0) {
                        paths.push_back(p.string());
                    }
                }
            }
            paths.push_back(name); // PATH where the runner runs it
        }
        std::vector<ToolCandidate> found;
        std::string tried, last_error;
        for (const auto& p : paths) {
            auto out = runner::run_capture(m_runner, {.argv = {p, "--version"}}, 4096);
            tried += (tried.empty() ? "" : ", ") + p;
            if (!out) {
                last_error = out.error().message;
                continue;
            }
            if (!out->status.ok()) {
                last_error = first_line(out->err);
                continue;
            }
            if (auto c = parse_tool_version(p, out->out)) {
                found.push_back(*c);
            }
        }
        if (!override_path.empty() && found.empty()) {
            return fail(ErrorKind::not_found, "find " + name + " for", m_target.name,
                        "cannot run " + override_path + " --version on " + m_runner.describe() +
                            (last_error.empty() ? "" : ": " + last_error),
                        "fix " + name + "_path in the configuration, or the runner");
        }
        auto pick = pick_tool(found, server_major);
        if (server_major == 0 && !found.empty()) {
            // Server version unknown: the newest tool reads every older server.
            pick = *std::max_element(found.begin(), found.end(),
                                     [](const auto& a, const auto& b) { return a.major < b.major; });
        }
        if (!pick) {
            std::string have;
            for (const auto& c : found) {
                have += (have.empty() ? "" : ", ") + c.path + " " + c.version;
            }
            return fail(ErrorKind::not_found, "find " + name + " for", m_target.name,
                        "the server is PostgreSQL " + std::to_string(server_major) + ", which needs " + name + " " +
                            std::to_string(server_major) + " or newer; found " + (have.empty() ? "none" : have) +
                            " (looked at " + tried + " on " + m_runner.describe() + ")",
                        "install postgresql-client-" + std::to_string(server_major) +
                            " where the runner runs, or set " + name + "_path");
        }
        if (pick->major != server_major) {
            observe::warn(name + " is newer than the server",
                          {{"tool", pick->version}, {"server", std::to_string(server_major)}});
        }
        return *pick;
    }

    Status write_temp(stream::Source& in, const std::filesystem::path& path)
    {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        if (!f) {
            return fail(ErrorKind::failed, "write temp file", path.string(), "cannot create it");
        }
        std::vector<std::uint8_t> buf(k_chunk);
        for (;;) {
            auto n = in.read(buf);
            if (!n) {
                return std::unexpected(n.error());
            }
            if (*n == 0) {
                break;
            }
            f.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(*n));
            if (!f) {
                return fail(ErrorKind::failed, "write temp file", path.string(), "write failed (disk full?)");
            }
        }
        f.close();
        return {};
    }

    Status run_restore(const runner::Command& cmd, stream::Source* in)
    {
        auto proc = m_runner.start(cmd);
        if (!proc) {
            return std::unexpected(proc.error());
        }
        // Drain pg_restore's stdout in the background so it can never block on a full pipe.
        std::thread drain([&] {
            std::uint8_t sink_buf[4096];
            for (;;) {
                auto n = (*proc)->out().read(sink_buf);
                if (!n || *n == 0) {
                    break;
                }
            }
        });
        Status feed;
        if (in != nullptr) {
            std::vector<std::uint8_t> buf(k_chunk);
            for (;;) {
                auto n = in->read(buf);
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
                    (*proc)->kill(); // input was corrupt or cancelled: pg_restore must not commit anything more
                }
            }
        }
        auto status = (*proc)->wait();
        drain.join();
        if (!status) {
            return std::unexpected(status.error());
        }
        if (!status->ok()) {
            std::string err = first_line((*proc)->error_output());
            if (!feed && feed.error().kind != ErrorKind::failed) {
                return std::unexpected(feed.error());
            }
            return fail(ErrorKind::failed, "run pg_restore for", m_target.name,
                        "pg_restore " + status->describe() + (err.empty() ? "" : ": " + err));
        }
        if (!feed) {
            return std::unexpected(feed.error());
        }
        return {};
    }

    const Target m_target;
    runner::Runner& m_runner;
};

} // namespace

std::optional<ToolCandidate> parse_tool_version(const std::string& path, const std::string& output)
{
    static const std::regex k_version(R"(\(PostgreSQL\) (\d+)(?:\.(\d+))?)");
    std::smatch m;
    if (!std::regex_search(output, m, k_version)) {
        return std::nullopt;
    }
    ToolCandidate c;
    c.path = path;
    c.major = std::stoi(m[1]);
    c.version = m[1].str() + (m[2].matched ? "." + m[2].str() : "");
    return c;
}

std::optional<ToolCandidate> pick_tool(const std::vector<ToolCandidate>& candidates, int server_major)
{
    std::optional<ToolCandidate> best;
    for (const auto& c : candidates) {
        if (c.major < server_major) {
            continue;
        }
        if (!best || c.major < best->major) {
            best = c;
        }
    }
    return best;
}

Result<std::unique_ptr<Engine>> make_postgres_engine(const std::string& target, const std::string& url,
                                                     const PostgresOptions& options, runner::Runner& runner)
{
    return std::make_unique<PostgresEngine>(Target{target, url, options}, runner);
}

} // namespace dbkeep::engine
