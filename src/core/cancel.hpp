// Process-wide cancellation: SIGINT/SIGTERM set it; long loops poll it and abort cleanly.
#pragma once

#include <chrono>

namespace dbkeep::cancel {

// Installs SIGINT/SIGTERM handlers (without SA_RESTART, so blocking calls return EINTR) that request
// cancellation. Idempotent.
void install_signal_handlers();

// True once a signal arrived or request() was called, except on a thread inside a Shield whose budget is not
// spent. Async-signal-safe to read.
bool requested() noexcept;

// While one lives, requested() is false on the thread that made it, for at most `budget` from its making:
// cleanup that must still happen after SIGINT/SIGTERM (releasing a lease, aborting an upload, making a server
// a master again) runs to its end, yet a peer that does not answer cannot hold the process past the budget
// (requested() is true again once it is spent, which stops retries and requests). Nests: a Shield made inside
// another never outlasts the outer one's budget. The budget counts from the Shield's making, not from the
// signal. Not movable; affects only its own thread.
class Shield {
public:
    static constexpr std::chrono::milliseconds k_default_budget{15'000};
    explicit Shield(std::chrono::milliseconds budget = k_default_budget) noexcept;
    ~Shield();
    Shield(const Shield&) = delete;
    Shield& operator=(const Shield&) = delete;

private:
    std::chrono::steady_clock::time_point m_outer_deadline;
};

// The signal that requested cancellation, or 0.
int signal_number() noexcept;

void request() noexcept;

// Graceful mode (the daemon): the first signal only asks to stop (stop_requested()), so running work can
// finish; a second signal, or request(), cancels. Off by default: the first signal cancels.
void set_graceful(bool graceful) noexcept;
bool stop_requested() noexcept;

// For tests only.
void reset() noexcept;

} // namespace dbkeep::cancel
