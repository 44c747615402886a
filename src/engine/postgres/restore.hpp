// A PostgreSQL restore: pg_restore where the runner runs, fed from the dump's source (or from a temp file for
// a parallel restore), into a database that is created like the source's when it does not exist yet.
#pragma once

#include "engine/engine.hpp"
#include "engine/postgres/session.hpp"
#include "runner/runner.hpp"
#include "stream/sink.hpp"

namespace dbkeep::engine::pg {

// Restores the custom-format dump read from in into options.to_url (a postgres:// url with a database; the
// url's password, else options.password), through the runner (which must outlive the call).
// A database that does not exist is created as the dump's DATABASE entries say (read from the dump's table of
// contents by pg_restore --create --schema-only): from template0 with the source's encoding, locale and
// locale provider, then its ALTER DATABASE ... SET settings, owner, comment and ACL under the new name; a
// statement the server refuses is an error before any object is restored. A database that exists and holds
// user objects is refused unless options.clean (pg_restore --clean --if-exists). A failed restore drops the
// database it created unless options.keep_failed. A single-job restore runs in one transaction, so an input
// found corrupt at its end (SHA-256) commits nothing. With options.scratch (verify --restore) a database this
// function marked earlier is dropped and made afresh, and one it did not make is refused when it holds
// objects; the database it makes or adopts is marked (setting dbkeep.scratch) for drop_scratch_database.
// With jobs > 1 the
// dump is first written to a file of mode 0600 (O_EXCL | O_NOFOLLOW) in a private folder (mkdtemp, mode 0700)
// made in options.temp_dir ($TMPDIR, else /tmp, when empty); both are removed on every path. pg_restore's
// errors keep everything it said (DETAIL and HINT included). Fails with ErrorKind::config
// for a bad url, as the connection, CREATE DATABASE, the tool search or pg_restore fail; an input that is
// corrupt or cancelled stops pg_restore at once.
Status restore_database(runner::Runner& runner, const Target& target, stream::Source& in,
                        const RestoreOptions& options);

// Drops the database of url when restore_database marked it as a scratch database; leaves any other (and a
// missing one) alone. Fails as the connection or DROP DATABASE fails.
Status drop_scratch_database(runner::Runner& runner, const Target& target, const std::string& url,
                             const std::string& password);

// The remedy for a refusal a restore met (pg_restore's message, or the server's answer to CREATE DATABASE or the
// source database's settings), by the cause it names: a missing role, too few locks for a single-job
// restore, a locale or collation the server lacks, no right to create databases; empty for any other. Pure.
std::string restore_remedy(const std::string& message);
// Whether the database of conn holds user objects (schemas besides public, relations, functions, types,
// extensions besides plpgsql, large objects): a restore into it would fail half-way. Fails as the query fails.
Result<bool> holds_user_objects(Connection& conn);

} // namespace dbkeep::engine::pg
