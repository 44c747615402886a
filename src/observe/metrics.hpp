// Per-target backup metrics in Prometheus text format (exposition format 0.0.4), a minimal HTTP listener
// serving /metrics and /healthz for the daemon, and the two outputs of one-shot runs: a node_exporter
// textfile-collector file and a Prometheus Pushgateway. Thread-safe.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dbkeep::observe {

struct TargetMetrics {
    double last_success_unix = 0; // 0: never
    double last_duration_seconds = 0;
    std::uint64_t last_size_bytes = 0;
    std::uint64_t failures_total = 0;
    std::uint64_t successes_total = 0;
    bool running = false;
    double last_failure_unix = 0;          // 0: none known
    double next_scheduled_unix = 0;        // 0: no schedule (or not known)
    double last_verified_restore_unix = 0; // 0: none known
    double lease_busy_unix = 0;            // 0: never; when a backup last found another runner holding the lease
};

// Where one-shot runs (`backup`, `run --due`) put their metrics: the root `metrics:` block.
struct MetricsExport {
    std::string textfile;       // a *.prom file for node_exporter's textfile collector; empty: off
    std::string pushgateway;    // base URL of a Prometheus Pushgateway, e.g. http://pushgateway:9091; empty: off
    std::string job = "dbkeep"; // the Pushgateway's job grouping label
    bool enabled() const noexcept { return !textfile.empty() || !pushgateway.empty(); }
};

class Metrics {
public:
    void started(const std::string& target);
    void succeeded(const std::string& target, double finished_unix, double duration_seconds, std::uint64_t bytes);
    // finished_unix: when it failed (0: now).
    void failed(const std::string& target, double finished_unix = 0);
    // Not running any more, without an outcome.
    void idle(const std::string& target);
    // Not run because another runner held the target's lease (now: the Unix time it was found held).
    void lease_busy(const std::string& target);
    // A scheduled test restore (verify block) of the target succeeded at unix_seconds.
    void verified_restore(const std::string& target, double unix_seconds);
    // Seeds last_success from storage at start-up so the gauge is right before the first run (bytes 0: the
    // size is not known and stays as it was).
    void seed_last_success(const std::string& target, double unix_seconds, std::uint64_t bytes);
    void set_next_scheduled(const std::string& target, double unix_seconds);
    // Takes over what a previous one-shot run's textfile said (render() output parsed back), for counters and
    // timestamps this run does not change. Lines that are not ours are ignored.
    void load_previous(const std::string& rendered);
    TargetMetrics get(const std::string& target) const;
    // Prometheus text exposition format 0.0.4, with dbkeep_build_info; only_target: just that target's series.
    std::string render(const std::string& only_target = {}) const;
    std::vector<std::string> targets() const;

private:
    mutable std::mutex m_mutex;
    std::map<std::string, TargetMetrics> m_targets;
};

// Serves GET /metrics (metrics.render()) and GET /healthz ("ok") on host:port until destroyed.
class HttpListener {
public:
    virtual ~HttpListener() = default;
    virtual int port() const = 0; // the bound port (useful with port 0)
};
Result<std::unique_ptr<HttpListener>> listen_http(const std::string& host_port, const Metrics& metrics);

// Writes the metrics where `out` says, after a one-shot run: the textfile atomically (a temp file in the same
// folder, fsync, rename; the previous file's counters carried over), and to the Pushgateway one group per
// target (PUT /metrics/job/<job>/target/<target>, so a run that touched one target leaves the others' groups
// alone). Each output that fails is logged and returned as the first error: the run's outcome stays its own.
Status export_metrics(const MetricsExport& out, Metrics& metrics);

} // namespace dbkeep::observe
