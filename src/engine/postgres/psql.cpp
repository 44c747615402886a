// pg::Connection over psql running through a runner. Each query is wrapped so that its whole result comes back
// as one line of JSON (an array of rows, each an array of text values in column order), followed by a marker
// line written by \echo: newlines or separators inside values cannot confuse the reader, and a failed
// statement ends psql (ON_ERROR_STOP) so the error is read from its stderr.
#include "core/bytes.hpp"
#include "core/hex.hpp"
#include "engine/postgres/connection.hpp"
#include "engine/postgres/tools.hpp"
#include "runner/runner.hpp"
#include "stream/sha256.hpp"

#include <nlohmann/json.hpp>

#include <openssl/rand.h>

namespace dbkeep::engine::pg {
namespace {

std::string psql_error(const std::string& err)
{
    std::string s = err;
    for (const char* prefix : {"psql: error: ", "psql:<stdin>:"}) {
        if (auto pos = s.find(prefix); pos != std::string::npos) {
            s = s.substr(pos + std::strlen(prefix));
        }
    }
    if (auto pos = s.find("ERROR:  "); pos != std::string::npos) {
        s = s.substr(pos + 8);
    }
    // Keep the first line of a connection failure, which carries the server's FATAL message.
    for (auto& c : s) {
        if (c == '\n') {
            c = ' ';
        }
    }
    while (!s.empty() && s.back() == ' ') {
        s.pop_back();
    }
    return utf8_or_escaped(s.substr(0, 600));
}

// One line of JSON for the whole result, whatever the values contain.
std::string wrap_query(const std::string& sql)
{
    return "SELECT coalesce(jsonb_agg((SELECT jsonb_agg(e.v ORDER BY e.n) FROM json_each_text(row_to_json(q)) WITH "
           "ORDINALITY AS e(k, v, n))), '[]'::jsonb) FROM (" +
           sql + "\n) AS q;";
}

Result<std::vector<std::vector<std::string>>> parse_rows(const std::vector<std::string>& lines, const std::string& what)
{
    if (lines.empty()) {
        return fail(ErrorKind::failed, "query", what, "psql printed no result");
    }
    // A SQL_ASCII database's bytes come as stored: escape invalid UTF-8 so that the line parses.
    auto j = nlohmann::json::parse(utf8_or_escaped(lines.back(), "\\\\x"), nullptr, false);
    if (!j.is_array()) {
        return fail(ErrorKind::failed, "query", what, "unexpected output from psql");
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : j) {
        std::vector<std::string> row;
        if (r.is_array()) {
            for (const auto& v : r) {
                row.push_back(v.is_string() ? v.get<std::string>() : std::string());
            }
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

// The first query of a session: the server's version as a number (150018).
constexpr const char* k_version_query = "SELECT current_setting('server_version_num')";

// server_version_num from the handshake query's rows, or why there is none.
Result<int> server_version_of(const Result<std::vector<std::vector<std::string>>>& rows, const std::string& what)
{
    if (!rows) {
        return std::unexpected(rows.error());
    }
    if (rows->empty() || rows->front().empty()) {
        return fail(ErrorKind::failed, "connect to", what, "psql returned no server version");
    }
    return std::atoi(rows->front().front().c_str());
}

// Without a session (a runner that launches commands detached): every query is its own `psql -c`. Enough for
// `check` and version questions; nothing that needs a transaction.
class OneShotConnection final : public Connection {
public:
    OneShotConnection(runner::Runner& runner, runner::Command base, std::string what)
        : m_runner(runner), m_base(std::move(base)), m_what(std::move(what))
    {
    }

    Result<std::vector<std::vector<std::string>>> query(const std::string& sql) override { return run(sql, false); }

    Result<std::vector<std::vector<std::string>>> run(const std::string& sql, bool connecting)
    {
        auto cmd = m_base;
        cmd.argv.push_back("-c");
        cmd.argv.push_back(wrap_query(sql));
        auto out = runner::run_capture(m_runner, cmd, 64 << 20);
        if (!out) {
            return std::unexpected(out.error());
        }
        if (!out->status.ok()) {
            std::string msg = psql_error(out->err);
            if (msg.empty()) {
                msg = "psql " + out->status.describe();
            }
            if (connecting || out->status.code == 2) {
                auto [kind, hint] = classify_connect_error(msg);
                return fail(kind, "connect to", m_what, msg, hint);
            }
            return fail(msg.find("permission denied") != std::string::npos ? ErrorKind::auth : ErrorKind::failed,
                        "query", m_what, msg);
        }
        std::vector<std::string> lines;
        std::size_t pos = 0;
        while (pos < out->out.size()) {
            auto nl = out->out.find('\n', pos);
            lines.push_back(out->out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
            pos = nl == std::string::npos ? out->out.size() : nl + 1;
        }
        return parse_rows(lines, m_what);
    }

    Status exec(const std::string& sql) override
    {
        return fail(ErrorKind::config, "run", m_what,
                    "'" + sql.substr(0, 40) + "' needs a session, which this runner cannot hold");
    }

    int server_version_num() const override { return m_version; }

    // Each query is its own psql, bounded by the runner; nothing to cancel from here.
    void cancel() noexcept override {}

    Status handshake()
    {
        auto version = server_version_of(run(k_version_query, true), m_what);
        if (!version) {
            return std::unexpected(version.error());
        }
        m_version = *version;
        return {};
    }

private:
    runner::Runner& m_runner;
    runner::Command m_base;
    std::string m_what;
    int m_version = 0;
};

class PsqlConnection final : public Connection {
public:
    // missing_hint: the remedy when psql is not there (the command exits 127 before it connects).
    PsqlConnection(std::unique_ptr<runner::Process> proc, std::string what, std::string missing_hint)
        : m_proc(std::move(proc)), m_what(std::move(what)), m_missing_hint(std::move(missing_hint))
    {
        m_marker = "__dbkeep_done_" + random_hex(8) + "__";
    }

    ~PsqlConnection() override
    {
        if (auto* in = m_proc->in()) {
            (void)in->finish();
        }
        (void)m_proc->wait();
    }

    // Runs the statements and returns the lines psql printed before the marker.
    Result<std::vector<std::string>> roundtrip(const std::string& statements, bool connecting = false)
    {
        if (m_broken) {
            return fail(ErrorKind::failed, "query", m_what, "the psql session ended earlier");
        }
        std::string text = statements + "\n\\echo " + m_marker + "\n";
        if (auto st = m_proc->in()->write(as_bytes(text)); !st) {
            return ended(connecting);
        }
        std::vector<std::string> lines;
        for (;;) {
            auto line = read_line();
            if (!line) {
                if (line.error().kind == ErrorKind::cancelled) {
                    m_broken = true;
                    m_proc->kill();
                    return std::unexpected(line.error());
                }
                return ended(connecting);
            }
            if (*line == m_marker) {
                return lines;
            }
            lines.push_back(std::move(*line));
        }
    }

    Result<std::vector<std::vector<std::string>>> query(const std::string& sql) override
    {
        return query_impl(sql, false);
    }

    Result<std::vector<std::vector<std::string>>> query_impl(const std::string& sql, bool connecting)
    {
        auto lines = roundtrip(wrap_query(sql), connecting);
        if (!lines) {
            return std::unexpected(lines.error());
        }
        return parse_rows(*lines, m_what);
    }

    Status exec(const std::string& sql) override
    {
        auto lines = roundtrip(sql + ";");
        if (!lines) {
            return std::unexpected(lines.error());
        }
        return {};
    }

    int server_version_num() const override { return m_version; }

    // Ends psql (the runner's Process cannot send it SIGINT); a statement the server is still running ends at
    // the session's lock_timeout at the latest.
    void cancel() noexcept override { m_proc->kill(); }

    Status handshake()
    {
        auto version = server_version_of(query_impl(k_version_query, true), m_what);
        if (!version) {
            return std::unexpected(version.error());
        }
        m_version = *version;
        // As in connect(): a SQL_ASCII database's bytes are taken as stored, not refused by a UTF8 client.
        auto encoding = query_impl("SELECT current_setting('server_encoding')", false);
        if (encoding && !encoding->empty() && !encoding->front().empty() && encoding->front().front() == "SQL_ASCII") {
            return exec("SET client_encoding = 'SQL_ASCII'");
        }
        return {};
    }

private:
    Result<std::string> read_line()
    {
        for (;;) {
            if (auto nl = m_buf.find('\n'); nl != std::string::npos) {
                std::string line = m_buf.substr(0, nl);
                m_buf.erase(0, nl + 1);
                return line;
            }
            std::uint8_t chunk[65536];
            auto n = m_proc->out().read(chunk);
            if (!n) {
                return std::unexpected(n.error());
            }
            if (*n == 0) {
                return fail(ErrorKind::failed, "query", m_what, "psql ended");
            }
            m_buf.append(reinterpret_cast<const char*>(chunk), *n);
        }
    }

    // psql stopped: its stderr says why (connection refused, bad password, SQL error).
    std::unexpected<Error> ended(bool connecting)
    {
        m_broken = true;
        if (auto* in = m_proc->in()) {
            in->abort();
        }
        auto status = m_proc->wait();
        std::string msg = psql_error(m_proc->error_output());
        if (msg.empty()) {
            msg = "psql " + (status ? status->describe() : status.error().message);
        }
        if (connecting) {
            auto [kind, hint] = classify_connect_error(msg);
            if (status && status->code == 127) {
                // The shell where the runner runs found no psql to run.
                kind = ErrorKind::not_found;
                hint = m_missing_hint;
            }
            return fail(kind, "connect to", m_what, msg, hint);
        }
        return fail(msg.find("permission denied") != std::string::npos ? ErrorKind::auth : ErrorKind::failed, "query",
                    m_what, msg);
    }

    std::unique_ptr<runner::Process> m_proc;
    std::string m_what;
    std::string m_missing_hint;
    std::string m_marker;
    std::string m_buf;
    bool m_broken = false;
    int m_version = 0;
};

} // namespace

Result<std::unique_ptr<Connection>> connect_via(runner::Runner& runner, const ConnectParams& params,
                                                const std::string& psql_path)
{
    // The url's own options travel in PGOPTIONS with the session's settings (an options keyword in --dbname
    // would override PGOPTIONS and drop lock_timeout).
    auto without_options = params.keywords;
    without_options.erase("options");
    runner::Command cmd;
    cmd.inherit = libpq_environment();
    cmd.argv = {psql_path,
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "--no-password",
                "--dbname=" + conninfo(without_options)};
    if (!params.password.empty()) {
        cmd.env["PGPASSWORD"] = params.password;
    }
    cmd.env["PGAPPNAME"] = "dbkeep";
    cmd.env["PGCLIENTENCODING"] = "UTF8";
    if (auto options = session_options(params); !options.empty()) {
        cmd.env["PGOPTIONS"] = options;
    }
    if (!runner.interactive()) {
        auto conn = std::make_unique<OneShotConnection>(runner, cmd, params.what + " (via " + runner.describe() + ")");
        if (auto st = conn->handshake(); !st) {
            return std::unexpected(st.error());
        }
        return conn;
    }
    cmd.with_stdin = true;
    auto proc = runner.start(cmd);
    if (!proc) {
        // Nothing started where the runner runs (its launcher or its container is missing): the runner's own
        // error says why. A psql missing there shows later, as the command's exit 127.
        auto e = proc.error();
        if (e.hint.empty()) {
            e.hint = "fix the runner: dbkeep check shows what fails";
        }
        return std::unexpected(e);
    }
    auto conn = std::make_unique<PsqlConnection>(std::move(*proc), params.what + " (via " + runner.describe() + ")",
                                                 "install psql where the runner runs (" + runner.describe() +
                                                     "), or set pg_dump_path to a pg_dump with psql in its folder");
    if (auto st = conn->handshake(); !st) {
        return std::unexpected(st.error());
    }
    return conn;
}

} // namespace dbkeep::engine::pg
