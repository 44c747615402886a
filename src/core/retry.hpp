// Retrying an operation that may fail for a while (timeouts, resets, 5xx, throttling): bounded attempts with
// exponential backoff and full jitter, stopped at once by a non-transient error or by cancellation. The one
// retry loop for S3, the credential endpoints and the Docker Engine API (restic `backend_retry.go`).
#pragma once

#include "core/error.hpp"

#include <chrono>
#include <functional>
#include <type_traits>

namespace dbkeep {

struct RetryPolicy {
    int attempts = 6;                           // calls in all, the first included; at least 1
    std::chrono::milliseconds first_delay{400}; // before the second attempt; doubles each time
    std::chrono::milliseconds max_delay{10000}; // cap of the doubling
    bool ignore_cancel = false;                 // cleanup operations: keep retrying after SIGINT/SIGTERM
    // Called before each retry with the attempt about to run (2, 3, ...) and the error that caused it.
    std::function<void(int attempt, const Error& last)> on_retry;
};

// The pause before `attempt` (2, 3, ...): a random duration in [d/2, d] with d = min(max_delay,
// first_delay * 2^(attempt-2)). Thread-safe.
std::chrono::milliseconds retry_delay(const RetryPolicy& policy, int attempt);

// Sleeps `delay` in slices of at most 50 ms; returns false as soon as cancel::requested() (unless
// ignore_cancel), true after the whole delay. Thread-safe.
bool sleep_for_retry(std::chrono::milliseconds delay, bool ignore_cancel);

// True when cancellation should stop the loop now.
bool retry_cancelled(const RetryPolicy& policy);

// Runs `operation` (a callable returning Result<T> or Status) until it succeeds, fails with a kind other
// than ErrorKind::transient (returned at once), or `policy.attempts` calls failed (the last error is
// returned). Cancellation before a retry, or during the pause, returns ErrorKind::cancelled with the last
// error's operation and object. Thread-safe when `operation` is.
template <class Operation>
auto with_retry(const RetryPolicy& policy, Operation&& operation) -> std::invoke_result_t<Operation&>
{
    auto result = operation();
    for (int attempt = 2; attempt <= policy.attempts && !result && result.error().kind == ErrorKind::transient;
         ++attempt) {
        const Error last = result.error();
        if (retry_cancelled(policy) || !sleep_for_retry(retry_delay(policy, attempt), policy.ignore_cancel)) {
            return fail_cancelled(last.operation, last.object);
        }
        if (policy.on_retry) {
            policy.on_retry(attempt, last);
        }
        result = operation();
    }
    return result;
}

} // namespace dbkeep
