// MySQL / MariaDB: mariadb-dump (or mysqldump) --single-transaction streamed as SQL text, row counts per table
// and the binary-log coordinates read from the stream as it passes; the mariadb (mysql) client restores it.
// Every tool runs through the target's Runner; the password reaches them only as MYSQL_PWD in their
// environment, never in an argv.
#pragma once

#include "core/secret.hpp"
#include "engine/engine.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace dbkeep::engine {

// A MySQL / MariaDB target's connection and what it dumps, as the configuration gives them.
struct MysqlOptions {
    std::string host;   // empty: the client's default (localhost, its socket)
    int port = 0;       // 0: the client's default (3306)
    std::string user;   // empty: the client's default
    std::string socket; // a unix socket path where the tools run (with host localhost)
    Secret password;
    // What one backup holds: `database` alone (a dump without CREATE DATABASE, restorable under any name), or
    // every database named in `databases`, or every user database (`all_databases`: all but mysql, sys,
    // information_schema and performance_schema, listed when the backup starts), each under its own name.
    std::string database;
    std::vector<std::string> databases;
    bool all_databases = false;
    std::string dump_path;   // overrides the search for mariadb-dump, then mysqldump
    std::string client_path; // overrides the search for mariadb, then mysql
    // The longest time the dump may write nothing: with --single-transaction --quick a silent dump waits for a
    // lock (a table held by LOCK TABLES or an ALTER, or MySQL's FLUSH TABLES WITH READ LOCK for the binary-log
    // position). The dump is then stopped, its waiting statement cancelled on the server, and the backup fails.
    std::chrono::seconds lock_wait_timeout{300};
};

// The engine for target `target` (its name, for messages) at `url` (secrets removed), running its tools through
// runner, which must outlive the engine. Fails (config) when the options name no database at all.
Result<std::unique_ptr<Engine>> make_mysql_engine(const std::string& target, const std::string& url,
                                                  const MysqlOptions& options, runner::Runner& runner);

} // namespace dbkeep::engine
