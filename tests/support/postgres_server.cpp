#include "support/postgres_server.hpp"

#include "support/data_template.hpp"
#include "support/process.hpp"

#include <filesystem>
#include <stdexcept>

namespace dbkeep::test {
namespace {
std::string shell_quote(const std::string& s)
{
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}
} // namespace

std::string PostgresServer::bin_dir()
{
    return "/usr/lib/postgresql/15/bin";
}

std::string PostgresServer::skip_reason()
{
    if (!std::filesystem::exists(bin_dir() + "/initdb")) {
        return "PostgreSQL 15 server binaries not installed (" + bin_dir() + "/initdb)";
    }
    if (!have_program("runuser")) {
        return "runuser not available";
    }
    if (run({"id", "-u", "postgres"}).exit_code != 0) {
        return "no postgres system user";
    }
    return {};
}

PostgresServer::PostgresServer(PostgresOptions options) : m_options(std::move(options))
{
    m_dir = std::make_unique<TempDir>("dbkeep-pg");
    auto d = m_dir->path().string();
    if (sh("chown postgres:postgres " + shell_quote(d) + " && chmod 755 " + shell_quote(d)).exit_code != 0) {
        throw std::runtime_error("cannot chown pg temp dir");
    }
    std::string auth = m_options.superuser_password.empty() ? "trust" : "scram-sha-256";
    // initdb once per set of options (support/data_template.hpp), then a copy for each server.
    const std::string initdb_options = m_options.initdb_locale + " --auth-local=trust --auth-host=" + auth;
    const std::string key =
        "pg15-" + program_stamp(bin_dir() + "/initdb") + "-" +
        std::to_string(std::hash<std::string>{}(initdb_options + "\n" + m_options.superuser_password));
    copy_data_template(key, d + "/data", [&](const std::filesystem::path& folder) {
        const std::string f = folder.string();
        if (sh("chown postgres:postgres " + shell_quote(f)).exit_code != 0) {
            throw std::runtime_error("cannot chown the PostgreSQL template folder");
        }
        std::string initdb =
            "runuser -u postgres -- " + bin_dir() + "/initdb -D " + f + "/data -U postgres " + initdb_options;
        if (!m_options.superuser_password.empty()) {
            write_file(f + "/pw", m_options.superuser_password + "\n");
            sh("chown postgres " + shell_quote(f + "/pw"));
            initdb += " --pwfile=" + f + "/pw";
        }
        auto r = sh(initdb);
        std::filesystem::remove(f + "/pw");
        if (r.exit_code != 0) {
            throw std::runtime_error("initdb failed: " + r.err);
        }
    });
    // A port may be taken between probing and binding: try a few.
    for (int attempt = 0; attempt < 5; ++attempt) {
        m_port = free_port();
        auto start = sh("runuser -u postgres -- " + bin_dir() + "/pg_ctl -D " + d + "/data -l " + d +
                        "/log -w -t 60 -o \"-p " + std::to_string(m_port) + " -k " + d +
                        " -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off\" start");
        if (start.exit_code == 0) {
            m_running = true;
            return;
        }
    }
    throw std::runtime_error("pg_ctl start failed: " + read_file(d + "/log"));
}

PostgresServer::~PostgresServer()
{
    stop();
}

void PostgresServer::stop()
{
    if (m_running) {
        sh("runuser -u postgres -- " + bin_dir() + "/pg_ctl -D " + m_dir->path().string() +
           "/data -m immediate -w stop");
        m_running = false;
    }
}

std::string PostgresServer::url(const std::string& db, const std::string& user) const
{
    return "postgres://" + user + "@127.0.0.1:" + std::to_string(m_port) + "/" + db;
}

int PostgresServer::psql_status(const std::string& db, const std::string& sql) const
{
    RunOptions o;
    o.input = sql;
    return run({bin_dir() + "/psql", "-h", m_dir->path().string(), "-p", std::to_string(m_port), "-U", "postgres", "-d",
                db, "-v", "ON_ERROR_STOP=1", "-qAtX"},
               o)
        .exit_code;
}

std::string PostgresServer::psql(const std::string& db, const std::string& sql) const
{
    RunOptions o;
    o.input = sql;
    // The unix socket in the temp dir always uses trust, whatever the host auth is.
    auto r = run({bin_dir() + "/psql", "-h", m_dir->path().string(), "-p", std::to_string(m_port), "-U", "postgres",
                  "-d", db, "-v", "ON_ERROR_STOP=1", "-qAtX"},
                 o);
    if (r.exit_code != 0) {
        throw std::runtime_error("psql failed: " + r.err + "\nSQL: " + sql.substr(0, 500));
    }
    if (!r.out.empty() && r.out.back() == '\n') {
        r.out.pop_back();
    }
    return r.out;
}

void PostgresServer::create_database(const std::string& db) const
{
    psql("postgres", "CREATE DATABASE \"" + db + "\"");
}

} // namespace dbkeep::test
