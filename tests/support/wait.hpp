// Waiting for an event in a test: poll a condition until it holds or a generous deadline passes, so a test
// waits exactly as long as the event takes on a loaded machine and never a fixed time.
#pragma once

#include <chrono>
#include <functional>

namespace dbkeep::test {

// Long enough for any event on a busy 2-core CI machine; a test that hits it has failed, not been slow.
inline constexpr std::chrono::seconds k_event_timeout{120};

// Calls `done` every `interval` until it returns true (then true) or `timeout` has passed (then false).
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = k_event_timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(50));

} // namespace dbkeep::test
