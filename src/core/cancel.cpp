#include "core/cancel.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>

namespace dbkeep::cancel {
namespace {
std::atomic<int> g_signal{0};
std::atomic<bool> g_requested{false};
std::atomic<bool> g_stop{false};
std::atomic<bool> g_graceful{false};
thread_local int t_shields = 0;
thread_local std::chrono::steady_clock::time_point t_shield_deadline{};

extern "C" void on_signal(int sig)
{
    g_signal.store(sig);
    if (g_graceful.load() && !g_stop.load()) {
        g_stop.store(true);
        return;
    }
    g_stop.store(true);
    g_requested.store(true);
}
} // namespace

void install_signal_handlers()
{
    struct sigaction sa = {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: blocking reads return EINTR so loops notice
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // A closed pipe to a child is reported through EPIPE, not by killing us.
    std::signal(SIGPIPE, SIG_IGN);
}

bool requested() noexcept
{
    if (!g_requested.load()) {
        return false;
    }
    return t_shields == 0 || std::chrono::steady_clock::now() >= t_shield_deadline;
}

Shield::Shield(std::chrono::milliseconds budget) noexcept : m_outer_deadline(t_shield_deadline)
{
    const auto mine = std::chrono::steady_clock::now() + budget;
    t_shield_deadline = t_shields > 0 ? std::min(m_outer_deadline, mine) : mine;
    ++t_shields;
}

Shield::~Shield()
{
    --t_shields;
    t_shield_deadline = m_outer_deadline;
}
bool stop_requested() noexcept
{
    return g_stop.load();
}
void set_graceful(bool graceful) noexcept
{
    g_graceful.store(graceful);
}
int signal_number() noexcept
{
    return g_signal.load();
}
void request() noexcept
{
    g_stop.store(true);
    g_requested.store(true);
}
void reset() noexcept
{
    g_requested.store(false);
    g_stop.store(false);
    g_graceful.store(false);
    g_signal.store(0);
}

} // namespace dbkeep::cancel
