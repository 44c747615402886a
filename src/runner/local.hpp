// Runs commands on this machine with fork/exec.
#pragma once

#include "runner/runner.hpp"

namespace dbkeep::runner {

// `runner: local` (the default): nothing to configure.
struct LocalOptions {};

std::unique_ptr<Runner> make_local_runner();

// The environment a command started here gets, as NAME=VALUE strings: the variables of `parent` (a
// NULL-terminated environ array) that the base allow-list or command.inherit name, then command.env (which
// wins). Pure; thread-safe.
std::vector<std::string> child_environment(const Command& command, const char* const* parent);

} // namespace dbkeep::runner
