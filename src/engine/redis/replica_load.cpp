#include "engine/redis/replica_load.hpp"

#include "core/cancel.hpp"
#include "core/hex.hpp"
#include "observe/log.hpp"

#include <algorithm>
#include <cctype>

namespace dbkeep::engine::redis {
namespace {

constexpr std::size_t k_chunk = std::size_t{1} << 20;
constexpr int k_max_handshake_commands = 32;

std::string lower(std::string s)
{
    std::ranges::transform(s, s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Makes the server a master again; bounded by the connection's own timeouts, run even after SIGINT/SIGTERM.
Status stop_replication(Server& server)
{
    const cancel::Shield cleanup;
    auto r = server.command({"REPLICAOF", "NO", "ONE"});
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->is_error()) {
        return error_reply(*r, "make it a master again (REPLICAOF NO ONE)", server.endpoint());
    }
    return {};
}

// Undoes REPLICAOF on every path out of load_as_master that has not done it already.
class ReplicationGuard {
public:
    explicit ReplicationGuard(Server& server) : m_server(server) {}
    ~ReplicationGuard()
    {
        if (m_armed) {
            if (auto st = stop_replication(m_server); !st) {
                observe::error("redis server left a replica of dbkeep",
                               {{"server", m_server.endpoint()}, {"error", st.error().to_string()}});
            }
        }
    }
    ReplicationGuard(const ReplicationGuard&) = delete;
    ReplicationGuard& operator=(const ReplicationGuard&) = delete;
    Status release()
    {
        m_armed = false;
        return stop_replication(m_server);
    }

private:
    Server& m_server;
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
Status send_payload(resp::Connection& replica, stream::Source& in, const std::vector<std::uint8_t>& head,
                    const std::string& mark, std::uint64_t& sent, bool& source_failed)
{
    std::vector<std::uint8_t> held(head);
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
    auto r = server.command({"REPLICAOF", options.listen_host, std::to_string((*listener)->port())});
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->is_error()) {
        return not_possible(server, "REPLICAOF refused: " + r->text);
    }
    ReplicationGuard guard(server);
    auto replica = (*listener)->accept(options.connect_timeout, std::chrono::seconds(60));
    if (!replica) {
        if (replica.error().kind == ErrorKind::cancelled) {
            return std::unexpected(replica.error());
        }
        if (auto st = guard.release(); !st) {
            return std::unexpected(st.error());
        }
        return not_possible(server, "the destination did not connect to " + options.listen_host +
                                        " (it may run in another network namespace)");
    }
    auto eof_capable = handshake(**replica);
    if (!eof_capable) {
        return std::unexpected(eof_capable.error());
    }
    if (!*eof_capable) {
        if (auto st = guard.release(); !st) {
            return std::unexpected(st.error());
        }
        return not_possible(server, "the destination does not offer an EOF-marked transfer (capa eof)");
    }
    const std::string mark = random_hex(20);
    const std::string start = "+FULLRESYNC " + random_hex(20) + " 0\r\n$EOF:" + mark + "\r\n";
    if (auto st = (*replica)->write_raw(as_bytes(start)); !st) {
        return std::unexpected(st.error());
    }
    observe::info("redis restore by full synchronisation", {{"server", ep}});
    std::uint64_t sent = 0;
    bool source_failed = false;
    if (auto st = send_payload(**replica, in, head, mark, sent, source_failed); !st) {
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
    (*replica)->set_io_timeout(std::chrono::hours(6));
    for (int i = 0; i < k_max_handshake_commands; ++i) {
        auto cmd = (*replica)->read_command();
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
