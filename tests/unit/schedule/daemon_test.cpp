#include "core/cancel.hpp"
#include "schedule/daemon.hpp"
#include "support/wait.hpp"

#include <atomic>
#include <csignal>
#include <gtest/gtest.h>
#include <thread>

using namespace dbkeep;
using namespace dbkeep::schedule;
using namespace std::chrono_literals;

namespace {

// A schedule that fires every `period` of real time.
ScheduledTarget every(const std::string& name, std::chrono::milliseconds period, bool due_at_start)
{
    return {name, [period](TimePoint after) { return after + period; },
            [due_at_start](std::optional<TimePoint>, TimePoint) { return due_at_start; }};
}

struct StopAfter {
    std::chrono::steady_clock::time_point until;
    bool operator()() const { return std::chrono::steady_clock::now() >= until; }
};

DaemonOptions options_for(std::function<Status(const std::string&)> backup, std::chrono::milliseconds run_for)
{
    DaemonOptions o;
    o.jitter = 0ms;
    o.shutdown_grace = 5000ms;
    o.backup = std::move(backup);
    o.last_success = [](const std::string&) -> Result<std::optional<TimePoint>> { return std::nullopt; };
    o.stop = StopAfter{std::chrono::steady_clock::now() + run_for};
    return o;
}

class Daemon : public ::testing::Test {
protected:
    void TearDown() override { cancel::reset(); }
};

} // namespace

TEST_F(Daemon, DueTargetGetsExactlyOneCatchUpRun)
{
    std::atomic<int> calls{0};
    auto o = options_for(
        [&](const std::string&) -> Status {
            ++calls;
            return {};
        },
        600ms);
    ASSERT_TRUE(run_daemon({every("orders", 1h, true)}, o));
    EXPECT_EQ(calls.load(), 1);
}

TEST_F(Daemon, NotDueTargetWaitsForItsSchedule)
{
    std::atomic<int> calls{0};
    auto o = options_for(
        [&](const std::string&) -> Status {
            ++calls;
            return {};
        },
        500ms);
    ASSERT_TRUE(run_daemon({every("orders", 1h, false)}, o));
    EXPECT_EQ(calls.load(), 0);
}

TEST_F(Daemon, FiresAtEachScheduledInstant)
{
    std::atomic<int> calls{0};
    auto o = options_for(
        [&](const std::string&) -> Status {
            ++calls;
            return {};
        },
        1650ms);
    ASSERT_TRUE(run_daemon({every("orders", 400ms, false)}, o));
    EXPECT_GE(calls.load(), 3);
    EXPECT_LE(calls.load(), 4);
}

TEST_F(Daemon, NeverRunsMoreThanMaxConcurrent)
{
    std::atomic<int> running{0}, peak{0}, calls{0};
    auto o = options_for(
        [&](const std::string&) -> Status {
            int now = ++running;
            int p = peak.load();
            while (now > p && !peak.compare_exchange_weak(p, now)) {
            }
            std::this_thread::sleep_for(250ms);
            --running;
            ++calls;
            return {};
        },
        1200ms);
    o.max_concurrent = 1;
    ASSERT_TRUE(run_daemon({every("a", 1h, true), every("b", 1h, true), every("c", 1h, true)}, o));
    EXPECT_EQ(peak.load(), 1);
    EXPECT_EQ(calls.load(), 3);
}

TEST_F(Daemon, ShutdownLetsARunningBackupFinishWithinTheGrace)
{
    std::atomic<bool> finished{false}, stopping{false};
    auto o = options_for(
        [&](const std::string&) -> Status {
            // Still running when the shutdown begins: returns only once the daemon was told to stop.
            test::wait_until([&] { return stopping.load(); });
            finished = true;
            return {};
        },
        200ms);
    o.stop = [&stopping, stop = o.stop] { return stopping = stopping || stop(); };
    ASSERT_TRUE(run_daemon({every("orders", 1h, true)}, o));
    EXPECT_TRUE(finished.load());
    EXPECT_FALSE(cancel::requested()) << "finished within the grace: nothing cancelled";
}

TEST_F(Daemon, ShutdownCancelsABackupThatOutlivesTheGrace)
{
    std::atomic<bool> saw_cancel{false};
    auto o = options_for(
        [&](const std::string&) -> Status {
            test::wait_until([] { return cancel::requested(); });
            saw_cancel = cancel::requested();
            return fail(ErrorKind::cancelled, "backup", "orders", "cancelled");
        },
        200ms);
    o.shutdown_grace = 300ms;
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(run_daemon({every("orders", 1h, true)}, o));
    EXPECT_TRUE(saw_cancel.load());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST_F(Daemon, GracefulModeFirstSignalOnlyStops)
{
    cancel::install_signal_handlers();
    cancel::set_graceful(true);
    raise(SIGTERM);
    EXPECT_TRUE(cancel::stop_requested());
    EXPECT_FALSE(cancel::requested());
    raise(SIGTERM);
    EXPECT_TRUE(cancel::requested());
}

// A failed scheduled backup is retried with backoff before its next scheduled instant (it used to wait for that
// instant), and no more often than the backoff list allows.
TEST_F(Daemon, AFailedBackupIsRetriedWithBackoffThenWaitsForItsSchedule)
{
    std::atomic<int> calls{0};
    auto o = options_for(
        [&](const std::string&) -> Status {
            ++calls;
            return fail(ErrorKind::transient, "back up", "orders", "the database is restarting");
        },
        1500ms);
    o.retry_backoff = {100ms, 200ms};
    ASSERT_TRUE(run_daemon({every("orders", 1h, true)}, o));
    EXPECT_EQ(calls.load(), 3) << "the catch-up run and two retries, then nothing until the next instant";
}

TEST_F(Daemon, ARetrySucceedingStopsTheRetries)
{
    std::atomic<int> calls{0};
    auto o = options_for(
        [&](const std::string&) -> Status {
            if (++calls == 1) {
                return fail(ErrorKind::transient, "back up", "orders", "once");
            }
            return {};
        },
        1000ms);
    o.retry_backoff = {100ms, 100ms, 100ms};
    ASSERT_TRUE(run_daemon({every("orders", 1h, true)}, o));
    EXPECT_EQ(calls.load(), 2);
}

TEST_F(Daemon, ChecksEveryTargetForAnOverdueBackupPeriodically)
{
    std::atomic<int> checks{0};
    auto o = options_for([](const std::string&) -> Status { return {}; }, 700ms);
    o.overdue_check_interval = 100ms;
    o.check_overdue = [&](const std::string& name) {
        EXPECT_EQ(name, "orders");
        ++checks;
    };
    ASSERT_TRUE(run_daemon({every("orders", 1h, false)}, o));
    EXPECT_GE(checks.load(), 3);
}
