// How the MySQL engine reaches its server: the target it serves, the endpoint of a connection (its own or a
// --to URL), the client tools found where the runner runs, and one-shot queries through the mariadb client.
#pragma once

#include "engine/mysql/mysql.hpp"
#include "runner/runner.hpp"

#include <string>
#include <vector>

namespace dbkeep::engine::mysql {

// The target an engine serves: its name and URL for messages, and its options.
struct Target {
    std::string name;
    std::string url;
    MysqlOptions options;
};

// One server to connect to, and the database (empty: none) a tool starts in.
struct Endpoint {
    std::string host, user, socket, database;
    int port = 0;
    std::string password; // only ever into MYSQL_PWD
    std::string what;     // for messages: mysql://user@host:port/db, never the password
};

// The target's own server and database (its single `database`, else none).
Endpoint target_endpoint(const Target& target);

// A --to URL: mysql://[user[:password]@]host[:port][/database][?socket=PATH]; the URL's password, else
// `password`. Fails (config) for anything else, never echoing the password.
Result<Endpoint> parse_endpoint(const std::string& url, const std::string& password);

// --host/--port/--user/--socket for a tool; never the password.
std::vector<std::string> connection_args(const Endpoint& endpoint);

// A command for a tool: argv[0] `path`, the connection arguments, MYSQL_PWD in its environment when there is
// a password, and the client's MYSQL_* variables of dbkeep's environment inherited.
runner::Command tool_command(const std::string& path, const Endpoint& endpoint);

// A client tool found where the runner runs.
struct Tool {
    std::string path;    // "mariadb-dump"
    std::string version; // "10.11.19-MariaDB" (the Distrib the tool belongs to)
};

// "mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)" -> "10.11.19-MariaDB";
// "mysqldump  Ver 8.0.36 for Linux on x86_64" -> "8.0.36"; "mariadb from 11.4.2-MariaDB, client 15.2" ->
// "11.4.2-MariaDB". Empty when the text is none of those. Pure.
std::string parse_tool_version(const std::string& output);

// The dump tool (dump = true: mariadb-dump, else mysqldump) or the client (mariadb, else mysql), or the
// configured override path, run with --version through the runner. Fails (not_found, with the install hint)
// when none answers; cancelled when cancelled.
Result<Tool> find_tool(runner::Runner& runner, const Target& target, bool dump);

// Everything a tool said on stderr, for an error message: its lines (at most 30, 4000 bytes) joined by "; ",
// the "mariadb-dump: " prefixes kept out; UTF-8, escaped where the bytes are not.
std::string tool_message(const std::string& text);

// The error for a tool's failure with its stderr: kind auth for access denied, not_found for an unknown
// database, transient for a server that cannot be reached (a host name that does not resolve has its own
// remedy), conflict for a lock wait timeout, else failed; with the remedy for the cause, none for any other.
// Error numbers count only as the tools print them ("ERROR 1049 (", "Got error: 1049:"). Pure.
Error tool_error(const std::string& operation, const std::string& object, const std::string& tool,
                 const runner::ExitStatus& status, const std::string& stderr_text);

using Rows = std::vector<std::vector<std::string>>;

// Runs SQL statements through the client at `endpoint` and returns the last result's rows (tab-separated
// fields as --batch --raw writes them: callers HEX() any value that may hold a tab or a newline; NULL reads
// "NULL"). Fails as tool_error says.
Result<Rows> query(runner::Runner& runner, const std::string& client, const Endpoint& endpoint, const std::string& sql);

// `name` as a backtick-quoted identifier.
std::string quote_name(const std::string& name);
// `text` as a '...' string literal (backslash and quote escaped).
std::string quote_string(const std::string& text);
// Hex digits back to bytes ("6162" -> "ab"); empty on bad input.
std::string unhex(const std::string& hex);

// The system schemas that `databases: all` leaves out.
bool is_system_database(const std::string& name);

} // namespace dbkeep::engine::mysql
