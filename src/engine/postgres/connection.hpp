// A libpq connection as the engine uses it: connect with typed errors, run queries.
#pragma once

#include "core/error.hpp"
#include "stream/sink.hpp"

#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dbkeep::runner {
class Runner;
}

namespace dbkeep::engine::pg {

struct ConnectParams {
    std::map<std::string, std::string> keywords; // host, port, user, dbname, sslmode, passfile
    std::string password;                        // kept apart so it never lands in a printed string
    std::string what;                            // target name or URL for messages
    // Server settings for the session (lock_timeout -> 300000), sent when it starts (libpq's `options`,
    // psql's PGOPTIONS), never to pg_dump or pg_restore.
    std::map<std::string, std::string> settings;
};

class Connection {
public:
    virtual ~Connection() = default;
    // Rows of text values (NULL as empty). Fails with the server's message.
    virtual Result<std::vector<std::vector<std::string>>> query(const std::string& sql) = 0;
    virtual Status exec(const std::string& sql) = 0;
    virtual int server_version_num() const = 0; // 150018
    // Asks the server to stop the statement running on this session, from any thread (a statement blocked on
    // a lock included); that query() then fails. A no-op when nothing runs. Never throws.
    virtual void cancel() noexcept = 0;

    // Runs `sql`, a `COPY ... TO STDOUT` statement (text format), writing its data into out (write() only, in
    // pieces of up to 1 MiB; the caller finishes out). Returns the rows the server reports for it. Fails with
    // the server's message, out's error (the statement is then cancelled and its result drained), or
    // ErrorKind::cancelled on cancel::requested(). Only a direct (libpq) connection can; the others fail with
    // ErrorKind::config.
    virtual Result<std::int64_t> copy_out(const std::string& sql, stream::Sink& out)
    {
        (void)sql;
        (void)out;
        return fail(ErrorKind::config, "copy", "", "COPY needs a direct connection to the server (runner: local)");
    }

    // Runs `sql`, a `COPY ... FROM STDIN` statement (text format), feeding it in to its end. Returns the rows the
    // server loaded. When reading in fails (a checksum found wrong at its end, cancel::requested()) the copy is
    // ended with an error, so the server discards every row of it, and that error is returned. Direct
    // connections only, as copy_out.
    virtual Result<std::int64_t> copy_in(const std::string& sql, stream::Source& in)
    {
        (void)sql;
        (void)in;
        return fail(ErrorKind::config, "copy", "", "COPY needs a direct connection to the server (runner: local)");
    }
};

// A libpq session. Text comes back in UTF-8 (client_encoding UTF8: the server converts from the database's
// encoding; a SQL_ASCII database's bytes come as stored and invalid UTF-8 in them is escaped, see
// utf8_or_escaped). Connecting is bounded by connect_timeout (15 s unless the keywords say otherwise).
Result<std::unique_ptr<Connection>> connect(const ConnectParams& params);

// The same session through a runner: psql runs where the runner runs (inside the container, over ssh, ...)
// and every query travels over its stdin/stdout, so a database that is reachable only there can be used.
// The password reaches psql through its environment.
Result<std::unique_ptr<Connection>> connect_via(runner::Runner& runner, const ConnectParams& params,
                                                const std::string& psql_path = "psql");

// The kind and a hint for a libpq/psql connection failure message, the hint chosen by the cause the message
// names (a wrong or missing password, peer/ident authentication, a pg_hba.conf refusal, a host name that does
// not resolve, a missing Unix socket, a refused or timed-out connection) and empty for any other: auth for an
// authentication failure, not_found for a missing database or role, transient for an unreachable server,
// failed otherwise. Pure.
std::pair<ErrorKind, std::string> classify_connect_error(const std::string& message);

// libpq's `options` value for params: its own `options` keyword, then `-c name=value` for each setting.
std::string session_options(const ConnectParams& params);

// A libpq connection string as libpq itself reads it (PQconninfoParse): a postgres:// or postgresql:// URI or
// key=value pairs. `keywords` holds every parameter the string sets except the password, by libpq's keyword
// names (a URI's host, port, user and path become host, port, user and dbname; ?host=/run/postgresql names
// a socket directory as it does for psql); `password` holds the password when the string carries one. An '@' in a
// URI's password that is not percent-encoded stays in the password (the authority's last '@' ends the userinfo).
struct ParsedConninfo {
    std::map<std::string, std::string> keywords;
    std::string password;
};
// Why a connection string was refused: libpq's message with any password in the string replaced by ***,
// and the offset in the string of the parameter it names (npos when it names none).
struct ConninfoError {
    std::string message;
    std::size_t offset = std::string::npos;
};
// Fails for a parameter libpq does not know, a malformed URI or a malformed key=value string. Never throws
// (but for std::bad_alloc).
std::expected<ParsedConninfo, ConninfoError> parse_conninfo(const std::string& text);

// key='value' conninfo string without the password (for pg_dump's --dbname).
std::string conninfo(const std::map<std::string, std::string>& keywords);

// text unchanged when it is valid UTF-8; otherwise each byte that is not part of a valid UTF-8 sequence becomes
// the four characters \xNN (lower-case hex), so that names and messages from a database in any encoding reach
// manifests, logs and JSON safely. A backslash already in the text stays as it is. `prefix` replaces \x (psql's
// JSON output is escaped with "\\\\x", which decodes to the same \xNN).
std::string utf8_or_escaped(std::string_view text, std::string_view prefix = "\\x");

// "public"."Orders" quoting.
std::string quote_ident(const std::string& name);

} // namespace dbkeep::engine::pg
