// Starting a program on this machine: the environment a child may see, fork/exec with its stdio on pipes,
// and a bounded run that captures its output. This is the primitive under runner/local (which adds byte
// streams and the where: local, ssh, docker ...) and the one way code below runner's rank runs a program
// (storage's AWS credential_process). POSIX fork/execvpe; no shell unless the caller's argv names one.
#pragma once

#include "core/error.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace dbkeep::child {

struct Spec {
    std::vector<std::string> argv;          // argv[0] is looked up in PATH; never empty
    std::map<std::string, std::string> env; // added to (or replacing in) the environment; secrets go here
    // Variables of dbkeep's own environment the child may see besides the base allow-list (PATH, HOME, USER,
    // LOGNAME, SHELL, TMPDIR, TZ, LANG, LANGUAGE, LC_*, SSL_CERT_FILE/DIR and the proxy variables): names, or
    // prefixes ending in '*' ("PG*"). Nothing else is inherited.
    std::vector<std::string> inherit;
    bool with_stdin = false; // a pipe for stdin; otherwise /dev/null
};

// The environment a child started from `spec` gets, as NAME=VALUE strings: the variables of `parent` (a
// NULL-terminated environ array) that the base allow-list or spec.inherit name, then spec.env (which wins).
// Entries of `parent` without '=' or with an empty name are skipped. Pure; thread-safe.
std::vector<std::string> environment(const Spec& spec, const char* const* parent);

// A started child: its pid (leader of its own process group, so signalling -pid reaches a wrapper script's
// children) and the parent's ends of its pipes (close-on-exec; in_fd is -1 without with_stdin). The caller
// owns the fds and must reap the pid.
struct Started {
    pid_t pid = -1;
    int out_fd = -1;
    int err_fd = -1;
    int in_fd = -1;
};

// Forks and execs spec.argv with environment(spec, environ), default SIGINT/SIGTERM/SIGPIPE dispositions,
// stdout and stderr on pipes (stdout's pipe enlarged to 1 MiB where the kernel allows). Errors: config for
// an empty argv; not_found when the program does not exist (exec's ENOENT, reported synchronously, the child
// reaped); failed for any other pipe/fork/exec error. Thread-safe (no shared state; fds are close-on-exec).
Result<Started> spawn(const Spec& spec);

struct Limits {
    std::size_t max_output = std::size_t{1} << 20;                 // bytes of stdout kept; more is an error
    std::size_t max_error_output = std::size_t{64} << 10;          // bytes of stderr kept (the last ones)
    std::chrono::milliseconds deadline = std::chrono::seconds(60); // from start to exit
};

struct Captured {
    int code = -1;   // exit code when it exited normally, else -1
    int signal = 0;  // terminating signal, else 0
    std::string out; // all of stdout (at most Limits::max_output bytes)
    std::string err; // the last Limits::max_error_output bytes of stderr
    bool ok() const noexcept { return signal == 0 && code == 0; }
};

// Runs spec to completion (stdin /dev/null even when with_stdin is set), capturing stdout and stderr.
// A child still running at the deadline, printing more than max_output, or running when cancel::requested()
// becomes true is killed (SIGTERM to its group, SIGKILL after 1 s) and reaped; the result is then an error:
// transient "did not finish within N s", failed "printed more than N bytes", cancelled. Errors of spawn()
// pass through. A child that ran and exited non-zero is not an error: check Captured::ok(). `what` names the
// program in messages (never a secret). Thread-safe.
Result<Captured> run(const Spec& spec, const Limits& limits, const std::string& what);

} // namespace dbkeep::child
