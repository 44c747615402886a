// A loopback TCP proxy between a client and a server: records what the client sent, and can reset
// connections after a number of bytes to inject faults.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dbkeep::test {

class TcpProxy {
public:
    explicit TcpProxy(int upstream_port);
    ~TcpProxy();
    TcpProxy(const TcpProxy&) = delete;
    TcpProxy& operator=(const TcpProxy&) = delete;

    int port() const { return m_port; }
    // Everything clients sent so far (all connections, in arrival order per chunk).
    std::string recorded() const;
    // The next `connections` connections are reset once they have carried `after_bytes` from the client.
    void reset_connections(int connections, std::size_t after_bytes);
    int resets_done() const { return m_resets_done.load(); }
    // The next `connections` connections stop forwarding for `seconds` once they carried `after_bytes`.
    void stall_connections(int connections, std::size_t after_bytes, int seconds);
    int stalls_done() const { return m_stalls_done.load(); }

private:
    void accept_loop();
    void serve(int client);

    int m_listen = -1;
    int m_port = 0;
    int m_upstream;
    std::atomic<bool> m_stop{false};
    std::thread m_thread;
    mutable std::mutex m_mutex;
    std::string m_recorded;
    std::vector<std::thread> m_workers;
    std::atomic<int> m_resets_left{0};
    std::atomic<int> m_resets_done{0};
    std::atomic<std::size_t> m_reset_after{0};
    std::atomic<int> m_stalls_left{0};
    std::atomic<int> m_stalls_done{0};
    std::atomic<std::size_t> m_stall_after{0};
    std::atomic<int> m_stall_seconds{0};
};

} // namespace dbkeep::test
