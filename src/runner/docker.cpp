#include "runner/docker.hpp"

#include "core/cancel.hpp"
#include "core/hex.hpp"
#include "core/percent.hpp"
#include "observe/log.hpp"
#include "stream/sha256.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <netdb.h>
#include <openssl/rand.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace dbkeep::runner {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* k_api = "/v1.41";
constexpr std::size_t k_stderr_keep = 64 * 1024;
constexpr std::size_t k_max_response = 16 << 20;
constexpr auto k_request_timeout = std::chrono::seconds(60);

std::string resolve_host(const DockerOptions& o)
{
    if (!o.host.empty()) {
        return o.host;
    }
    if (const char* env = std::getenv("DOCKER_HOST"); env && *env) {
        return env;
    }
    return "unix:///var/run/docker.sock";
}

// Waits until fd is ready for `events`, in 200 ms slices that honour cancellation, until `deadline`.
Status wait_fd(int fd, short events, Clock::time_point deadline, const std::string& what)
{
    for (;;) {
        if (cancel::requested()) {
            return fail_cancelled("talk to docker at", what);
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            return fail(ErrorKind::transient, "talk to docker at", what, "timed out");
        }
        pollfd p{fd, events, 0};
        int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 200)));
        if (r < 0 && errno != EINTR) {
            return fail(ErrorKind::failed, "talk to docker at", what, errno_message(errno));
        }
        if (r > 0) {
            return {};
        }
    }
}

// One HTTP/1.1 connection to the engine. Plain enough for the handful of calls we make: requests with a
// JSON body, responses with Content-Length, chunked, or up to the close; and the hijack of exec start.
class Conn {
public:
    ~Conn() { close(); }

    static Result<std::unique_ptr<Conn>> open(const std::string& host)
    {
        auto c = std::unique_ptr<Conn>(new Conn);
        c->m_what = host;
        int fd = -1;
        const auto deadline = Clock::now() + std::chrono::seconds(10);
        if (host.starts_with("unix://")) {
            std::string path = host.substr(7);
            sockaddr_un addr{};
            if (path.size() >= sizeof addr.sun_path) {
                return fail(ErrorKind::config, "connect to docker at", host, "socket path too long");
            }
            addr.sun_family = AF_UNIX;
            std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
            fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
                int e = errno;
                if (fd >= 0) {
                    ::close(fd);
                }
                if (e == EACCES || e == EPERM) {
                    return fail(ErrorKind::auth, "connect to docker at", host, errno_message(e),
                                "run dbkeep as a user in the docker group, or as root");
                }
                return fail(ErrorKind::transient, "connect to docker at", host, errno_message(e),
                            "is the Docker (or podman system service) daemon running? set the runner's host:");
            }
        } else if (host.starts_with("tcp://") || host.starts_with("http://")) {
            std::string hp = host.substr(host.find("://") + 3);
            if (auto slash = hp.find('/'); slash != std::string::npos) {
                hp.resize(slash);
            }
            auto colon = hp.rfind(':');
            std::string h = colon == std::string::npos ? hp : hp.substr(0, colon);
            std::string port = colon == std::string::npos ? "2375" : hp.substr(colon + 1);
            if (h.starts_with("[") && h.ends_with("]")) {
                h = h.substr(1, h.size() - 2);
            }
            addrinfo hints{};
            hints.ai_socktype = SOCK_STREAM;
            addrinfo* res = nullptr;
            if (int rc = ::getaddrinfo(h.c_str(), port.c_str(), &hints, &res); rc != 0) {
                return fail(ErrorKind::transient, "connect to docker at", host, ::gai_strerror(rc));
            }
            int last = 0;
            for (auto* a = res; a && fd < 0; a = a->ai_next) {
                fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
                if (fd < 0) {
                    last = errno;
                    continue;
                }
                if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
                    last = errno;
                    ::close(fd);
                    fd = -1;
                    continue;
                }
                if (auto st = wait_fd(fd, POLLOUT, deadline, host); !st) {
                    ::close(fd);
                    ::freeaddrinfo(res);
                    return std::unexpected(st.error());
                }
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0) {
                    last = err;
                    ::close(fd);
                    fd = -1;
                }
            }
            ::freeaddrinfo(res);
            if (fd < 0) {
                return fail(ErrorKind::transient, "connect to docker at", host, errno_message(last),
                            "is the daemon listening there? (dockerd -H tcp://...)");
            }
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        } else {
            return fail(ErrorKind::config, "connect to docker at", host, "unsupported address",
                        "use unix:///path/to/docker.sock or tcp://host:port");
        }
        c->m_fd = fd;
        return c;
    }

    int fd() const noexcept { return m_fd; }
    const std::string& what() const noexcept { return m_what; }

    void close() noexcept
    {
        if (m_fd >= 0) {
            ::close(m_fd);
            m_fd = -1;
        }
    }

    Status write_all(std::string_view data, Clock::time_point deadline)
    {
        std::size_t off = 0;
        while (off < data.size()) {
            if (auto st = wait_fd(m_fd, POLLOUT, deadline, m_what); !st) {
                return st;
            }
            ssize_t n = ::send(m_fd, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    continue;
                }
                return fail(ErrorKind::transient, "send to docker at", m_what, errno_message(errno));
            }
            off += static_cast<std::size_t>(n);
        }
        return {};
    }

    // Reads more bytes into the buffer; 0 at the peer's close. Tries first, waits only when nothing is there.
    Result<std::size_t> fill(Clock::time_point deadline)
    {
        if (m_pos > 0 && m_pos == m_buf.size()) {
            m_buf.clear();
            m_pos = 0;
        } else if (m_pos > (1 << 20)) {
            m_buf.erase(0, m_pos);
            m_pos = 0;
        }
        const std::size_t old = m_buf.size();
        m_buf.resize(old + 256 * 1024);
        for (;;) {
            ssize_t n = ::recv(m_fd, m_buf.data() + old, 256 * 1024, MSG_DONTWAIT);
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
                if (auto st = wait_fd(m_fd, POLLIN, deadline, m_what); !st) {
                    m_buf.resize(old);
                    return std::unexpected(st.error());
                }
                continue;
            }
            if (n < 0) {
                int e = errno;
                m_buf.resize(old);
                return fail(ErrorKind::transient, "read from docker at", m_what, errno_message(e));
            }
            m_buf.resize(old + static_cast<std::size_t>(n));
            return static_cast<std::size_t>(n);
        }
    }

    struct Head {
        int status = 0;
        std::map<std::string, std::string> headers; // lowercase names
    };

    Status send_request(const std::string& method, const std::string& path, const std::string& body,
                        const std::vector<std::string>& extra_headers, Clock::time_point deadline)
    {
        std::string req = method + " " + k_api + path + " HTTP/1.1\r\nHost: docker\r\nUser-Agent: dbkeep\r\n";
        if (!body.empty() || method == "POST") {
            req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
        }
        for (const auto& h : extra_headers) {
            req += h + "\r\n";
        }
        req += "\r\n" + body;
        return write_all(req, deadline);
    }

    Result<Head> read_head(Clock::time_point deadline)
    {
        std::size_t end;
        while ((end = m_buf.find("\r\n\r\n")) == std::string::npos) {
            if (m_buf.size() > 64 * 1024) {
                return fail(ErrorKind::failed, "read from docker at", m_what, "oversized response header");
            }
            auto n = fill(deadline);
            if (!n) {
                return std::unexpected(n.error());
            }
            if (*n == 0) {
                return fail(ErrorKind::transient, "read from docker at", m_what, "connection closed");
            }
        }
        Head head;
        std::string text = m_buf.substr(0, end);
        m_buf.erase(0, end + 4);
        auto eol = text.find("\r\n");
        std::string status_line = text.substr(0, eol);
        if (auto sp = status_line.find(' '); sp != std::string::npos) {
            head.status = std::atoi(status_line.c_str() + sp + 1);
        }
        std::size_t pos = eol == std::string::npos ? text.size() : eol + 2;
        while (pos < text.size()) {
            auto next = text.find("\r\n", pos);
            std::string line = text.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
            pos = next == std::string::npos ? text.size() : next + 2;
            auto colon = line.find(':');
            if (colon == std::string::npos) {
                continue;
            }
            std::string name = line.substr(0, colon);
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            head.headers[name] = value;
        }
        return head;
    }

    Result<std::string> read_body(const Head& head, Clock::time_point deadline)
    {
        auto te = head.headers.find("transfer-encoding");
        if (te != head.headers.end() && te->second.find("chunked") != std::string::npos) {
            std::string body;
            for (;;) {
                std::size_t eol;
                while ((eol = m_buf.find("\r\n")) == std::string::npos) {
                    auto n = fill(deadline);
                    if (!n || *n == 0) {
                        return fail(ErrorKind::transient, "read from docker at", m_what, "truncated response");
                    }
                }
                std::size_t size = std::strtoull(m_buf.c_str(), nullptr, 16);
                m_buf.erase(0, eol + 2);
                while (m_buf.size() < size + 2) {
                    auto n = fill(deadline);
                    if (!n || *n == 0) {
                        return fail(ErrorKind::transient, "read from docker at", m_what, "truncated response");
                    }
                }
                body.append(m_buf, 0, size);
                m_buf.erase(0, size + 2);
                if (size == 0) {
                    return body;
                }
                if (body.size() > k_max_response) {
                    return fail(ErrorKind::failed, "read from docker at", m_what, "oversized response");
                }
            }
        }
        auto cl = head.headers.find("content-length");
        if (cl != head.headers.end()) {
            std::size_t size = std::strtoull(cl->second.c_str(), nullptr, 10);
            if (size > k_max_response) {
                return fail(ErrorKind::failed, "read from docker at", m_what, "oversized response");
            }
            while (m_buf.size() < size) {
                auto n = fill(deadline);
                if (!n || *n == 0) {
                    return fail(ErrorKind::transient, "read from docker at", m_what, "truncated response");
                }
            }
            std::string body = m_buf.substr(0, size);
            m_buf.erase(0, size);
            return body;
        }
        if (head.status == 204 || head.status == 304) {
            return std::string();
        }
        for (;;) {
            auto n = fill(deadline);
            if (!n) {
                return std::unexpected(n.error());
            }
            if (*n == 0) {
                break;
            }
            if (m_buf.size() > k_max_response) {
                return fail(ErrorKind::failed, "read from docker at", m_what, "oversized response");
            }
        }
        return std::exchange(m_buf, {});
    }

    // Received bytes not consumed yet (after the response head).
    std::size_t pending() const noexcept { return m_buf.size() - m_pos; }
    const char* pending_data() const noexcept { return m_buf.data() + m_pos; }
    void consume(std::size_t n) noexcept { m_pos += n; }

private:
    Conn() = default;
    int m_fd = -1;
    std::string m_what;
    std::string m_buf;
    std::size_t m_pos = 0; // start of the unconsumed bytes in m_buf (the stream path only)
};

struct Response {
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers;
};

Result<Response> call(const std::string& host, const std::string& method, const std::string& path,
                      const std::string& body = {})
{
    auto conn = Conn::open(host);
    if (!conn) {
        return std::unexpected(conn.error());
    }
    const auto deadline = Clock::now() + k_request_timeout;
    if (auto st = (*conn)->send_request(method, path, body, {"Connection: close"}, deadline); !st) {
        return std::unexpected(st.error());
    }
    auto head = (*conn)->read_head(deadline);
    if (!head) {
        return std::unexpected(head.error());
    }
    auto text = (*conn)->read_body(*head, deadline);
    if (!text) {
        return std::unexpected(text.error());
    }
    return Response{head->status, std::move(*text), std::move(head->headers)};
}

// The engine's {"message": "..."} of an error response.
std::string api_message(const Response& r)
{
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) {
        return j["message"].get<std::string>();
    }
    std::string s = r.body.substr(0, 200);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
        s.pop_back();
    }
    return "HTTP " + std::to_string(r.status) + (s.empty() ? "" : ": " + s);
}

std::string random_token()
{
    return random_hex(12);
}

// Signals every process whose environment carries the token: TERM, then KILL after a second.
constexpr const char* k_kill_script =
    "t=\"DBKEEP_EXEC_TOKEN=$1\"; for s in TERM KILL; do for d in /proc/[0-9]*; do p=${d#/proc/}; "
    "[ \"$p\" = \"$$\" ] && continue; if tr '\\0' '\\n' < \"$d/environ\" 2>/dev/null | grep -qx \"$t\"; then "
    "kill -s $s \"$p\" 2>/dev/null; fi; done; [ $s = TERM ] && sleep 1; done; exit 0";

class DockerRunner;

// Creates an exec; returns its id. Errors name the container and say what to do.
Result<std::string> create_exec(const DockerOptions& o, const std::string& host, const Command& command, bool attach,
                                const std::string& token)
{
    json body;
    body["AttachStdin"] = attach && command.with_stdin;
    body["AttachStdout"] = attach;
    body["AttachStderr"] = attach;
    body["Tty"] = false;
    body["Cmd"] = command.argv;
    json env = json::array();
    for (const auto& [k, v] : command.env) {
        env.push_back(k + "=" + v);
    }
    if (!token.empty()) {
        env.push_back("DBKEEP_EXEC_TOKEN=" + token);
    }
    body["Env"] = env;
    if (!o.user.empty()) {
        body["User"] = o.user;
    }
    auto r = call(host, "POST", "/containers/" + percent_encode(o.container) + "/exec", body.dump());
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->status == 404) {
        return fail(ErrorKind::not_found, "run in docker container", o.container, api_message(*r),
                    "check the runner's container: name (docker ps -a)");
    }
    if (r->status == 409) {
        return fail(ErrorKind::failed, "run in docker container", o.container, api_message(*r),
                    "start the container (docker start " + o.container + ")");
    }
    if (r->status != 201 && r->status != 200) {
        return fail(r->status == 401 || r->status == 403 ? ErrorKind::auth : ErrorKind::failed,
                    "run in docker container", o.container, api_message(*r));
    }
    auto j = json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("Id") || !j["Id"].is_string()) {
        return fail(ErrorKind::failed, "run in docker container", o.container, "the engine returned no exec id");
    }
    return j["Id"].get<std::string>();
}

void kill_by_token(const DockerOptions& o, const std::string& host, const std::string& token) noexcept
{
    try {
        Command k{.argv = {"sh", "-c", k_kill_script, "sh", token}};
        auto id = create_exec(o, host, k, false, "");
        if (!id) {
            observe::warn("cannot stop the command in the container",
                          {{"container", o.container}, {"error", id.error().message}});
            return;
        }
        auto r = call(host, "POST", "/exec/" + *id + "/start", R"({"Detach":true,"Tty":false})");
        if (!r || (r->status != 200 && r->status != 204)) {
            observe::warn("cannot stop the command in the container", {{"container", o.container}});
        }
        // Wait (briefly) until the killer has done its work: a TERM round, a second, a KILL round.
        const auto until = Clock::now() + std::chrono::seconds(5);
        while (Clock::now() < until) {
            auto s = call(host, "GET", "/exec/" + *id + "/json");
            if (!s || s->status != 200) {
                break;
            }
            auto j = json::parse(s->body, nullptr, false);
            if (!j.is_object() || !j.value("Running", false)) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    } catch (...) {
    }
}

class DockerProcess;

class DockerOut final : public stream::Source {
public:
    explicit DockerOut(DockerProcess& p) : m_p(p) {}
    Result<std::size_t> read(MutableBytes out) override;

private:
    DockerProcess& m_p;
};

class DockerIn final : public stream::Sink {
public:
    explicit DockerIn(DockerProcess& p) : m_p(p) {}
    Status write(Bytes data) override;
    Status finish() override;
    void abort() noexcept override;

private:
    DockerProcess& m_p;
};

class DockerProcess final : public Process {
public:
    DockerProcess(DockerOptions o, std::string host, std::string exec_id, std::string token, std::unique_ptr<Conn> conn,
                  bool with_stdin, std::string what)
        : m_opts(std::move(o)), m_host(std::move(host)), m_id(std::move(exec_id)), m_token(std::move(token)),
          m_conn(std::move(conn)), m_what(std::move(what)), m_out(*this),
          m_in(with_stdin ? std::make_unique<DockerIn>(*this) : nullptr)
    {
    }

    ~DockerProcess() override
    {
        if (!m_eof.load() && !m_killed.load()) {
            kill();
        }
    }

    stream::Source& out() override { return m_out; }
    stream::Sink* in() override { return m_in.get(); }

    Result<ExitStatus> wait() override
    {
        std::lock_guard lock(m_wait_mutex);
        if (m_waited) {
            return m_status;
        }
        // Output nobody read: drain it (keeping stderr) so the stream ends.
        std::uint8_t buf[65536];
        while (!m_eof.load() && !m_killed.load()) {
            auto n = read_stdout(buf);
            if (!n) {
                if (n.error().kind == ErrorKind::cancelled) {
                    kill();
                    return std::unexpected(n.error());
                }
                break;
            }
        }
        // The stream ends a moment before the engine records the exit code.
        const auto until = Clock::now() + std::chrono::seconds(30);
        for (;;) {
            auto r = call(m_host, "GET", "/exec/" + m_id + "/json");
            if (!r) {
                return wrap(r.error(), "read the exit status in container " + m_opts.container);
            }
            if (r->status != 200) {
                return fail(ErrorKind::failed, "read the exit status in container", m_opts.container, api_message(*r));
            }
            auto j = json::parse(r->body, nullptr, false);
            if (!j.is_object()) {
                return fail(ErrorKind::failed, "read the exit status in container", m_opts.container,
                            "invalid answer from the engine");
            }
            if (!j.value("Running", false) || Clock::now() > until) {
                int code = j.contains("ExitCode") && j["ExitCode"].is_number_integer() ? j["ExitCode"].get<int>() : -1;
                // The engine reports a process killed by signal N as 128 + N, like a shell.
                if (m_killed_early.load()) {
                    // Stopped by kill() before its output ended: a killed command, whatever its shell returned.
                    m_status = ExitStatus{.code = -1, .signal = code > 128 && code < 128 + 32 ? code - 128 : SIGTERM};
                } else if (j.value("Running", false)) {
                    m_status = ExitStatus{.code = -1, .signal = SIGKILL};
                } else {
                    m_status = ExitStatus{.code = code, .signal = 0};
                }
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        m_waited = true;
        m_conn->close();
        return m_status;
    }

    std::string error_output() const override
    {
        std::lock_guard lock(m_err_mutex);
        return m_err;
    }

    void kill() noexcept override
    {
        if (m_killed.exchange(true)) {
            return;
        }
        if (!m_eof.load()) {
            m_killed_early.store(true);
            kill_by_token(m_opts, m_host, m_token);
        }
        // Wake any reader or writer blocked on the stream.
        ::shutdown(m_conn->fd(), SHUT_RDWR);
    }

    // Demultiplexes the stream: stderr frames are kept, stdout frames returned.
    Result<std::size_t> read_stdout(MutableBytes out)
    {
        std::lock_guard lock(m_read_mutex);
        // Gathers stdout across the frames already received (dockerd frames are at most 32 KiB); blocks only
        // when nothing is there yet.
        std::size_t filled = 0;
        for (;;) {
            if (m_frame_left > 0 && m_conn->pending() > 0) {
                std::size_t room = out.size() - filled;
                std::size_t n =
                    std::min({m_frame_left, m_conn->pending(), m_frame_stream == 1 ? room : std::size_t(-1)});
                const char* data = m_conn->pending_data();
                if (m_frame_stream == 1) {
                    std::memcpy(out.data() + filled, data, n);
                    filled += n;
                } else {
                    keep_stderr(std::string_view(data, n));
                }
                m_conn->consume(n);
                m_frame_left -= n;
                if (filled == out.size()) {
                    return filled;
                }
                continue;
            }
            if (m_frame_left == 0 && m_conn->pending() >= 8) {
                const auto* h = reinterpret_cast<const unsigned char*>(m_conn->pending_data());
                m_frame_stream = h[0];
                m_frame_left = (std::size_t(h[4]) << 24) | (std::size_t(h[5]) << 16) | (std::size_t(h[6]) << 8) |
                               std::size_t(h[7]);
                if (h[0] > 3 || h[1] != 0 || h[2] != 0 || h[3] != 0) {
                    return fail(ErrorKind::failed, "read output of", m_what, "invalid stream frame from the engine");
                }
                m_conn->consume(8);
                continue;
            }
            if (filled > 0) {
                return filled;
            }
            if (m_eof.load()) {
                return 0;
            }
            if (m_killed.load()) {
                return fail(ErrorKind::cancelled, "read output of", m_what, "the command was stopped");
            }
            auto n = m_conn->fill(Clock::time_point::max());
            if (!n) {
                if (m_killed.load() && n.error().kind != ErrorKind::cancelled) {
                    return fail(ErrorKind::cancelled, "read output of", m_what, "the command was stopped");
                }
                if (n.error().kind == ErrorKind::cancelled) {
                    return fail_cancelled("read output of", m_what);
                }
                return std::unexpected(n.error());
            }
            if (*n == 0) {
                if (m_frame_left > 0 || m_conn->pending() > 0) {
                    // The engine closed the stream in the middle of a frame.
                    m_eof.store(true);
                    return fail(ErrorKind::transient, "read output of", m_what,
                                "the engine closed the stream in the middle of a frame");
                }
                m_eof.store(true);
                return 0;
            }
        }
    }

    Status write_stdin(Bytes data)
    {
        if (m_stdin_closed) {
            return fail(ErrorKind::failed, "write input of", m_what, "input already closed");
        }
        // Writes run beside reads on the same socket: only the fd is shared, never the read buffer.
        std::size_t off = 0;
        while (off < data.size()) {
            if (m_killed.load()) {
                return fail(ErrorKind::cancelled, "write input of", m_what, "the command was stopped");
            }
            if (auto st = wait_fd(m_conn->fd(), POLLOUT, Clock::time_point::max(), m_what); !st) {
                return st;
            }
            ssize_t n = ::send(m_conn->fd(), data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    continue;
                }
                return fail(ErrorKind::failed, "write input of", m_what,
                            errno == EPIPE || errno == ECONNRESET ? "the command closed its input (it probably failed)"
                                                                  : errno_message(errno));
            }
            off += static_cast<std::size_t>(n);
        }
        return {};
    }

    void close_stdin() noexcept
    {
        if (!m_stdin_closed) {
            m_stdin_closed = true;
            ::shutdown(m_conn->fd(), SHUT_WR); // the engine closes the command's stdin
        }
    }

private:
    void keep_stderr(std::string_view s)
    {
        std::lock_guard lock(m_err_mutex);
        m_err.append(s);
        if (m_err.size() > 2 * k_stderr_keep) {
            m_err.erase(0, m_err.size() - k_stderr_keep);
        }
    }

    DockerOptions m_opts;
    std::string m_host, m_id, m_token;
    std::unique_ptr<Conn> m_conn;
    std::string m_what;
    DockerOut m_out;
    std::unique_ptr<DockerIn> m_in;
    std::mutex m_read_mutex, m_wait_mutex;
    mutable std::mutex m_err_mutex;
    std::string m_err;
    std::size_t m_frame_left = 0;
    int m_frame_stream = 0;
    std::atomic<bool> m_eof{false}, m_killed{false}, m_killed_early{false};
    bool m_stdin_closed = false;
    bool m_waited = false;
    ExitStatus m_status;
};

Result<std::size_t> DockerOut::read(MutableBytes out)
{
    return m_p.read_stdout(out);
}

Status DockerIn::write(Bytes data)
{
    return m_p.write_stdin(data);
}

Status DockerIn::finish()
{
    m_p.close_stdin();
    return {};
}

void DockerIn::abort() noexcept
{
    m_p.close_stdin();
}

class DockerRunner final : public Runner {
public:
    explicit DockerRunner(DockerOptions o) : m_opts(std::move(o)), m_host(resolve_host(m_opts)) {}

    Result<std::unique_ptr<Process>> start(const Command& command) override
    {
        if (command.argv.empty()) {
            return fail(ErrorKind::config, "start process", "", "empty command");
        }
        const std::string token = random_token();
        auto id = create_exec(m_opts, m_host, command, true, token);
        if (!id) {
            return std::unexpected(id.error());
        }
        auto conn = Conn::open(m_host);
        if (!conn) {
            return std::unexpected(conn.error());
        }
        const auto deadline = Clock::now() + k_request_timeout;
        if (auto st = (*conn)->send_request("POST", "/exec/" + *id + "/start", R"({"Detach":false,"Tty":false})",
                                            {"Connection: Upgrade", "Upgrade: tcp"}, deadline);
            !st) {
            return std::unexpected(st.error());
        }
        auto head = (*conn)->read_head(deadline);
        if (!head) {
            return std::unexpected(head.error());
        }
        if (head->status != 101 && head->status != 200) {
            auto body = (*conn)->read_body(*head, deadline);
            Response r{head->status, body ? *body : std::string(), head->headers};
            return fail(head->status == 404 ? ErrorKind::not_found : ErrorKind::failed,
                        "start " + command.argv[0] + " in container", m_opts.container, api_message(r));
        }
        auto proc = std::make_unique<DockerProcess>(m_opts, m_host, *id, token, std::move(*conn), command.with_stdin,
                                                    command.argv[0] + " in container " + m_opts.container);
        if (!command.with_stdin) {
            // Nothing to send: half-close so the engine sees no input will come.
            proc->close_stdin();
        }
        return proc;
    }

    std::string describe() const override { return "docker container " + m_opts.container; }

    // The engine answers and the container exists and runs (no command is needed to know that).
    std::vector<Finding> probe() override
    {
        std::vector<Finding> out;
        const std::string endpoint = docker_endpoint(m_opts);
        auto state = inspect_container(m_opts);
        if (!state) {
            out.push_back(failed("runner.docker",
                                 "cannot reach the engine at " + endpoint + ": " + state.error().message,
                                 state.error().hint.empty() ? "start dockerd (or podman system service) or fix host:"
                                                            : state.error().hint));
            return out;
        }
        out.push_back(pass("runner.docker", (state->engine.empty() ? std::string("engine") : state->engine) + " (API " +
                                                state->api_version + ") at " + endpoint));
        const auto& name = m_opts.container;
        if (!state->exists) {
            out.push_back(failed("runner.container", "no container named " + name,
                                 "fix the runner's container: (docker ps -a lists them)"));
        } else if (!state->running) {
            out.push_back(
                failed("runner.container", "container " + name + " is " + state->status, "docker start " + name));
        } else {
            out.push_back(
                pass("runner.container", "container " + name + " is running" +
                                             (state->image.empty() ? std::string() : " (image " + state->image + ")")));
        }
        return out;
    }

private:
    DockerOptions m_opts;
    std::string m_host;
};

} // namespace

std::unique_ptr<Runner> make_docker_runner(DockerOptions options)
{
    return std::make_unique<DockerRunner>(std::move(options));
}

std::string docker_endpoint(const DockerOptions& options)
{
    return resolve_host(options);
}

Result<ContainerState> inspect_container(const DockerOptions& options)
{
    const std::string host = resolve_host(options);
    ContainerState state;
    auto v = call(host, "GET", "/version");
    if (!v) {
        return std::unexpected(v.error());
    }
    if (v->status == 200) {
        auto j = json::parse(v->body, nullptr, false);
        if (j.is_object()) {
            std::string name = "Docker";
            if (j.contains("Components") && j["Components"].is_array() && !j["Components"].empty() &&
                j["Components"][0].is_object()) {
                name = j["Components"][0].value("Name", std::string("Docker"));
            }
            state.engine = name + " " + j.value("Version", std::string());
            state.api_version = j.value("ApiVersion", std::string());
        }
    }
    auto r = call(host, "GET", "/containers/" + percent_encode(options.container) + "/json");
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->status == 404) {
        return state;
    }
    if (r->status != 200) {
        return fail(ErrorKind::failed, "inspect container", options.container, api_message(*r));
    }
    auto j = json::parse(r->body, nullptr, false);
    if (!j.is_object()) {
        return fail(ErrorKind::failed, "inspect container", options.container, "invalid answer from the engine");
    }
    state.exists = true;
    if (j.contains("State") && j["State"].is_object()) {
        state.running = j["State"].value("Running", false) && !j["State"].value("Paused", false);
        state.status = j["State"].value("Status", std::string());
    }
    if (j.contains("Config") && j["Config"].is_object()) {
        state.image = j["Config"].value("Image", std::string());
    }
    return state;
}

} // namespace dbkeep::runner
