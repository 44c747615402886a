// Restoring a MySQL dump with the mariadb client, and the live statistics and scratch database of
// verify --restore.
#pragma once

#include "engine/mysql/client.hpp"

#include <map>

namespace dbkeep::engine::mysql {

// The table that marks a database as verify --restore's own scratch database (left out of statistics).
inline constexpr const char* k_scratch_table = "_dbkeep_scratch";

// Restores a dump read from in. A one-database backup (details "layout" = "database") goes into the --to URL's
// database, under any name; a several-database backup goes to a --to URL without a database, each database
// under its own name. A missing database is created with the source's character set and collation; one that
// holds tables, routines or events is refused unless options.clean (the dump drops each object it recreates);
// a database this restore created is dropped when it fails (unless keep_failed). With options.scratch, one
// database only: a database dbkeep marked is dropped and made afresh, an unmarked one holding objects refused.
Status restore_dump(runner::Runner& runner, const Target& target, stream::Source& in, const RestoreOptions& options);

// Drops the database of `url` when dbkeep marked it as a scratch database; leaves any other alone.
Status drop_scratch_database(runner::Runner& runner, const Target& target, const std::string& url,
                             const std::string& password);

// Exact row counts (SELECT COUNT(*)) of every base table of the database of `url`, under the target's own
// database name ("shop.orders" for a target of database shop restored into scratch), or of every user
// database of the server when the url names none; the scratch marker left out.
Result<std::map<std::string, std::int64_t>> live_stats(runner::Runner& runner, const Target& target,
                                                       const std::string& url, const std::string& password);

// `dbkeep check`: tools, connection, privileges (with the GRANT to run), binary log, tool against server
// version, non-transactional tables.
std::vector<Finding> probe_target(runner::Runner& runner, const Target& target);

} // namespace dbkeep::engine::mysql
