// Process-wide cancellation: SIGINT/SIGTERM set it; long loops poll it and abort cleanly.
#pragma once

namespace dbkeep::cancel {

// Installs SIGINT/SIGTERM handlers (without SA_RESTART, so blocking calls return EINTR) that request
// cancellation. Idempotent.
void install_signal_handlers();

// True once a signal arrived or request() was called, except on a thread inside a Shield. Async-signal-safe
// to read.
bool requested() noexcept;

// While one lives, requested() is false on the thread that made it: cleanup that must still happen after
// SIGINT/SIGTERM (releasing a lease, aborting an upload) runs to its end, bounded by its own deadlines.
// Nests; not movable; affects only its own thread.
class Shield {
public:
    Shield() noexcept;
    ~Shield();
    Shield(const Shield&) = delete;
    Shield& operator=(const Shield&) = delete;
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
