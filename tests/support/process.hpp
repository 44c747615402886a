// Running commands from tests: capture stdout/stderr and the exit code, with a timeout.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace dbkeep::test {

struct RunResult {
    int exit_code = -1; // -1 when killed by a signal or timed out
    int signal = 0;
    std::string out;
    std::string err;
    bool timed_out = false;
};

struct RunOptions {
    std::map<std::string, std::string> env; // added to the environment (value "\x01unset" removes)
    std::string input;                      // written to stdin
    std::string cwd;
    std::chrono::seconds timeout{300};
};

// Runs argv (argv[0] looked up in PATH) and waits.
RunResult run(const std::vector<std::string>& argv, const RunOptions& options = {});

// `sh -c script`.
RunResult sh(const std::string& script, const RunOptions& options = {});

// The dbkeep binary under test with arguments.
RunResult run_dbkeep(const std::vector<std::string>& args, const RunOptions& options = {});

// A process started in the background, killed (SIGKILL to its process group) on destruction.
class Background {
public:
    Background(const std::vector<std::string>& argv, const RunOptions& options = {},
               const std::string& log_path = "/dev/null");
    ~Background();
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;
    int pid() const { return m_pid; }
    void signal(int sig);
    // Waits for exit; returns the exit code, or -1 on timeout / signal.
    int wait(std::chrono::seconds timeout);
    bool running();

private:
    int m_pid = -1;
    int m_status = 0;
    bool m_reaped = false;
};

bool have_program(const std::string& name);
std::string dbkeep_binary();

} // namespace dbkeep::test
