// SQLite: a consistent copy of a database file taken with libsqlite3's online backup API inside one read
// transaction (or, through a runner, by the sqlite3 CLI at the other end), checked with PRAGMA
// integrity_check and counted table by table before it is committed; restored to a path atomically.
#pragma once

#include "engine/engine.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace dbkeep::engine {

// A SQLite target, as the configuration gives it.
struct SqliteOptions {
    std::string path;               // the database file, absolute, on the machine where the runner runs
    std::filesystem::path temp_dir; // where the private staging copy goes; empty: $TMPDIR, else /tmp
};

// The engine for target `target` (its name, for messages), running the sqlite3 CLI through runner when it is
// not local; runner must outlive the engine. Never fails today; Result for future checks.
Result<std::unique_ptr<Engine>> make_sqlite_engine(const std::string& target, const SqliteOptions& options,
                                                   runner::Runner& runner);

// Pure helpers, for tests.

// An SQL identifier in double quotes, inner quotes doubled: `a"b` -> `"a""b"`.
std::string sqlite_quote_identifier(std::string_view name);

// A restore destination as `restore --to` or `verify --to` give it: a plain path or a file: URL
// (file:/abs, file:///abs, file://localhost/abs; %XX decoded, no query). Nothing for anything else (another
// scheme, a file: URL naming a remote host, an empty path).
std::optional<std::string> sqlite_destination_path(std::string_view to);

// True when `header` (the file's first bytes) starts with SQLite's magic "SQLite format 3\0".
bool is_sqlite_header(std::string_view header) noexcept;

// The POSIX shell script a runner executes to copy the database at $1 to its stdout: the sqlite3 CLI takes a
// `.backup` inside one read transaction into a private temp folder (mktemp -d, umask 077), which a trap removes
// on every exit; then the copy is cat to stdout.
std::string sqlite_runner_dump_script();

// The POSIX shell script a runner executes to restore the database read from stdin to the absolute path $1
// ($2 "1" for --force): refuses a destination in use (-wal/-shm/-journal beside it) and, without force, any
// existing one; writes a temp file of mode 0600 in the destination's folder (a trap removes it on every exit),
// syncs it, checks PRAGMA integrity_check with the sqlite3 CLI and renames it into place. Exit codes: 3 no such
// folder, 6 in use, 7 exists, 8 nothing received, 9 integrity, 127 no sqlite3; messages on stderr.
std::string sqlite_runner_restore_script();

} // namespace dbkeep::engine
