// The command line: parses arguments, calls the layers below, maps errors to exit codes.
#pragma once

namespace dbkeep::cli {

// Exit codes: 0 success; 1 an operation failed; 2 usage or configuration error; 3 `check` found a problem.
inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_failed = 1;
inline constexpr int k_exit_usage = 2;
inline constexpr int k_exit_check = 3;

// Runs the command line. Never throws: an unexpected exception (a bug) is reported on stderr as
// "dbkeep: internal error: ..." after it unwound (objects aborted, leases released) and exits 1.
int run(int argc, char** argv) noexcept;

} // namespace dbkeep::cli
