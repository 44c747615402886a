#include "engine/redis/resp.hpp"

#include "core/cancel.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace dbkeep::engine::resp {
namespace {

constexpr int k_poll_ms = 200;
constexpr int k_max_depth = 16;
// Redis's own largest bulk string (proto-max-bulk-len, 512 MiB): a longer length is no reply a server sends,
// and buffering it would let a peer take gigabytes of memory.
constexpr std::int64_t k_max_bulk = std::int64_t{512} << 20;

using Clock = std::chrono::steady_clock;

std::unexpected<Error> cancelled(const std::string& endpoint)
{
    return fail_cancelled("talk to redis", endpoint);
}

// Waits until fd is ready for `events`, up to `timeout`; checks cancellation every 200 ms.
Status wait_ready(int fd, short events, std::chrono::milliseconds timeout, const std::string& endpoint,
                  const char* what)
{
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (cancel::requested()) {
            return cancelled(endpoint);
        }
        pollfd p{fd, events, 0};
        int r = ::poll(&p, 1, k_poll_ms);
        if (r < 0 && errno != EINTR) {
            return fail(ErrorKind::transient, what, endpoint, errno_message(errno));
        }
        if (r > 0) {
            return {};
        }
        if (Clock::now() >= deadline) {
            return fail(ErrorKind::transient, what, endpoint,
                        "timed out after " + std::to_string(timeout.count() / 1000) + " s");
        }
    }
}

void append_bulk(std::string& out, std::string_view arg)
{
    out += '$';
    out += std::to_string(arg.size());
    out += "\r\n";
    out.append(arg);
    out += "\r\n";
}

} // namespace

Connection::Connection(int fd, std::string endpoint, std::chrono::milliseconds io_timeout)
    : m_fd(fd), m_endpoint(std::move(endpoint)), m_io_timeout(io_timeout)
{
}

Connection::~Connection()
{
    if (m_fd >= 0) {
        ::close(m_fd);
    }
}

Result<std::unique_ptr<Connection>> Connection::connect(const ConnectOptions& options)
{
    std::string endpoint = options.host + ":" + std::to_string(options.port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    std::string port = std::to_string(options.port);
    if (int rc = ::getaddrinfo(options.host.c_str(), port.c_str(), &hints, &list); rc != 0) {
        return fail(ErrorKind::transient, "connect to redis", endpoint,
                    std::string("cannot resolve host: ") + ::gai_strerror(rc),
                    "check the target's host name: it does not resolve here");
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(list, ::freeaddrinfo);
    std::string last_error = "no address";
    for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            last_error = errno_message(errno);
            continue;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            last_error = errno_message(errno);
            ::close(fd);
            continue;
        }
        if (auto st = wait_ready(fd, POLLOUT, options.connect_timeout, endpoint, "connect to redis"); !st) {
            ::close(fd);
            if (st.error().kind == ErrorKind::cancelled) {
                return std::unexpected(st.error());
            }
            last_error = st.error().message;
            continue;
        }
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            last_error = errno_message(err);
            ::close(fd);
            continue;
        }
        return std::unique_ptr<Connection>(new Connection(fd, endpoint, options.io_timeout));
    }
    return fail(ErrorKind::transient, "connect to redis", endpoint, last_error,
                "check the host and port, and that redis listens there");
}

namespace {

// One command as a RESP array of bulk strings.
template <class Args> void append_command(std::string& out, const Args& args)
{
    out += '*';
    out += std::to_string(args.size());
    out += "\r\n";
    for (auto a : args) {
        append_bulk(out, a);
    }
}

} // namespace

std::size_t Connection::append(std::initializer_list<std::string_view> args)
{
    append_command(m_out, args);
    return m_out.size();
}

std::size_t Connection::append(const std::vector<std::string_view>& args)
{
    append_command(m_out, args);
    return m_out.size();
}

Status Connection::flush()
{
    std::size_t done = 0;
    while (done < m_out.size()) {
        ssize_t n = ::send(m_fd, m_out.data() + done, m_out.size() - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return fail(ErrorKind::transient, "send to redis", m_endpoint, errno_message(errno));
        }
        if (auto st = wait_ready(m_fd, POLLOUT, m_io_timeout, m_endpoint, "send to redis"); !st) {
            return st;
        }
    }
    m_out.clear();
    return {};
}

Status Connection::fill()
{
    if (m_in_pos > 0 && m_in_pos == m_in.size()) {
        m_in.clear();
        m_in_pos = 0;
    } else if (m_in_pos > (1u << 20) && m_in_pos > m_in.size() / 2) {
        m_in.erase(0, m_in_pos);
        m_in_pos = 0;
    }
    for (;;) {
        if (auto st = wait_ready(m_fd, POLLIN, m_io_timeout, m_endpoint, "read from redis"); !st) {
            return st;
        }
        std::size_t old = m_in.size();
        m_in.resize(old + 64 * 1024);
        ssize_t n = ::recv(m_fd, m_in.data() + old, 64 * 1024, 0);
        m_in.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
        if (n > 0) {
            return {};
        }
        if (n == 0) {
            return fail(ErrorKind::transient, "read from redis", m_endpoint, "the server closed the connection");
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return fail(ErrorKind::transient, "read from redis", m_endpoint, errno_message(errno));
        }
    }
}

Result<std::string> Connection::read_line()
{
    for (;;) {
        auto nl = m_in.find("\r\n", m_in_pos);
        if (nl != std::string::npos) {
            std::string line = m_in.substr(m_in_pos, nl - m_in_pos);
            m_in_pos = nl + 2;
            return line;
        }
        if (m_in.size() - m_in_pos > (64u << 20)) {
            return fail(ErrorKind::corruption, "read from redis", m_endpoint, "reply line is too long");
        }
        if (auto st = fill(); !st) {
            return std::unexpected(st.error());
        }
    }
}

int Connection::peer_port() const noexcept
{
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(m_fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) {
        return -1;
    }
    if (peer.ss_family == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_port);
    }
    return peer.ss_family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in*>(&peer)->sin_port) : -1;
}

Status Connection::write_raw(Bytes data)
{
    m_out.append(reinterpret_cast<const char*>(data.data()), data.size());
    return flush();
}

Result<std::size_t> Connection::read_some(MutableBytes out)
{
    if (out.empty()) {
        return 0;
    }
    if (m_in_pos == m_in.size()) {
        m_in.clear();
        m_in_pos = 0;
        if (cancel::requested()) {
            return cancelled(m_endpoint);
        }
        if (auto st = wait_ready(m_fd, POLLIN, m_io_timeout, m_endpoint, "read from redis"); !st) {
            return std::unexpected(st.error());
        }
        for (;;) {
            ssize_t n = ::recv(m_fd, out.data(), out.size(), 0);
            if (n >= 0) {
                return static_cast<std::size_t>(n);
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                if (auto st = wait_ready(m_fd, POLLIN, m_io_timeout, m_endpoint, "read from redis"); !st) {
                    return std::unexpected(st.error());
                }
                continue;
            }
            return fail(ErrorKind::transient, "read from redis", m_endpoint, errno_message(errno));
        }
    }
    std::size_t n = std::min(out.size(), m_in.size() - m_in_pos);
    std::memcpy(out.data(), m_in.data() + m_in_pos, n);
    m_in_pos += n;
    return n;
}

Result<Reply> Connection::read_command()
{
    for (;;) {
        while (m_in_pos < m_in.size() && (m_in[m_in_pos] == '\n' || m_in[m_in_pos] == '\r')) {
            ++m_in_pos;
        }
        if (m_in_pos < m_in.size()) {
            return parse_reply(0);
        }
        if (auto st = fill(); !st) {
            return std::unexpected(st.error());
        }
    }
}

Result<Reply> Connection::read_reply()
{
    return parse_reply(0);
}

Result<Reply> Connection::parse_reply(int depth)
{
    if (depth > k_max_depth) {
        return fail(ErrorKind::corruption, "read from redis", m_endpoint, "reply nests too deeply");
    }
    auto line = read_line();
    if (!line) {
        return std::unexpected(line.error());
    }
    if (line->empty()) {
        return fail(ErrorKind::corruption, "read from redis", m_endpoint, "empty reply line");
    }
    Reply r;
    char kind = (*line)[0];
    std::string_view rest = std::string_view(*line).substr(1);
    auto parse_int = [&](std::int64_t& v) {
        auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
        return ec == std::errc() && p == rest.data() + rest.size();
    };
    switch (kind) {
    case '+':
        r.type = Reply::Type::simple;
        r.text = rest;
        return r;
    case '-':
        r.type = Reply::Type::error;
        r.text = rest;
        return r;
    case ':':
        r.type = Reply::Type::integer;
        if (!parse_int(r.integer)) {
            return fail(ErrorKind::corruption, "read from redis", m_endpoint, "invalid integer reply");
        }
        return r;
    case '$': {
        std::int64_t len = 0;
        if (!parse_int(len) || len > k_max_bulk) {
            return fail(ErrorKind::corruption, "read from redis", m_endpoint, "invalid bulk length");
        }
        if (len < 0) {
            r.type = Reply::Type::nil;
            return r;
        }
        auto need = static_cast<std::size_t>(len) + 2;
        while (m_in.size() - m_in_pos < need) {
            if (auto st = fill(); !st) {
                return std::unexpected(st.error());
            }
        }
        r.type = Reply::Type::bulk;
        r.text = m_in.substr(m_in_pos, static_cast<std::size_t>(len));
        m_in_pos += need;
        return r;
    }
    case '*': {
        std::int64_t n = 0;
        if (!parse_int(n)) {
            return fail(ErrorKind::corruption, "read from redis", m_endpoint, "invalid array length");
        }
        if (n < 0) {
            r.type = Reply::Type::nil;
            return r;
        }
        r.type = Reply::Type::array;
        for (std::int64_t i = 0; i < n; ++i) {
            auto e = parse_reply(depth + 1);
            if (!e) {
                return e;
            }
            r.elements.push_back(std::move(*e));
        }
        return r;
    }
    default:
        return fail(ErrorKind::corruption, "read from redis", m_endpoint,
                    "unexpected reply type '" + std::string(1, kind) + "'");
    }
}

Result<Reply> Connection::command(std::initializer_list<std::string_view> args)
{
    append(args);
    if (auto st = flush(); !st) {
        return std::unexpected(st.error());
    }
    return read_reply();
}

Status Connection::auth(const std::string& username, const Secret& password)
{
    if (password.empty()) {
        return {};
    }
    auto r = username.empty() ? command({"AUTH", password.reveal()}) : command({"AUTH", username, password.reveal()});
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->is_error()) {
        // The server's message never contains the password ("WRONGPASS invalid username-password pair ...").
        return fail(ErrorKind::auth, "authenticate to redis", m_endpoint, r->text,
                    "check the username and password of the target");
    }
    return {};
}

Status Connection::select(int db)
{
    auto r = command({"SELECT", std::to_string(db)});
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->is_error()) {
        return fail(ErrorKind::failed, "select database " + std::to_string(db) + " on", m_endpoint, r->text);
    }
    return {};
}

Result<std::unique_ptr<Listener>> Listener::open(const std::string& host)
{
    const std::string what = host + ":0";
    sockaddr_storage addr{};
    socklen_t len = 0;
    const bool v6 = host.find(':') != std::string::npos;
    if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
        a->sin6_family = AF_INET6;
        if (::inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) {
            return fail(ErrorKind::config, "listen on", what, "not a numeric address");
        }
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&addr);
        a->sin_family = AF_INET;
        if (::inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) {
            return fail(ErrorKind::config, "listen on", what, "not a numeric address");
        }
        len = sizeof *a;
    }
    int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return fail(ErrorKind::failed, "listen on", what, errno_message(errno));
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, 4) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const int e = errno;
        ::close(fd);
        return fail(ErrorKind::failed, "listen on", what, errno_message(e));
    }
    const int port =
        ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    return std::unique_ptr<Listener>(new Listener(fd, port, host + ":" + std::to_string(port)));
}

Listener::~Listener()
{
    if (m_fd >= 0) {
        ::close(m_fd);
    }
}

Result<std::unique_ptr<Connection>> Listener::accept(std::chrono::milliseconds timeout,
                                                     std::chrono::milliseconds io_timeout)
{
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            return fail(ErrorKind::transient, "wait for a connection on", m_endpoint,
                        "none came within " + std::to_string(timeout.count() / 1000) + " s");
        }
        if (auto st = wait_ready(m_fd, POLLIN, left, m_endpoint, "wait for a connection on"); !st) {
            return std::unexpected(st.error());
        }
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        const int fd = ::accept4(m_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return std::unique_ptr<Connection>(new Connection(fd, "replica on " + m_endpoint, io_timeout));
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
            return fail(ErrorKind::failed, "wait for a connection on", m_endpoint, errno_message(errno));
        }
    }
}

} // namespace dbkeep::engine::resp
