#include "engine/postgres/connection.hpp"

#include <libpq-fe.h>

namespace dbkeep::engine::pg {
namespace {

std::string clean_message(const char* msg)
{
    std::string s = msg ? msg : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    // libpq prefixes "connection to server at ... failed: "; keep it, it names the host.
    for (auto& c : s) {
        if (c == '\n') {
            c = ' ';
        }
    }
    return s;
}

class PgConnection final : public Connection {
public:
    PgConnection(PGconn* conn, std::string what) : m_conn(conn), m_what(std::move(what)) {}
    ~PgConnection() override { PQfinish(m_conn); }

    Result<std::vector<std::vector<std::string>>> query(const std::string& sql) override
    {
        PGresult* res = PQexec(m_conn, sql.c_str());
        auto status = PQresultStatus(res);
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            std::string msg = clean_message(PQresultErrorMessage(res));
            const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            std::string sqlstate = state ? state : "";
            PQclear(res);
            ErrorKind kind = sqlstate == "42501" ? ErrorKind::auth : ErrorKind::failed;
            return fail(kind, "query", m_what, msg);
        }
        std::vector<std::vector<std::string>> rows;
        int n = PQntuples(res), f = PQnfields(res);
        rows.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
            std::vector<std::string> row;
            for (int j = 0; j < f; ++j) {
                row.emplace_back(PQgetvalue(res, i, j), static_cast<std::size_t>(PQgetlength(res, i, j)));
            }
            rows.push_back(std::move(row));
        }
        PQclear(res);
        return rows;
    }

    Status exec(const std::string& sql) override
    {
        auto r = query(sql);
        if (!r) {
            return std::unexpected(r.error());
        }
        return {};
    }

    int server_version_num() const override { return PQserverVersion(m_conn); }

private:
    PGconn* m_conn;
    std::string m_what;
};

} // namespace

Result<std::unique_ptr<Connection>> connect(const ConnectParams& params)
{
    std::vector<const char*> keys, values;
    for (const auto& [k, v] : params.keywords) {
        if (!v.empty()) {
            keys.push_back(k.c_str());
            values.push_back(v.c_str());
        }
    }
    if (!params.password.empty()) {
        keys.push_back("password");
        values.push_back(params.password.c_str());
    }
    keys.push_back("application_name");
    values.push_back("dbkeep");
    if (!params.keywords.contains("connect_timeout")) {
        keys.push_back("connect_timeout");
        values.push_back("15");
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    PGconn* conn = PQconnectdbParams(keys.data(), values.data(), 0);
    if (conn == nullptr) {
        return fail(ErrorKind::failed, "connect to", params.what, "out of memory");
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        std::string msg = clean_message(PQerrorMessage(conn));
        PQfinish(conn);
        auto [kind, hint] = classify_connect_error(msg);
        return fail(kind, "connect to", params.what, msg, hint);
    }
    return std::make_unique<PgConnection>(conn, params.what);
}

std::pair<ErrorKind, std::string> classify_connect_error(const std::string& msg)
{
    if (msg.find("password authentication failed") != std::string::npos ||
        msg.find("no password supplied") != std::string::npos ||
        msg.find("authentication failed") != std::string::npos) {
        return {ErrorKind::auth, "check the target's password (or PGPASSWORD / passfile)"};
    }
    if (msg.find("does not exist") != std::string::npos) {
        return {ErrorKind::not_found, ""};
    }
    if (msg.find("Connection refused") != std::string::npos || msg.find("timeout") != std::string::npos ||
        msg.find("could not translate host name") != std::string::npos ||
        msg.find("No such file or directory") != std::string::npos) {
        return {ErrorKind::transient, "is the server running and reachable from where the runner runs?"};
    }
    return {ErrorKind::failed, ""};
}

std::string conninfo(const std::map<std::string, std::string>& keywords)
{
    std::string out;
    for (const auto& [k, v] : keywords) {
        if (v.empty()) {
            continue;
        }
        std::string quoted = "'";
        for (char c : v) {
            if (c == '\'' || c == '\\') {
                quoted.push_back('\\');
            }
            quoted.push_back(c);
        }
        quoted += "'";
        out += (out.empty() ? "" : " ") + k + "=" + quoted;
    }
    return out;
}

std::string quote_ident(const std::string& name)
{
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') {
            out.push_back('"');
        }
        out.push_back(c);
    }
    return out + "\"";
}

} // namespace dbkeep::engine::pg
