// Finding the pg_dump / pg_restore that fits a server where the runner runs, and reading what such a tool
// says on stderr.
#pragma once

#include "engine/postgres/postgres.hpp"
#include "engine/postgres/session.hpp"
#include "runner/runner.hpp"

#include <string>
#include <vector>

namespace dbkeep::engine::pg {

// The first error line of a tool's stderr, without its "pg_dump: error: " prefix and trailing blanks.
std::string first_line(const std::string& text);

// What the PostgreSQL client tools may inherit from dbkeep's environment (runner::Command::inherit): libpq's
// own variables, PG* (PGHOST, PGSSLMODE, PGPASSFILE, PGPASSWORD ...), as a plain pg_dump would see them.
std::vector<std::string> libpq_environment();

// Everything a tool said on stderr, for an error message: its lines (at most 30, 4000 bytes) joined with "; ",
// the "pg_dump: " / "pg_restore: " prefixes and the first "error: " dropped, so that the server's DETAIL and
// HINT and the tool's "detail:" / "hint:" lines are kept. UTF-8, escaped where the bytes are not.
std::string tool_message(const std::string& text);

// The tool `name` (pg_dump / pg_restore) for a server major version (0: unknown, the newest found), run
// through the runner: the configured override path, else every /usr/lib/postgresql/*/bin (local runner) and
// PATH, picked by pick_tool. Fails with ErrorKind::not_found (and a hint) when every probe answered and none
// fits; when the probes got no answer (a runner timeout, a launcher that failed), with that error's kind and a
// message that says so, never "found none"; cancelled when cancelled. Warns when the tool is newer than the
// server.
Result<ToolCandidate> find_tool(runner::Runner& runner, const Target& target, const std::string& name,
                                const std::string& override_path, int server_major);

} // namespace dbkeep::engine::pg
