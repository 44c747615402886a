// Per-target backup metrics in Prometheus text format, and a minimal HTTP listener serving /metrics and
// /healthz for the daemon. Thread-safe.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace dbkeep::observe {

struct TargetMetrics {
    double last_success_unix = 0; // 0: never
    double last_duration_seconds = 0;
    std::uint64_t last_size_bytes = 0;
    std::uint64_t failures_total = 0;
    std::uint64_t successes_total = 0;
    bool running = false;
};

class Metrics {
public:
    void started(const std::string& target);
    void succeeded(const std::string& target, double finished_unix, double duration_seconds, std::uint64_t bytes);
    void failed(const std::string& target);
    // Not running any more, without an outcome (another runner held the lease).
    void idle(const std::string& target);
    // Seeds last_success from storage at start-up so the gauge is right before the first run.
    void seed_last_success(const std::string& target, double unix_seconds, std::uint64_t bytes);
    TargetMetrics get(const std::string& target) const;
    std::string render() const; // Prometheus text exposition format 0.0.4

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

} // namespace dbkeep::observe
