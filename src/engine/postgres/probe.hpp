// `dbkeep check` for a PostgreSQL target: can we connect, may the role read every table and sequence, and is
// there a pg_dump and pg_restore that fits the server where the runner runs.
#pragma once

#include "core/finding.hpp"
#include "engine/postgres/session.hpp"
#include "runner/runner.hpp"

#include <vector>

namespace dbkeep::engine::pg {

// postgres.connect (and, when connected, postgres.read, postgres.pg_dump, postgres.pg_restore). Never fails:
// problems are findings with a remedy. The runner must outlive the call.
std::vector<Finding> probe_target(runner::Runner& runner, const Target& target);

} // namespace dbkeep::engine::pg
