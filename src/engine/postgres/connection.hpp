// A libpq connection as the engine uses it: connect with typed errors, run queries.
#pragma once

#include "core/error.hpp"

#include <map>
#include <memory>
#include <string>
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
};

class Connection {
public:
    virtual ~Connection() = default;
    // Rows of text values (NULL as empty). Fails with the server's message.
    virtual Result<std::vector<std::vector<std::string>>> query(const std::string& sql) = 0;
    virtual Status exec(const std::string& sql) = 0;
    virtual int server_version_num() const = 0; // 150018
};

Result<std::unique_ptr<Connection>> connect(const ConnectParams& params);

// The same session through a runner: psql runs where the runner runs (inside the container, over ssh, ...)
// and every query travels over its stdin/stdout, so a database that is reachable only there can be used.
// The password reaches psql through its environment.
Result<std::unique_ptr<Connection>> connect_via(runner::Runner& runner, const ConnectParams& params,
                                                const std::string& psql_path = "psql");

// The kind and a hint for a libpq/psql connection failure message.
std::pair<ErrorKind, std::string> classify_connect_error(const std::string& message);

// key='value' conninfo string without the password (for pg_dump's --dbname).
std::string conninfo(const std::map<std::string, std::string>& keywords);

// "public"."Orders" quoting.
std::string quote_ident(const std::string& name);

} // namespace dbkeep::engine::pg
