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

namespace dbkeep::runner {

// prefix + [sh -c WRAPPER sh] + argv, run locally. With as_one_string, the part after the prefix is passed as
// one shell-quoted string (ssh runs it through the remote user's shell). The local prefix program sees the
// base environment plus `inherit` (Command::inherit patterns: what ssh, kubectl or a launcher needs, such as
// SSH_AUTH_SOCK or AWS_*); the remote command gets only the command's own env, sent on its stdin.
std::unique_ptr<Runner> make_prefix_runner(std::vector<std::string> prefix, bool as_one_string, std::string description,
                                           std::vector<std::string> inherit = {});

// What the local program of each prefix runner inherits (Command::inherit patterns).
std::vector<std::string> ssh_environment();     // SSH_AUTH_SOCK
std::vector<std::string> kubectl_environment(); // KUBECONFIG and the cloud credential plug-ins' AWS_*, ...
std::vector<std::string>
container_environment(); // DOCKER_*, CONTAINER_HOST, CONTAINERS_*, XDG_RUNTIME_DIR, SSH_AUTH_SOCK
// A launcher dbkeep does not know (the ECS launcher, nsenter, a wrapper): all of the above.
std::vector<std::string> launcher_environment();
// A `type: command` prefix: by its program's file name, docker/podman/nerdctl get container_environment(),
// ssh ssh_environment(), kubectl/oc kubectl_environment(), anything else launcher_environment(). Pure.
std::vector<std::string> command_environment(const std::vector<std::string>& prefix);

// `runner: {type: command, argv: [...]}`: any argv prefix run on this machine.
struct CommandOptions {
    std::vector<std::string> argv; // never empty after load
};

// `runner: {type: ssh, ...}`: OpenSSH in batch mode.
struct SshOptions {
    std::string host;
    std::string user;          // empty: ssh's default
    int port = 0;              // 0: ssh's default
    std::string identity_file; // -i, with IdentitiesOnly
    std::string known_hosts;   // UserKnownHostsFile with StrictHostKeyChecking=yes
};

// `runner: {type: kubectl, ...}`: kubectl exec -i into a pod.
struct KubectlOptions {
    std::string pod;
    std::string namespace_; // empty: the context's namespace
    std::string context;    // empty: the current context
    std::string container;  // empty: the pod's default container
};

// The runners for those options (make_prefix_runner with the argv each builds).
std::unique_ptr<Runner> make_command_runner(const CommandOptions& options);
std::unique_ptr<Runner> make_ssh_runner(const SshOptions& options);
std::unique_ptr<Runner> make_kubectl_runner(const KubectlOptions& options);

// The argv prefixes of ssh and kubectl, ending with "--". Pure.
std::vector<std::string> ssh_prefix(const SshOptions& options);
std::vector<std::string> kubectl_prefix(const KubectlOptions& options);

// NAME=VALUE lines (every byte of VALUE as a \0ooo escape for printf %b) ended by an empty line: how a
// command's environment reaches the sh wrapper on the far side (on stdin here, in a file for ecs).
std::string env_preamble(const std::map<std::string, std::string>& env);

// Quotes a word for a POSIX shell.
std::string shell_quote(const std::string& word);

} // namespace dbkeep::runner
