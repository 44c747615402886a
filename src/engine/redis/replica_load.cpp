#include "engine/redis/replica_load.hpp"

#include "core/cancel.hpp"
#include "core/hex.hpp"
#include "observe/log.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

namespace dbkeep::engine::redis {
namespace {

constexpr std::size_t k_chunk = std::size_t{1} << 20;
constexpr int k_max_handshake_commands = 32;

std::string lower(std::string s)
{
    std::ranges::transform(s, s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

constexpr auto k_keepalive = std::chrono::seconds(10);

// Makes the server a master again, run even after SIGINT/SIGTERM within the Shield's budget: retried while the
// server answers LOADING (it refuses REPLICAOF while it loads a payload), and once over a new connection when
// the first one was closed (a server's idle `timeout` during a long transfer).
Status stop_replication(Server& server, const ReplicaLoadOptions& options)
{
    const cancel::Shield cleanup;
    const std::string op = "make it a master again (REPLICAOF NO ONE)";
    std::unique_ptr<resp::Connection> fresh;
    std::unique_ptr<Server> fresh_server;
    Server* target = &server;
    for (;;) {
        auto r = target->command({"REPLICAOF", "NO", "ONE"});
        if (!r && target == &server && options.reconnect && r.error().kind == ErrorKind::transient) {
            auto c = options.reconnect();
            if (!c) {
                return std::unexpected(c.error());
            }
            fresh = std::move(*c);
            fresh_server = std::make_unique<DirectServer>(*fresh);
            target = fresh_server.get();
            continue;
        }
        if (!r) {
            return std::unexpected(r.error());
        }
        if (r->is_error() && r->text.starts_with("LOADING") && !cancel::requested()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            continue;
        }
        if (r->is_error()) {
            return error_reply(*r, op, server.endpoint());
        }
        return {};
    }
}

// Undoes REPLICAOF on every path out of load_as_master that has not done it already. Armed before REPLICAOF is
// sent: a reply that never came may still have made the server a replica.
class ReplicationGuard {
public:
    ReplicationGuard(Server& server, const ReplicaLoadOptions& options) : m_server(server), m_options(options) {}
    ~ReplicationGuard()
    {
        if (m_armed) {
            if (auto st = stop_replication(m_server, m_options); !st) {
                observe::error("the redis server may still be a replica of dbkeep's closed port: run REPLICAOF NO ONE "
                               "on it",
                               {{"server", m_server.endpoint()}, {"error", st.error().to_string()}});
            }
        }
    }
    ReplicationGuard(const ReplicationGuard&) = delete;
    ReplicationGuard& operator=(const ReplicationGuard&) = delete;
    // REPLICAOF was refused: nothing to undo.
    void disarm() noexcept { m_armed = false; }
    Status release()
    {
        m_armed = false;
        auto st = stop_replication(m_server, m_options);
        if (!st) {
            auto e = st.error();
            e.hint = "the server may still be a replica of dbkeep's closed port: run REPLICAOF NO ONE on it";
            return std::unexpected(e);
        }
        return st;
    }

private:
    Server& m_server;
    const ReplicaLoadOptions& m_options;
    bool m_armed = true;
};

Result<ReplicaLoad> not_possible(const Server& server, const std::string& why)
{
    observe::info("redis restore by RESTORE commands", {{"server", server.endpoint()}, {"why", why}});
    return ReplicaLoad::not_possible;
}

// Answers the replica's handshake until its PSYNC (or SYNC). Returns whether it offered "capa eof".
Result<bool> handshake(resp::Connection& replica)
{
    bool eof_capable = false;
    for (int i = 0; i < k_max_handshake_commands; ++i) {
        auto cmd = replica.read_command();
        if (!cmd) {
            return std::unexpected(cmd.error());
        }
        if (cmd->type != resp::Reply::Type::array || cmd->elements.empty()) {
            return fail(ErrorKind::failed, "synchronise", replica.endpoint(), "the replica sent no command");
        }
        const std::string name = lower(cmd->elements[0].text);
        if (name == "psync" || name == "sync") {
            return eof_capable;
        }
        if (name == "replconf") {
            for (std::size_t a = 1; a + 1 < cmd->elements.size(); a += 2) {
                if (lower(cmd->elements[a].text) == "capa" && lower(cmd->elements[a + 1].text) == "eof") {
                    eof_capable = true;
                }
            }
        }
        // PING, AUTH (its masterauth, never kept), REPLCONF: all answered as a master without a password would.
        const std::string_view answer = name == "ping" ? "+PONG\r\n" : "+OK\r\n";
        if (auto st = replica.write_raw(as_bytes(answer)); !st) {
            return std::unexpected(st.error());
        }
    }
    return fail(ErrorKind::failed, "synchronise", replica.endpoint(), "the replica's handshake does not end");
}

// Streams head + in as the payload, holding the last chunk back until `in` ends cleanly. On failure,
// `source_failed` tells a failed read of the backup from a failed write to the replica.
Status send_payload(Server& server, resp::Connection& replica, stream::Source& in,
                    const std::vector<std::uint8_t>& head, const std::string& mark, std::uint64_t& sent,
                    bool& source_failed)
{
    std::vector<std::uint8_t> held(head);
    auto keepalive = std::chrono::steady_clock::now() + k_keepalive;
    std::vector<std::uint8_t> next(k_chunk);
    for (;;) {
        if (cancel::requested()) {
            return fail_cancelled("load the backup into", replica.endpoint());
        }
        auto n = in.read(next);
        if (!n) {
            source_failed = true;
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            break;
        }
        if (auto st = replica.write_raw(held); !st) {
            return st;
        }
        sent += held.size();
        if (std::chrono::steady_clock::now() >= keepalive) {
            // Keeps the control connection from the server's idle `timeout`; any answer (LOADING too) will do,
            // and a lost connection is made anew for REPLICAOF NO ONE.
            (void)server.command({"PING"});
            keepalive = std::chrono::steady_clock::now() + k_keepalive;
        }
        held.assign(next.begin(), next.begin() + static_cast<std::ptrdiff_t>(*n));
    }
    if (cancel::requested()) {
        return fail_cancelled("load the backup into", replica.endpoint());
    }
    if (auto st = replica.write_raw(held); !st) {
        return st;
    }
    sent += held.size();
    return replica.write_raw(as_bytes(mark));
}

} // namespace

// The effective uid of a process of this machine (/proc/PID/status, "Uid:" line); nothing when pid is not a
// number or the process is not visible (another pid namespace).
std::optional<unsigned> process_uid(const std::string& pid)
{
    if (pid.empty() || pid.size() > 10 || !std::ranges::all_of(pid, [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    std::ifstream status("/proc/" + pid + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.starts_with("Uid:")) {
            std::istringstream fields(line.substr(4));
            unsigned real = 0, effective = 0;
            if (fields >> real >> effective) {
                return effective;
            }
        }
    }
    return std::nullopt;
}

// The uid owning the TCP socket of this machine whose local port is `port` and whose remote port is
// `remote_port` (/proc/net/tcp and tcp6: "sl local rem st queues timer retrnsmt uid ...", ports in hex);
// nothing when no such socket is listed.
std::optional<unsigned> socket_owner(int port, int remote_port)
{
    const auto port_of = [](const std::string& address) {
        const auto colon = address.rfind(':');
        return colon == std::string::npos ? -1L : std::strtol(address.c_str() + colon + 1, nullptr, 16);
    };
    for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream table(path);
        std::string line;
        std::getline(table, line); // the header
        while (std::getline(table, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state, queues, timer, retransmits;
            unsigned uid = 0;
            if ((fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid) &&
                port_of(local) == port && port_of(remote) == remote_port) {
                return uid;
            }
        }
    }
    return std::nullopt;
}

Result<ReplicaLoad> load_as_master(Server& server, stream::Source& in, const std::vector<std::uint8_t>& head,
                                   const ReplicaLoadOptions& options)
{
    const std::string& ep = server.endpoint();
    auto repl = info_section(server, "replication");
    if (!repl) {
        return not_possible(server, "INFO replication failed: " + repl.error().message);
    }
    if ((*repl)["role"] != "master" || info_int(*repl, "connected_slaves") != 0) {
        return not_possible(server, "the destination is a replica or has replicas");
    }
    auto listener = resp::Listener::open(options.listen_host);
    if (!listener) {
        return not_possible(server, listener.error().message);
    }
    // The destination's process and its user, to tell its connection from any other local process's.
    auto info = info_section(server, "server");
    if (!info) {
        return not_possible(server, "INFO server failed: " + info.error().message);
    }
    const auto server_uid = process_uid((*info)["process_id"]);
    if (!server_uid) {
        return not_possible(server, "its process (" + (*info)["process_id"] + ") is not visible here");
    }
    ReplicationGuard guard(server, options);
    auto r = server.command({"REPLICAOF", options.listen_host, std::to_string((*listener)->port())});
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->is_error()) {
        guard.disarm();
        return not_possible(server, "REPLICAOF refused: " + r->text);
    }
    // Any local process may connect to the port first: only a connection owned by the destination's user
    // (who can read its data anyway) gets the payload; others are closed and the next one is taken.
    std::unique_ptr<resp::Connection> replica;
    const auto accept_deadline = std::chrono::steady_clock::now() + options.connect_timeout;
    while (!replica) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(accept_deadline - std::chrono::steady_clock::now());
        Result<std::unique_ptr<resp::Connection>> next = fail(ErrorKind::transient, "wait for", ep, "timed out");
        if (left.count() > 0) {
            next = (*listener)->accept(left, std::chrono::seconds(60));
        }
        if (!next) {
            if (next.error().kind == ErrorKind::cancelled) {
                return std::unexpected(next.error());
            }
            if (auto st = guard.release(); !st) {
                return std::unexpected(st.error());
            }
            return not_possible(server, "the destination did not connect to " + options.listen_host +
                                            " (it may run in another network namespace)");
        }
        const auto owner = socket_owner((*next)->peer_port(), (*listener)->port());
        if (owner && *owner == *server_uid) {
            replica = std::move(*next);
        } else {
            observe::warn("a connection to the restore's replication port from another user was closed",
                          {{"server", ep}, {"uid", owner ? std::to_string(*owner) : std::string("unknown")}});
        }
    }
    listener->reset(); // no other connection is taken
    auto eof_capable = handshake(*replica);
    if (!eof_capable || !*eof_capable) {
        // Nothing of the payload was read yet (a TLS replication link, an older server): RESTORE can still run.
        if (!eof_capable && eof_capable.error().kind == ErrorKind::cancelled) {
            return std::unexpected(eof_capable.error());
        }
        if (auto st = guard.release(); !st) {
            return std::unexpected(st.error());
        }
        return not_possible(server, !eof_capable ? "the replication handshake failed: " + eof_capable.error().message
                                                 : "the destination does not offer an EOF-marked transfer (capa eof)");
    }
    const std::string mark = random_hex(20);
    const std::string start = "+FULLRESYNC " + random_hex(20) + " 0\r\n$EOF:" + mark + "\r\n";
    if (auto st = replica->write_raw(as_bytes(start)); !st) {
        return std::unexpected(st.error());
    }
    observe::info("redis restore by full synchronisation", {{"server", ep}});
    std::uint64_t sent = 0;
    bool source_failed = false;
    if (auto st = send_payload(server, *replica, in, head, mark, sent, source_failed); !st) {
        auto e = st.error();
        if (e.kind == ErrorKind::cancelled) {
            return std::unexpected(e);
        }
        if (source_failed) {
            e.message += "; the transfer was abandoned before its end, so the destination kept its keys";
        } else {
            e = Error{ErrorKind::transient, "load the backup into", ep,
                      "the destination dropped the replication link after " + std::to_string(sent) +
                          " bytes of the payload: " + e.message +
                          "; it loads a transfer only once complete, so it "
                          "kept its keys",
                      "see the destination's log (its dir must be writable: a replica writes the payload to a "
                      "temporary file there before loading it)"};
        }
        return std::unexpected(e);
    }
    // The replica acknowledges its offset (REPLCONF ACK) once it has loaded the payload; a failed load drops
    // the link instead. Loading a large data set takes a while: wait as long as it reads, honouring signals.
    replica->set_io_timeout(std::chrono::hours(6));
    for (int i = 0; i < k_max_handshake_commands; ++i) {
        auto cmd = replica->read_command();
        if (!cmd) {
            auto e = cmd.error();
            if (e.kind != ErrorKind::cancelled) {
                e = Error{ErrorKind::transient, "load the backup into", ep,
                          "the destination dropped the replication link after receiving " + std::to_string(sent) +
                              " bytes (" + e.message + "): it could not load the payload",
                          "see the destination's log (its dir must be writable: a replica writes the payload to a "
                          "temporary file there before loading it)"};
            }
            return std::unexpected(e);
        }
        if (cmd->type == resp::Reply::Type::array && cmd->elements.size() >= 2 &&
            lower(cmd->elements[0].text) == "replconf" && lower(cmd->elements[1].text) == "ack") {
            if (auto st = guard.release(); !st) {
                return std::unexpected(st.error());
            }
            return ReplicaLoad::loaded;
        }
    }
    return fail(ErrorKind::failed, "load the backup into", ep, "the replica never acknowledged the payload");
}

} // namespace dbkeep::engine::redis
