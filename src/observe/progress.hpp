// Progress of a long transfer (backup, restore, verify): on a terminal, one line on stderr rewritten every
// second with the bytes done, the rate and an ETA, cleared at the end; otherwise an info log line every 30 s
// with the same figures, so that CloudWatch or `kubectl logs` shows a long run is alive.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace dbkeep::observe {

struct ProgressOptions {
    std::string what;                 // "backup orders", shown first
    std::uint64_t expected_bytes = 0; // for the ETA (the previous backup's raw size); 0: no ETA
    bool terminal = false;            // stderr is a terminal: the rewritten line; else the periodic log line
    std::chrono::milliseconds log_every{30000};
};

// The line both forms print: "backup orders: 1.2 GiB, 85.0 MiB/s, about 12s left" (no ETA without an expected
// size or once past it). Pure; thread-safe.
std::string progress_line(const std::string& what, std::uint64_t done, double seconds, std::uint64_t expected);

// Samples `done` (bytes so far; called from the reporter's thread, so it must be thread-safe) until destroyed.
class Progress {
public:
    Progress(ProgressOptions options, std::function<std::uint64_t()> done);
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    // Whether stderr is a terminal (isatty(2)).
    static bool stderr_is_terminal();

private:
    ProgressOptions m_options;
    std::function<std::uint64_t()> m_done;
    std::atomic<bool> m_stop{false};
    std::thread m_thread;
};

} // namespace dbkeep::observe
