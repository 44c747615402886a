// Where a command runs: on this machine, in a container, over ssh, ... A Runner starts a process whose
// stdin/stdout are byte streams (binary-safe) and whose exit status is known.
#pragma once

#include "core/finding.hpp"
#include "stream/sink.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dbkeep::runner {

struct Command {
    std::vector<std::string> argv;          // argv[0] is looked up in PATH where the command runs
    std::map<std::string, std::string> env; // added to (or replacing in) the environment; secrets go here
    bool with_stdin = false;                // give the process a writable stdin; otherwise /dev/null
    // Variables of dbkeep's own environment this command may see besides the base allow-list (PATH, HOME,
    // USER, LOGNAME, SHELL, TMPDIR, TZ, LANG, LANGUAGE, LC_*, SSL_CERT_FILE/DIR and the proxy variables):
    // names, or prefixes ending in '*' ("PG*" for libpq's variables). Nothing else is inherited: another
    // target's password or AWS_SECRET_ACCESS_KEY never reaches a child that does not need it.
    std::vector<std::string> inherit;
};

struct ExitStatus {
    int code = -1;  // exit code when exited normally, else -1
    int signal = 0; // terminating signal, else 0
    bool ok() const noexcept { return signal == 0 && code == 0; }
    std::string describe() const; // "exited with code 3", "killed by signal 9"
};

class Process {
public:
    // Kills the process (if still running) and reaps it.
    virtual ~Process() = default;

    // The process's stdout. Reading past its end returns 0. Honours cancel::requested().
    virtual stream::Source& out() = 0;

    // The process's stdin when Command::with_stdin; finish() closes it. nullptr otherwise. A write after the
    // process has exited fails (failed, "closed its input") rather than blocking; through the Docker Engine API,
    // once a reader of out() has reached its end.
    virtual stream::Sink* in() = 0;

    // Waits for the process to exit. Safe to call more than once, and while another thread reads out():
    // wait() takes none of the output a caller may still read (a runner that must drain the output for the
    // process to end keeps it for the reader, up to a bound).
    virtual Result<ExitStatus> wait() = 0;

    // The last part (up to 64 KiB) of what the process wrote to stderr, available after wait().
    virtual std::string error_output() const = 0;

    // Kills the process now (SIGTERM, then SIGKILL). Safe from any thread, any number of times.
    virtual void kill() noexcept = 0;
};

class Runner {
public:
    virtual ~Runner() = default;
    virtual Result<std::unique_ptr<Process>> start(const Command& command) = 0;
    // "local", "docker container legacy-postgres": for messages.
    virtual std::string describe() const = 0;
    // True when commands run on this machine, where dbkeep itself can reach the database directly.
    virtual bool local() const noexcept { return false; }
    // False when commands are launched detached (ecs): no input, no interactive session.
    virtual bool interactive() const noexcept { return true; }

    // `dbkeep check`: proves that commands run here, by running one (the default runs `true`); a runner
    // with more to check (the container engine, the shared folder) says so. Never fails: problems are
    // findings (probe names "runner", "runner.<type>", "runner.container"). Local: nothing to prove.
    virtual std::vector<Finding> probe();
};

// Runs a command to completion, collecting stdout (up to max_bytes) and stderr.
struct CommandOutput {
    ExitStatus status;
    std::string out;
    std::string err;
};
Result<CommandOutput> run_capture(Runner& runner, const Command& command, std::size_t max_bytes = 16 << 20);

} // namespace dbkeep::runner
