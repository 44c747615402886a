#include "support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace dbkeep::test {

TcpProxy::TcpProxy(int upstream_port) : m_upstream(upstream_port)
{
    m_listen = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(m_listen, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(m_listen, 64) != 0) {
        throw std::runtime_error("proxy bind failed");
    }
    socklen_t len = sizeof a;
    ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&a), &len);
    m_port = ntohs(a.sin_port);
    m_thread = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy()
{
    m_stop = true;
    m_thread.join();
    for (auto& w : m_workers) {
        w.join();
    }
    ::close(m_listen);
}

std::string TcpProxy::recorded() const
{
    std::lock_guard lock(m_mutex);
    return m_recorded;
}

void TcpProxy::reset_connections(int connections, std::size_t after_bytes)
{
    m_reset_after = after_bytes;
    m_resets_left = connections;
}

void TcpProxy::stall_connections(int connections, std::size_t after_bytes, int seconds)
{
    m_stall_after = after_bytes;
    m_stall_seconds = seconds;
    m_stalls_left = connections;
}

void TcpProxy::accept_loop()
{
    while (!m_stop) {
        pollfd p{m_listen, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) {
            continue;
        }
        int c = ::accept(m_listen, nullptr, nullptr);
        if (c >= 0) {
            std::lock_guard lock(m_mutex);
            m_workers.emplace_back([this, c] { serve(c); });
        }
    }
}

void TcpProxy::serve(int client)
{
    int up = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(m_upstream));
    if (::connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(client);
        ::close(up);
        return;
    }
    bool will_reset = false;
    int left = m_resets_left.load();
    while (left > 0 && !m_resets_left.compare_exchange_weak(left, left - 1)) {
    }
    will_reset = left > 0;
    int stall_left = m_stalls_left.load();
    while (stall_left > 0 && !m_stalls_left.compare_exchange_weak(stall_left, stall_left - 1)) {
    }
    bool will_stall = stall_left > 0;
    std::size_t from_client = 0;
    char buf[65536];
    pollfd fds[2] = {{client, POLLIN, 0}, {up, POLLIN, 0}};
    while (!m_stop) {
        if (::poll(fds, 2, 100) <= 0) {
            continue;
        }
        bool done = false;
        for (int i = 0; i < 2; ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            ssize_t n = ::recv(fds[i].fd, buf, sizeof buf, 0);
            if (n <= 0) {
                done = true;
                break;
            }
            if (i == 0) {
                from_client += static_cast<std::size_t>(n);
                {
                    std::lock_guard lock(m_mutex);
                    m_recorded.append(buf, static_cast<std::size_t>(n));
                }
                if (will_stall && from_client >= m_stall_after) {
                    will_stall = false;
                    ++m_stalls_done;
                    // Hold everything: neither direction moves until the stall ends (or the proxy stops).
                    for (int tick = 0; tick < m_stall_seconds * 10 && !m_stop; ++tick) {
                        std::this_thread::sleep_for(std::chrono::milliseconds(100));
                    }
                }
                if (will_reset && from_client >= m_reset_after) {
                    linger l{1, 0}; // RST instead of FIN
                    ::setsockopt(client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
                    ++m_resets_done;
                    done = true;
                    break;
                }
            }
            ::send(fds[1 - i].fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
        }
        if (done) {
            break;
        }
    }
    ::close(client);
    ::close(up);
}

} // namespace dbkeep::test
