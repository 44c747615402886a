// A minimal Redis client speaking RESP2 over TCP: commands as arrays of bulk strings, pipelining, and raw reads
// for the replication payload. Blocking with timeouts; every wait honours cancel::requested().
#pragma once

#include "core/bytes.hpp"
#include "core/error.hpp"
#include "core/secret.hpp"

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dbkeep::engine::resp {

struct Reply {
    enum class Type { simple, error, integer, bulk, nil, array };
    Type type = Type::nil;
    std::string text; // simple, error and bulk
    std::int64_t integer = 0;
    std::vector<Reply> elements;

    bool is_error() const noexcept { return type == Type::error; }
};

struct ConnectOptions {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds io_timeout{120'000}; // longest wait for any byte to arrive or leave
};

class Connection {
public:
    // Connects over TCP. Errors: transient when the host cannot be reached or the connect times out.
    static Result<std::unique_ptr<Connection>> connect(const ConnectOptions& options);

    ~Connection(); // closes the socket
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // "host:port", for messages.
    const std::string& endpoint() const noexcept { return m_endpoint; }

    // Queues one command (written by flush()); returns the bytes now queued.
    std::size_t append(std::initializer_list<std::string_view> args);
    std::size_t append(const std::vector<std::string_view>& args);
    // Writes everything queued.
    Status flush();
    // Reads the next reply. An error reply is a value (Reply::is_error), not a failure.
    Result<Reply> read_reply();
    // As a master: the replica's next command (a RESP array), skipping the bare newlines a replica sends as
    // keep-alives while it loads a payload (replication.c, replicationSendNewlineToMaster).
    Result<Reply> read_command();
    // append + flush + read_reply.
    Result<Reply> command(std::initializer_list<std::string_view> args);

    // AUTH with username (ACL, Redis 6+) or password only. A rejection is ErrorKind::auth.
    Status auth(const std::string& username, const Secret& password);
    Status select(int db);

    // Raw access for the replication stream: one CRLF-terminated line (without CRLF), or whatever bytes are
    // available (at least one; 0 means the server closed the connection).
    Result<std::string> read_line();
    Result<std::size_t> read_some(MutableBytes out);

    // The port of the other end of the connection (getpeername); -1 when the socket cannot tell.
    int peer_port() const noexcept;

    // Writes bytes as they are (a reply to a replica, the replication payload), after anything queued.
    Status write_raw(Bytes data);

    void set_io_timeout(std::chrono::milliseconds timeout) noexcept { m_io_timeout = timeout; }

private:
    friend class Listener;
    Connection(int fd, std::string endpoint, std::chrono::milliseconds io_timeout);
    Status fill(); // reads more bytes into m_in; fails on timeout, close or cancel
    Result<Reply> parse_reply(int depth);

    int m_fd = -1;
    std::string m_endpoint;
    std::chrono::milliseconds m_io_timeout;
    std::string m_out;
    std::string m_in;
    std::size_t m_in_pos = 0;
};

// A listening TCP socket on one address, port chosen by the kernel: where a Redis server made a replica of
// dbkeep (REPLICAOF) connects. Not thread-safe.
class Listener {
public:
    // Binds host (a numeric address: "127.0.0.1", "::1") port 0 and listens. Errors: failed when the address
    // cannot be bound.
    static Result<std::unique_ptr<Listener>> open(const std::string& host);
    ~Listener(); // closes the socket
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    int port() const noexcept { return m_port; }
    // The next connection, within timeout. Errors: transient on timeout, cancelled on SIGINT/SIGTERM.
    Result<std::unique_ptr<Connection>> accept(std::chrono::milliseconds timeout, std::chrono::milliseconds io_timeout);

private:
    Listener(int fd, int port, std::string endpoint) : m_fd(fd), m_port(port), m_endpoint(std::move(endpoint)) {}
    int m_fd = -1;
    int m_port = 0;
    std::string m_endpoint;
};

} // namespace dbkeep::engine::resp
