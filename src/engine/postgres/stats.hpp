// Exact row counts of a live database's tables: what a test restore is compared with (a dump's own counts come
// from its archive, see dump.hpp).
#pragma once

#include "core/error.hpp"
#include "engine/postgres/connection.hpp"
#include "engine/postgres/session.hpp"
#include "runner/runner.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

namespace dbkeep::engine::pg {

// "schema.table" -> rows, for every ordinary table outside the system schemas and not member of an extension
// (CREATE EXTENSION fills those; a dump holds only their user rows), counted on conn (inside
// whatever transaction it holds). Names are UTF-8 (escaped where the database's bytes are not, see
// utf8_or_escaped). Fails as a query fails (naming the table), or with ErrorKind::cancelled on a signal or once
// *stop (when given) is set; conn.cancel() from another thread ends a count waiting for a lock.
Result<std::map<std::string, std::int64_t>> count_rows(Connection& conn, const std::atomic<bool>* stop = nullptr);

// count_rows in a repeatable-read snapshot of the database at `to_url` (its password, else `password`),
// reached as the runner reaches it. Fails with ErrorKind::config for a url that is not one.
Result<std::map<std::string, std::int64_t>> database_stats(runner::Runner& runner, const Target& target,
                                                           const std::string& to_url, const std::string& password);

} // namespace dbkeep::engine::pg
