// How a PostgreSQL engine reaches its server: the target it serves, the libpq keywords for a connection, and a
// session (libpq from here, or psql where the runner runs) and the environment that carries the password.
#pragma once

#include "engine/postgres/connection.hpp"
#include "engine/postgres/postgres.hpp"
#include "runner/runner.hpp"

#include <memory>
#include <string>

namespace dbkeep::engine::pg {

// The target an engine serves: its name and URL for messages, and its options.
struct Target {
    std::string name;
    std::string url;
    PostgresOptions postgres;
};

// The connection keywords for host/port/user/dbname (empty or 0: libpq's defaults) with the target's sslmode
// and passfile; `what` (for messages) is the target's name. The session's lock_timeout is the target's
// lock_wait_timeout, so no statement of dbkeep's waits longer than that for a lock.
ConnectParams connect_params(const Target& target, const std::string& host, int port, const std::string& user,
                             const std::string& dbname, const std::string& password);

// The connection keywords for a --to URL (a postgres:// URI or a key=value string, read by libpq's
// PQconninfoParse, every libpq keyword kept): connect_params for its host, port, user and dbname, with its own
// password or else `password`, then the URL's other keywords (sslmode, options ...); `what` is the URL without
// its password. Fails (config) when libpq refuses the string, naming the parameter and never the password.
Result<ConnectParams> url_params(const Target& target, const std::string& url, const std::string& password);

// The connection keywords of the target's own server: connect_params for its host, port, user and dbname plus
// every further libpq keyword of its url (options, sslrootcert, target_session_attrs ...), so that libpq here,
// psql, pg_dump and pg_restore all receive the same connection.
ConnectParams target_params(const Target& target);

// A session with the server: libpq from here with a local runner, else psql where the runner (which must
// outlive the session) runs, since the database may be reachable only from inside its container. Fails as
// pg::connect or pg::connect_via fails.
Result<std::unique_ptr<Connection>> open_session(runner::Runner& runner, const Target& target,
                                                 const ConnectParams& params);

// psql beside the configured pg_dump, else "psql" from PATH.
std::string psql_path(const PostgresOptions& options);

// PGPASSWORD in cmd's environment when the options have a password.
void add_password_env(runner::Command& cmd, const PostgresOptions& options);

} // namespace dbkeep::engine::pg
