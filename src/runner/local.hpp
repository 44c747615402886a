// Runs commands on this machine with fork/exec.
#pragma once

#include "runner/runner.hpp"

namespace dbkeep::runner {

// `runner: local` (the default): nothing to configure.
struct LocalOptions {};

std::unique_ptr<Runner> make_local_runner();

} // namespace dbkeep::runner
