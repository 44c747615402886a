// A PostgreSQL dump: pg_dump in custom format, with a session holding the exported snapshot it dumps (and the
// row counts taken in it), or detached where the runner cannot hold a session.
#pragma once

#include "engine/engine.hpp"
#include "engine/postgres/session.hpp"
#include "runner/runner.hpp"
#include "stream/sink.hpp"

namespace dbkeep::engine::pg {

// Streams pg_dump's output for the target into out (write() only), through the runner (which must outlive
// the call). With an interactive runner, pg_dump imports a repeatable-read snapshot exported by our session,
// and DumpInfo::stats holds exact row counts taken in it; with a detached one (ecs) pg_dump takes its own
// snapshot and no counts are recorded. Fails as the server, the tool search, pg_dump or out fail, when pg_dump
// writes nothing, or when cancelled; out is then to be aborted.
Result<DumpInfo> dump_database(runner::Runner& runner, const Target& target, stream::Sink& out);

} // namespace dbkeep::engine::pg
