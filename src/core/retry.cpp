#include "core/retry.hpp"

#include "core/cancel.hpp"

#include <algorithm>
#include <random>
#include <thread>

namespace dbkeep {

std::chrono::milliseconds retry_delay(const RetryPolicy& policy, int attempt)
{
    static thread_local std::mt19937 rng{std::random_device{}()};
    long long d = policy.first_delay.count();
    for (int i = 2; i < attempt && d < policy.max_delay.count(); ++i) {
        d *= 2;
    }
    d = std::min<long long>(d, policy.max_delay.count());
    return std::chrono::milliseconds(std::uniform_int_distribution<long long>(d / 2, d)(rng));
}

bool sleep_for_retry(std::chrono::milliseconds delay, bool ignore_cancel)
{
    const auto until = std::chrono::steady_clock::now() + delay;
    for (;;) {
        if (!ignore_cancel && cancel::requested()) {
            return false;
        }
        auto left = until - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) {
            return true;
        }
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(50)));
    }
}

bool retry_cancelled(const RetryPolicy& policy)
{
    return !policy.ignore_cancel && cancel::requested();
}

} // namespace dbkeep
