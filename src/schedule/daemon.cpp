#include "schedule/daemon.hpp"

#include "core/cancel.hpp"
#include "observe/log.hpp"

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace dbkeep::schedule {
namespace {

using namespace std::chrono_literals;

struct Worker {
    std::string target;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
    std::shared_ptr<std::atomic<bool>> failed;
};

bool stopping(const DaemonOptions& options)
{
    return cancel::stop_requested() || (options.stop && options.stop());
}

// Sleeps up to d, waking early when a stop is requested.
void interruptible_sleep(std::chrono::milliseconds d, const DaemonOptions& options)
{
    auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until && !stopping(options)) {
        std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(100ms, d));
    }
}

} // namespace

Status run_daemon(const std::vector<ScheduledTarget>& targets, const DaemonOptions& options)
{
    std::mt19937_64 rng{std::random_device{}()};
    std::map<std::string, TimePoint> next;
    std::deque<std::string> queue;
    std::set<std::string> queued_or_running;
    std::vector<Worker> workers;

    auto enqueue = [&](const std::string& name, const char* why) {
        if (queued_or_running.insert(name).second) {
            queue.push_back(name);
            observe::info("backup scheduled", {{"target", name}, {"reason", why}});
        }
    };

    std::map<std::string, std::size_t> retries; // failed runs in a row, per target
    std::map<std::string, TimePoint> retry_at;
    auto next_overdue_check = std::chrono::steady_clock::now() + options.overdue_check_interval;

    const auto start = options.now();
    for (const auto& t : targets) {
        next[t.name] = t.next_fire(start);
        // One catch-up run for a target whose scheduled instant passed while nothing ran.
        auto last = options.last_success(t.name);
        if (!last) {
            observe::warn("cannot read the last backup; no catch-up run",
                          {{"target", t.name}, {"error", last.error().to_string()}});
        } else if (t.due(*last, start)) {
            enqueue(t.name, "catch-up");
        }
    }

    while (!stopping(options)) {
        const auto now = options.now();
        for (const auto& t : targets) {
            if (now >= next[t.name]) {
                retry_at.erase(t.name); // the schedule itself runs it now
                enqueue(t.name, "schedule");
                next[t.name] = t.next_fire(now);
            }
        }
        for (auto it = retry_at.begin(); it != retry_at.end();) {
            if (now >= it->second) {
                enqueue(it->first, "retry");
                it = retry_at.erase(it);
            } else {
                ++it;
            }
        }
        if (options.check_overdue && std::chrono::steady_clock::now() >= next_overdue_check) {
            next_overdue_check = std::chrono::steady_clock::now() + options.overdue_check_interval;
            for (const auto& t : targets) {
                if (!queued_or_running.contains(t.name)) {
                    options.check_overdue(t.name);
                }
            }
        }
        // Reap finished workers; a failure is retried with backoff before the next scheduled instant.
        for (auto it = workers.begin(); it != workers.end();) {
            if (it->done->load()) {
                it->thread.join();
                queued_or_running.erase(it->target);
                const std::size_t n = it->failed->load() ? retries[it->target]++ : options.retry_backoff.size();
                if (n >= options.retry_backoff.size()) {
                    retries.erase(it->target); // succeeded, or gave up until the next scheduled instant
                } else if (const TimePoint when =
                               now + std::chrono::duration_cast<TimePoint::duration>(options.retry_backoff[n]);
                           when < next[it->target]) {
                    retry_at[it->target] = when;
                    observe::info("retrying the failed backup",
                                  {{"target", it->target},
                                   {"attempt", std::to_string(n + 2)},
                                   {"in_seconds", std::to_string(options.retry_backoff[n].count() / 1000)}});
                }
                it = workers.erase(it);
            } else {
                ++it;
            }
        }
        while (!queue.empty() && static_cast<int>(workers.size()) < options.max_concurrent) {
            std::string name = queue.front();
            queue.pop_front();
            auto done = std::make_shared<std::atomic<bool>>(false);
            auto failed = std::make_shared<std::atomic<bool>>(false);
            auto delay =
                options.jitter.count() > 0
                    ? std::chrono::milliseconds(std::uniform_int_distribution<long>(0, options.jitter.count())(rng))
                    : 0ms;
            workers.push_back({name, std::thread([name, delay, done, failed, &options] {
                                   interruptible_sleep(delay, options);
                                   if (!stopping(options)) {
                                       auto st = options.backup(name);
                                       if (!st) {
                                           failed->store(true);
                                           observe::error("scheduled backup failed",
                                                          {{"target", name}, {"error", st.error().to_string()}});
                                       }
                                   }
                                   done->store(true);
                               }),
                               done, failed});
        }
        std::this_thread::sleep_for(100ms);
    }

    // Shutdown: no new backups; running ones get the grace period, then are cancelled.
    std::size_t running = 0;
    for (const auto& w : workers) {
        running += w.done->load() ? 0 : 1;
    }
    if (running > 0) {
        observe::info("stopping: waiting for running backups",
                      {{"running", std::to_string(running)},
                       {"grace_seconds", std::to_string(options.shutdown_grace.count() / 1000)}});
    }
    auto deadline = std::chrono::steady_clock::now() + options.shutdown_grace;
    for (;;) {
        bool all_done = true;
        for (const auto& w : workers) {
            all_done = all_done && w.done->load();
        }
        if (all_done || cancel::requested()) {
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            observe::warn("shutdown grace over: cancelling running backups");
            cancel::request();
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    for (auto& w : workers) {
        w.thread.join();
    }
    return {};
}

} // namespace dbkeep::schedule
