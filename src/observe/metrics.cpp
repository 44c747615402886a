#include "observe/metrics.hpp"

#include "core/hex.hpp"
#include "core/http.hpp"
#include "core/percent.hpp"
#include "observe/build_info.hpp"
#include "observe/log.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace dbkeep::observe {
namespace {

double now_unix()
{
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A label value as the exposition format writes it: backslash, double quote and newline escaped.
std::string escape_label(const std::string& value)
{
    std::string out;
    for (char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string unescape_label(std::string_view value)
{
    std::string out;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '\\' && i + 1 < value.size()) {
            ++i;
            out += value[i] == 'n' ? '\n' : value[i];
        } else {
            out += value[i];
        }
    }
    return out;
}

// The per-target families a previous textfile carries over, and where each goes.
struct SampleField {
    const char* name;
    void (*set)(TargetMetrics&, double);
};
constexpr SampleField k_carried[] = {
    {"dbkeep_last_success_timestamp_seconds", [](TargetMetrics& t, double v) { t.last_success_unix = v; }},
    {"dbkeep_last_duration_seconds", [](TargetMetrics& t, double v) { t.last_duration_seconds = v; }},
    {"dbkeep_last_size_bytes", [](TargetMetrics& t, double v) { t.last_size_bytes = static_cast<std::uint64_t>(v); }},
    {"dbkeep_backups_total", [](TargetMetrics& t, double v) { t.successes_total = static_cast<std::uint64_t>(v); }},
    {"dbkeep_failures_total", [](TargetMetrics& t, double v) { t.failures_total = static_cast<std::uint64_t>(v); }},
    {"dbkeep_last_failure_timestamp_seconds", [](TargetMetrics& t, double v) { t.last_failure_unix = v; }},
    {"dbkeep_last_verified_restore_timestamp_seconds",
     [](TargetMetrics& t, double v) { t.last_verified_restore_unix = v; }},
    {"dbkeep_lease_busy_timestamp_seconds", [](TargetMetrics& t, double v) { t.lease_busy_unix = v; }},
};

const SampleField* sample_field(const std::string& name)
{
    for (const auto& f : k_carried) {
        if (name == f.name) {
            return &f;
        }
    }
    return nullptr;
}

} // namespace

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

void Metrics::failed(const std::string& target, double finished_unix)
{
    std::lock_guard lock(m_mutex);
    auto& t = m_targets[target];
    t.running = false;
    ++t.failures_total;
    t.last_failure_unix = finished_unix > 0 ? finished_unix : now_unix();
}

void Metrics::set_next_scheduled(const std::string& target, double unix_seconds)
{
    std::lock_guard lock(m_mutex);
    m_targets[target].next_scheduled_unix = unix_seconds;
}

void Metrics::load_previous(const std::string& rendered)
{
    std::lock_guard lock(m_mutex);
    std::size_t pos = 0;
    while (pos < rendered.size()) {
        auto end = rendered.find('\n', pos);
        if (end == std::string::npos) {
            end = rendered.size();
        }
        const std::string_view line(rendered.data() + pos, end - pos);
        pos = end + 1;
        // name{target="x"} value
        const auto brace = line.find("{target=\"");
        const auto close = line.find("\"} ");
        if (line.starts_with('#') || brace == std::string_view::npos || close == std::string_view::npos ||
            close < brace) {
            continue;
        }
        const std::string name(line.substr(0, brace));
        const std::string target = unescape_label(line.substr(brace + 9, close - brace - 9));
        const std::string number(line.substr(close + 3));
        char* parsed_end = nullptr;
        const double value = std::strtod(number.c_str(), &parsed_end);
        if (parsed_end == number.c_str() || !std::isfinite(value) || value < 0 || target.empty()) {
            continue;
        }
        auto* field = sample_field(name);
        if (field == nullptr) {
            continue;
        }
        auto& t = m_targets[target];
        field->set(t, value);
    }
}

std::vector<std::string> Metrics::targets() const
{
    std::lock_guard lock(m_mutex);
    std::vector<std::string> out;
    for (const auto& [name, m] : m_targets) {
        out.push_back(name);
    }
    return out;
}

void Metrics::idle(const std::string& target)
{
    std::lock_guard lock(m_mutex);
    m_targets[target].running = false;
}

void Metrics::lease_busy(const std::string& target)
{
    std::lock_guard lock(m_mutex);
    auto& t = m_targets[target];
    t.running = false;
    t.lease_busy_unix = now_unix();
}

void Metrics::verified_restore(const std::string& target, double unix_seconds)
{
    std::lock_guard lock(m_mutex);
    auto& t = m_targets[target];
    t.last_verified_restore_unix = std::max(t.last_verified_restore_unix, unix_seconds);
}

void Metrics::seed_last_success(const std::string& target, double unix_seconds, std::uint64_t bytes)
{
    std::lock_guard lock(m_mutex);
    auto& t = m_targets[target];
    if (unix_seconds > t.last_success_unix) {
        t.last_success_unix = unix_seconds;
        if (bytes > 0) {
            t.last_size_bytes = bytes;
        }
    }
}

TargetMetrics Metrics::get(const std::string& target) const
{
    std::lock_guard lock(m_mutex);
    auto it = m_targets.find(target);
    return it == m_targets.end() ? TargetMetrics{} : it->second;
}

std::string Metrics::render(const std::string& only_target) const
{
    std::lock_guard lock(m_mutex);
    std::ostringstream o;
    o.precision(15);
    auto family = [&](const char* name, const char* type, const char* help, auto value) {
        o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
        for (const auto& [target, m] : m_targets) {
            if (only_target.empty() || target == only_target) {
                o << name << "{target=\"" << escape_label(target) << "\"} " << value(m) << "\n";
            }
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
    family("dbkeep_last_failure_timestamp_seconds", "gauge", "Unix time of the last failed backup (0: none known).",
           [](const TargetMetrics& m) { return m.last_failure_unix; });
    family("dbkeep_next_scheduled_timestamp_seconds", "gauge",
           "Unix time of the next scheduled backup (0: no schedule).",
           [](const TargetMetrics& m) { return m.next_scheduled_unix; });
    family("dbkeep_last_verified_restore_timestamp_seconds", "gauge",
           "Unix time of the last successful test restore (0: none known).",
           [](const TargetMetrics& m) { return m.last_verified_restore_unix; });
    family("dbkeep_lease_busy_timestamp_seconds", "gauge",
           "Unix time a backup last found the target's lease held by another runner and did not run (0: never).",
           [](const TargetMetrics& m) { return m.lease_busy_unix; });
    const auto info = build_info();
    o << "# HELP dbkeep_build_info The dbkeep build that wrote these metrics.\n# TYPE dbkeep_build_info gauge\n"
      << "dbkeep_build_info{version=\"" << escape_label(info.version) << "\",commit=\"" << escape_label(info.commit)
      << "\"} 1\n";
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

// The textfile, atomically: readers (node_exporter) see the old file or the new one, never half of one.
Status write_textfile(const std::string& path, const std::string& text)
{
    const std::string temp = path + ".tmp-" + random_hex(4);
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        return fail(errno == EACCES ? ErrorKind::auth : ErrorKind::failed, "write metrics to", path,
                    errno_message(errno), "the folder of metrics.textfile must exist and be writable");
    }
    std::size_t off = 0;
    int error = 0;
    while (off < text.size()) {
        const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error = n < 0 ? errno : EIO;
            break;
        }
        off += static_cast<std::size_t>(n);
    }
    if (error == 0 && ::fsync(fd) != 0) {
        error = errno;
    }
    ::close(fd);
    if (error == 0 && ::rename(temp.c_str(), path.c_str()) != 0) {
        error = errno;
    }
    if (error != 0) {
        ::unlink(temp.c_str());
        return fail(ErrorKind::failed, "write metrics to", path, errno_message(error));
    }
    return {};
}

Status push_group(const MetricsExport& out, const std::string& target, const std::string& text)
{
    std::string base = out.pushgateway;
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    http::Request request;
    request.method = "PUT";
    request.url = base + "/metrics/job/" + percent_encode(out.job) + "/target/" + percent_encode(target);
    request.headers = {{"Content-Type", "text/plain; version=0.0.4"}};
    request.body = text;
    request.timeout = std::chrono::seconds(10);
    request.max_body = 64 * 1024;
    auto response = http::perform(request, "push metrics to", out.pushgateway);
    if (!response) {
        return std::unexpected(response.error());
    }
    if (response->status < 200 || response->status >= 300) {
        return fail(ErrorKind::failed, "push metrics to", out.pushgateway,
                    "HTTP " + std::to_string(response->status) + ": " + response->body.substr(0, 300));
    }
    return {};
}

} // namespace

Status export_metrics(const MetricsExport& out, Metrics& metrics)
{
    Status first;
    auto keep = [&first](Status st, const char* what) {
        if (!st) {
            observe::warn("metrics not written", {{"output", what}, {"error", st.error().to_string()}});
            if (first) {
                first = st;
            }
        }
    };
    if (!out.textfile.empty()) {
        keep(write_textfile(out.textfile, metrics.render()), "textfile");
    }
    if (!out.pushgateway.empty()) {
        for (const auto& target : metrics.targets()) {
            keep(push_group(out, target, metrics.render(target)), "pushgateway");
        }
    }
    return first;
}

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
