#include "engine/postgres/connection.hpp"

#include "core/cancel.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>

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
    PgConnection(PGconn* conn, std::string what) : m_conn(conn), m_cancel(PQgetCancel(conn)), m_what(std::move(what)) {}
    ~PgConnection() override
    {
        PQfreeCancel(m_cancel);
        PQfinish(m_conn);
    }
    PgConnection(const PgConnection&) = delete;
    PgConnection& operator=(const PgConnection&) = delete;

    void cancel() noexcept override
    {
        if (m_cancel != nullptr) {
            char err[256] = {};
            (void)PQcancel(m_cancel, err, sizeof err); // thread-safe; a failed request leaves lock_timeout to end it
        }
    }

    Result<std::vector<std::vector<std::string>>> query(const std::string& sql) override
    {
        PGresult* res = PQexec(m_conn, sql.c_str());
        auto status = PQresultStatus(res);
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            std::string msg = utf8_or_escaped(clean_message(PQresultErrorMessage(res)));
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
                row.push_back(utf8_or_escaped(
                    std::string_view(PQgetvalue(res, i, j), static_cast<std::size_t>(PQgetlength(res, i, j)))));
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

    Result<std::int64_t> copy_out(const std::string& sql, stream::Sink& out) override
    {
        PGresult* res = PQexec(m_conn, sql.c_str());
        if (PQresultStatus(res) != PGRES_COPY_OUT) {
            return result_error(res, sql);
        }
        PQclear(res);
        // Rows arrive one CopyData message each: gathered into 1 MiB pieces, so the pipeline sees few writes.
        std::vector<std::uint8_t> piece;
        piece.reserve(k_piece + (64 << 10));
        std::optional<Error> failed;
        for (;;) {
            char* row = nullptr;
            const int n = PQgetCopyData(m_conn, &row, 0);
            if (n < 0) {
                break; // -1: done (the result follows); -2: error (likewise)
            }
            if (!failed) {
                piece.insert(piece.end(), row, row + n);
            }
            PQfreemem(row);
            if (!failed && cancel::requested()) {
                failed = Error{ErrorKind::cancelled, "copy", m_what, "cancelled"};
                cancel();
            }
            if (!failed && piece.size() >= k_piece) {
                if (auto st = out.write(Bytes(piece.data(), piece.size())); !st) {
                    failed = st.error();
                    cancel(); // stop the server sending; the rest is drained and dropped
                }
                piece.clear();
            }
        }
        if (!failed && !piece.empty()) {
            if (auto st = out.write(Bytes(piece.data(), piece.size())); !st) {
                failed = st.error();
            }
        }
        auto rows = finish_copy(sql);
        if (failed) {
            return std::unexpected(*failed);
        }
        return rows;
    }

    Result<std::int64_t> copy_in(const std::string& sql, stream::Source& in) override
    {
        PGresult* res = PQexec(m_conn, sql.c_str());
        if (PQresultStatus(res) != PGRES_COPY_IN) {
            return result_error(res, sql);
        }
        PQclear(res);
        std::vector<std::uint8_t> buf(k_piece);
        std::optional<Error> failed;
        for (;;) {
            if (cancel::requested()) {
                failed = Error{ErrorKind::cancelled, "copy", m_what, "cancelled"};
                break;
            }
            auto n = in.read(buf);
            if (!n) {
                failed = n.error();
                break;
            }
            if (*n == 0) {
                break;
            }
            if (PQputCopyData(m_conn, reinterpret_cast<const char*>(buf.data()), static_cast<int>(*n)) != 1) {
                break; // the connection failed: its message comes with the result
            }
        }
        // An input that failed ends the COPY with an error: the server discards every row it sent.
        (void)PQputCopyEnd(m_conn, failed ? "dbkeep: the input failed" : nullptr);
        auto rows = finish_copy(sql);
        if (failed) {
            return std::unexpected(*failed);
        }
        return rows;
    }

private:
    static constexpr std::size_t k_piece = std::size_t{1} << 20;

    Result<std::int64_t> result_error(PGresult* res, const std::string& sql)
    {
        (void)sql;
        std::string msg =
            utf8_or_escaped(clean_message(res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(m_conn)));
        const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
        const ErrorKind kind = state != nullptr && std::string(state) == "42501" ? ErrorKind::auth : ErrorKind::failed;
        PQclear(res);
        // Drain any further results so the session can be used (or closed) cleanly.
        while (PGresult* more = PQgetResult(m_conn)) {
            PQclear(more);
        }
        return fail(kind, "copy", m_what, msg.empty() ? "the connection failed" : msg);
    }

    // The COPY's final result: its rows (the command tag), or the server's error.
    Result<std::int64_t> finish_copy(const std::string& sql)
    {
        PGresult* res = PQgetResult(m_conn);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            return result_error(res, sql);
        }
        const std::int64_t rows = std::strtoll(PQcmdTuples(res), nullptr, 10);
        PQclear(res);
        while (PGresult* more = PQgetResult(m_conn)) {
            PQclear(more);
        }
        return rows;
    }

    PGconn* m_conn;
    PGcancel* m_cancel; // null when libpq could not make one
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
    if (!params.keywords.contains("client_encoding")) {
        keys.push_back("client_encoding");
        values.push_back("UTF8");
    }
    const std::string options = session_options(params);
    if (!options.empty()) {
        keys.push_back("options");
        values.push_back(options.c_str());
    }
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
        std::string msg = utf8_or_escaped(clean_message(PQerrorMessage(conn)));
        PQfinish(conn);
        auto [kind, hint] = classify_connect_error(msg);
        return fail(kind, "connect to", params.what, msg, hint);
    }
    // A SQL_ASCII database has no encoding to convert from, and the server refuses to send its bytes to a UTF8
    // client when they are not UTF-8: take them as stored (utf8_or_escaped escapes what is not UTF-8).
    if (const char* enc = PQparameterStatus(conn, "server_encoding");
        enc != nullptr && std::string(enc) == "SQL_ASCII") {
        PQsetClientEncoding(conn, "SQL_ASCII");
    }
    return std::make_unique<PgConnection>(conn, params.what);
}

std::pair<ErrorKind, std::string> classify_connect_error(const std::string& msg)
{
    const auto has = [&](const char* part) { return msg.find(part) != std::string::npos; };
    if (has("password authentication failed") || has("no password supplied")) {
        return {ErrorKind::auth, "check the target's password (or PGPASSWORD / passfile)"};
    }
    // peer / ident: the server compares the client's OS user with the role; no password is asked.
    if (has("Peer authentication failed") || has("Ident authentication failed")) {
        return {ErrorKind::auth, "the server's pg_hba.conf matches this connection to peer/ident (OS user name) "
                                 "authentication: connect as the OS user of that name, give the target a host "
                                 "reached over TCP with a password, or change pg_hba.conf"};
    }
    if (has("no pg_hba.conf entry") || has("pg_hba.conf rejects connection")) {
        return {ErrorKind::auth, "add a line for this host, user and database to the server's pg_hba.conf (then "
                                 "SELECT pg_reload_conf())"};
    }
    if (has("authentication failed")) { // another method (GSSAPI, SSPI, certificate, ...): its cause is unknown here
        return {ErrorKind::auth, ""};
    }
    // FATAL:  role "x" does not exist / database "x" does not exist: the url names what the server lacks.
    if (has("FATAL:") && has("role \"") && has("does not exist")) {
        return {ErrorKind::not_found, "the server has no role of the url's user name: check the user in the target's "
                                      "url, or create the role (CREATE ROLE name LOGIN, with the grants `dbkeep check` "
                                      "names)"};
    }
    if (has("FATAL:") && has("database \"") && has("does not exist")) {
        return {ErrorKind::not_found, "the server has no database of that name: check the database in the url "
                                      "(psql -l lists them), or use databases: all to back up every database"};
    }
    if (has("does not exist")) {
        return {ErrorKind::not_found, ""};
    }
    if (has("could not translate host name")) {
        return {ErrorKind::transient, "check the target's host name: it does not resolve where the runner runs"};
    }
    if (has("on socket") && has("No such file or directory")) {
        return {ErrorKind::transient, "no server listens on that socket: is it running there, or give the target "
                                      "its host (and port)?"};
    }
    if (has("Connection refused") || has("timeout expired") || has("Connection timed out") || has("No route to host") ||
        has("Network is unreachable")) {
        return {ErrorKind::transient, "is the server running and reachable from where the runner runs?"};
    }
    return {ErrorKind::failed, ""};
}

namespace {

// The values that may be a password in a connection string, as written and percent-decoded: a URI's userinfo
// after ':' and every password= value (URI query or key=value). Over-approximates, never under.
std::vector<std::string> password_candidates(const std::string& text)
{
    std::vector<std::string> out;
    auto decode = [](const std::string& v) {
        std::string d;
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (v[i] == '%' && i + 2 < v.size() && std::isxdigit(static_cast<unsigned char>(v[i + 1])) != 0 &&
                std::isxdigit(static_cast<unsigned char>(v[i + 2])) != 0) {
                d.push_back(static_cast<char>(std::stoi(v.substr(i + 1, 2), nullptr, 16)));
                i += 2;
            } else {
                d.push_back(v[i]);
            }
        }
        return d;
    };
    auto add = [&](const std::string& v) {
        if (!v.empty()) {
            out.push_back(v);
            out.push_back(decode(v));
        }
    };
    if (auto scheme = text.find("://"); scheme != std::string::npos) {
        auto start = scheme + 3;
        auto at = text.rfind('@');
        if (at != std::string::npos && at > start) {
            auto colon = text.find(':', start);
            if (colon != std::string::npos && colon < at) {
                add(text.substr(colon + 1, at - colon - 1));
            }
        }
    }
    for (auto pos = text.find("password"); pos != std::string::npos; pos = text.find("password", pos + 1)) {
        auto eq = text.find_first_not_of(' ', pos + 8);
        if (eq == std::string::npos || text[eq] != '=') {
            continue;
        }
        auto v = text.find_first_not_of(' ', eq + 1);
        if (v == std::string::npos) {
            continue;
        }
        if (text[v] == '\'') {
            auto end = text.find('\'', v + 1);
            add(text.substr(v + 1, end == std::string::npos ? std::string::npos : end - v - 1));
        } else {
            auto end = text.find_first_of(" &", v);
            add(text.substr(v, end == std::string::npos ? std::string::npos : end - v));
        }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    return out;
}

// Where parameter `name` is written in text (after ?, & or a blank, or at the start), or npos.
std::size_t parameter_offset(const std::string& text, const std::string& name)
{
    if (name.empty()) {
        return std::string::npos;
    }
    for (auto pos = text.find(name); pos != std::string::npos; pos = text.find(name, pos + 1)) {
        if (pos == 0 || text[pos - 1] == '?' || text[pos - 1] == '&' || text[pos - 1] == ' ') {
            return pos;
        }
    }
    return text.find(name);
}

} // namespace

std::expected<ParsedConninfo, ConninfoError> parse_conninfo(const std::string& given)
{
    // An '@' of a URI's userinfo that is not percent-encoded (postgres://u:p@ss@h/db) would end it early and
    // leave the rest of the password in the host name: the last '@' of the authority ends the userinfo.
    std::string text = given;
    if (text.starts_with("postgres://") || text.starts_with("postgresql://")) {
        const auto start = text.find("://") + 3;
        const auto end = std::min(text.find_first_of("/?", start), text.size());
        const auto last_at = text.rfind('@', end == 0 ? 0 : end - 1);
        if (last_at != std::string::npos && last_at > start) {
            for (auto pos = text.find('@', start); pos < last_at; pos = text.find('@', pos + 3)) {
                text.replace(pos, 1, "%40");
            }
        }
    }
    char* err = nullptr;
    PQconninfoOption* options = PQconninfoParse(text.c_str(), &err);
    if (options == nullptr) {
        ConninfoError e;
        e.message = err != nullptr ? clean_message(err) : "out of memory";
        PQfreemem(err);
        for (const auto& secret : password_candidates(text)) {
            for (auto pos = e.message.find(secret); pos != std::string::npos; pos = e.message.find(secret, pos + 3)) {
                e.message.replace(pos, secret.size(), "***");
            }
        }
        // libpq quotes the parameter it refuses: "invalid connection option "x"", "invalid URI query parameter:
        // "x"".
        if (e.message.find("invalid connection option") != std::string::npos ||
            e.message.find("invalid URI query parameter") != std::string::npos) {
            auto open = e.message.find('"');
            auto close = open == std::string::npos ? open : e.message.find('"', open + 1);
            if (close != std::string::npos) {
                e.offset = parameter_offset(text, e.message.substr(open + 1, close - open - 1));
            }
        }
        e.message = utf8_or_escaped(e.message);
        return std::unexpected(std::move(e));
    }
    ParsedConninfo out;
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
        if (o->val == nullptr) {
            continue;
        }
        if (std::string(o->keyword) == "password") {
            out.password = o->val;
        } else {
            out.keywords[o->keyword] = o->val;
        }
    }
    PQconninfoFree(options);
    return out;
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

std::string session_options(const ConnectParams& params)
{
    std::string out = params.keywords.contains("options") ? params.keywords.at("options") : "";
    for (const auto& [name, value] : params.settings) {
        out += (out.empty() ? "-c " : " -c ") + name + "=";
        for (char c : value) {
            if (c == ' ' || c == '\\') {
                out.push_back('\\'); // libpq's options split on unescaped blanks
            }
            out.push_back(c);
        }
    }
    return out;
}

std::string utf8_or_escaped(std::string_view text, std::string_view prefix)
{
    // The length of the valid UTF-8 sequence at i (RFC 3629: no overlongs, no surrogates, <= U+10FFFF), or 0.
    auto valid_at = [&](std::size_t i) -> std::size_t {
        auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
        auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
            return k < text.size() && b(k) >= lo && b(k) <= hi;
        };
        unsigned c = b(i);
        if (c < 0x80) {
            return 1;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            return cont(i + 1) ? 2 : 0;
        }
        if (c >= 0xE0 && c <= 0xEF) {
            unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
        }
        if (c >= 0xF0 && c <= 0xF4) {
            unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
        }
        return 0;
    };
    std::string out;
    out.reserve(text.size());
    static constexpr char k_hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < text.size();) {
        if (std::size_t n = valid_at(i); n > 0) {
            out.append(text.substr(i, n));
            i += n;
            continue;
        }
        auto c = static_cast<unsigned char>(text[i]);
        out += prefix;
        out.push_back(k_hex[c >> 4]);
        out.push_back(k_hex[c & 0xF]);
        ++i;
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
