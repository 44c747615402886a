// Runners that run a command through another program on this machine: `type: command` (any argv prefix,
// e.g. [docker, exec, -i, NAME] or [nsenter, ...]), `type: ssh` and `type: kubectl`.
//
// Secrets never go into an argv: the command's environment travels as a preamble on its stdin, read by a
// small POSIX sh wrapper on the far side, which exports the variables and then execs the command with the
// rest of stdin untouched. The far side therefore needs /bin/sh.
#pragma once

#include "runner/runner.hpp"

#include <map>
#include <string>

namespace dbkeep::config {
struct RunnerConfig;
}

namespace dbkeep::runner {

// prefix + [sh -c WRAPPER sh] + argv, run locally. With as_one_string, the part after the prefix is passed as
// one shell-quoted string (ssh runs it through the remote user's shell).
std::unique_ptr<Runner> make_prefix_runner(std::vector<std::string> prefix, bool as_one_string,
                                           std::string description);

// The prefixes for a configuration: ssh and kubectl argv built from their settings.
std::vector<std::string> ssh_prefix(const config::RunnerConfig& config);
std::vector<std::string> kubectl_prefix(const config::RunnerConfig& config);

// NAME=VALUE lines (every byte of VALUE as a \0ooo escape for printf %b) ended by an empty line: how a
// command's environment reaches the sh wrapper on the far side (on stdin here, in a file for ecs).
std::string env_preamble(const std::map<std::string, std::string>& env);

// Quotes a word for a POSIX shell.
std::string shell_quote(const std::string& word);

} // namespace dbkeep::runner
