// A PostgreSQL restore: pg_restore where the runner runs, fed from the dump's source (or from a temp file for
// a parallel restore), into a database that is created when it does not exist yet.
#pragma once

#include "engine/engine.hpp"
#include "engine/postgres/session.hpp"
#include "runner/runner.hpp"
#include "stream/sink.hpp"

namespace dbkeep::engine::pg {

// Restores the custom-format dump read from in into options.to_url (a postgres:// url with a database; the
// url's password, else options.password), through the runner (which must outlive the call). With jobs > 1 the
// dump is first written to a file of mode 0600 (O_EXCL | O_NOFOLLOW) in a private folder (mkdtemp, mode 0700)
// made in options.temp_dir ($TMPDIR, else /tmp, when empty); both are removed on every path. pg_restore's
// errors keep everything it said (DETAIL and HINT included). Fails with ErrorKind::config
// for a bad url, as the connection, CREATE DATABASE, the tool search or pg_restore fail; an input that is
// corrupt or cancelled stops pg_restore at once.
Status restore_database(runner::Runner& runner, const Target& target, stream::Source& in,
                        const RestoreOptions& options);

} // namespace dbkeep::engine::pg
