#include "observe/metrics.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <netdb.h>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace dbkeep::observe {

void Metrics::started(const std::string& target)
{
    std::lock_guard lock(m_mutex);
    m_targets[target].running = true;
}

void Metrics::succeeded(const std::string& target, double finished_unix, double duration_seconds, std::uint64_t bytes)
{
    std::lock_guard lock(m_mutex);
    auto& t = m_targets[target];
    t.running = false;
    t.last_success_unix = finished_unix;
    t.last_duration_seconds = duration_seconds;
    t.last_size_bytes = bytes;
    ++t.successes_total;
}

void Metrics::failed(const std::string& target)
{
    std::lock_guard lock(m_mutex);
    auto& t = m_targets[target];
    t.running = false;
    ++t.failures_total;
}

void Metrics::idle(const std::string& target)
{
    std::lock_guard lock(m_mutex);
    m_targets[target].running = false;
}

void Metrics::seed_last_success(const std::string& target, double unix_seconds, std::uint64_t bytes)
{
    std::lock_guard lock(m_mutex);
    auto& t = m_targets[target];
    if (unix_seconds > t.last_success_unix) {
        t.last_success_unix = unix_seconds;
        t.last_size_bytes = bytes;
    }
}

TargetMetrics Metrics::get(const std::string& target) const
{
    std::lock_guard lock(m_mutex);
    auto it = m_targets.find(target);
    return it == m_targets.end() ? TargetMetrics{} : it->second;
}

std::string Metrics::render() const
{
    std::lock_guard lock(m_mutex);
    std::ostringstream o;
    o.precision(15);
    auto family = [&](const char* name, const char* type, const char* help, auto value) {
        o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
        for (const auto& [target, m] : m_targets) {
            o << name << "{target=\"" << target << "\"} " << value(m) << "\n";
        }
    };
    family("dbkeep_last_success_timestamp_seconds", "gauge", "Unix time of the last successful backup (0: never).",
           [](const TargetMetrics& m) { return m.last_success_unix; });
    family("dbkeep_last_duration_seconds", "gauge", "Duration of the last successful backup.",
           [](const TargetMetrics& m) { return m.last_duration_seconds; });
    family("dbkeep_last_size_bytes", "gauge", "Stored size of the last successful backup.",
           [](const TargetMetrics& m) { return m.last_size_bytes; });
    family("dbkeep_backups_total", "counter", "Successful backups since the daemon started.",
           [](const TargetMetrics& m) { return m.successes_total; });
    family("dbkeep_failures_total", "counter", "Failed backups since the daemon started.",
           [](const TargetMetrics& m) { return m.failures_total; });
    family("dbkeep_running", "gauge", "1 while a backup of the target runs.",
           [](const TargetMetrics& m) { return m.running ? 1 : 0; });
    return o.str();
}

namespace {

class SocketListener final : public HttpListener {
public:
    SocketListener(int fd, int port, const Metrics& metrics) : m_fd(fd), m_port(port), m_metrics(metrics)
    {
        m_thread = std::thread([this] { serve(); });
    }
    ~SocketListener() override
    {
        m_stop.store(true);
        m_thread.join();
        ::close(m_fd);
    }
    int port() const override { return m_port; }

private:
    void serve()
    {
        while (!m_stop.load()) {
            pollfd p{m_fd, POLLIN, 0};
            if (::poll(&p, 1, 200) <= 0) {
                continue;
            }
            int c = ::accept4(m_fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) {
                continue;
            }
            handle(c);
            ::close(c);
        }
    }

    void handle(int c)
    {
        // One small request per connection; 2 s to send it.
        timeval tv{2, 0};
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::string req;
        char buf[2048];
        while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
            ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) {
                return;
            }
            req.append(buf, static_cast<std::size_t>(n));
        }
        std::string status = "200 OK", type = "text/plain; charset=utf-8", body;
        if (req.rfind("GET /metrics", 0) == 0) {
            type = "text/plain; version=0.0.4; charset=utf-8";
            body = m_metrics.render();
        } else if (req.rfind("GET /healthz", 0) == 0) {
            body = "ok\n";
        } else {
            status = "404 Not Found";
            body = "not found\n";
        }
        std::string resp = "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
                           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                           body;
        std::size_t off = 0;
        while (off < resp.size()) {
            ssize_t n = ::send(c, resp.data() + off, resp.size() - off, MSG_NOSIGNAL);
            if (n <= 0) {
                return;
            }
            off += static_cast<std::size_t>(n);
        }
    }

    int m_fd;
    int m_port;
    const Metrics& m_metrics;
    std::atomic<bool> m_stop{false};
    std::thread m_thread;
};

} // namespace

Result<std::unique_ptr<HttpListener>> listen_http(const std::string& host_port, const Metrics& metrics)
{
    auto colon = host_port.rfind(':');
    if (colon == std::string::npos) {
        return fail(ErrorKind::config, "listen on", host_port, "expected HOST:PORT, e.g. 127.0.0.1:9187");
    }
    std::string host = host_port.substr(0, colon), port = host_port.substr(colon + 1);
    if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res); rc != 0) {
        return fail(ErrorKind::config, "listen on", host_port, gai_strerror(rc));
    }
    int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 16) != 0) {
        int e = errno;
        ::freeaddrinfo(res);
        if (fd >= 0) {
            ::close(fd);
        }
        return fail(ErrorKind::failed, "listen on", host_port, errno_message(e));
    }
    ::freeaddrinfo(res);
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    int bound = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                           : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    return std::make_unique<SocketListener>(fd, bound, metrics);
}

} // namespace dbkeep::observe
