// Restoring at the speed of Redis's own RDB loading: for `restore --flush`, dbkeep acts as the destination's
// master for one full synchronisation and hands it the backup's RDB as the payload, so the server loads the
// file as it would on a restart instead of running one RESTORE per key. Follows Redis's replication
// handshake (replication.c: PING, AUTH, REPLCONF listening-port/capa, PSYNC answered with +FULLRESYNC and the
// RDB as an EOF-marked bulk, "$EOF:<40 bytes>"), as documented at redis.io/docs/management/replication.
#pragma once

#include "core/error.hpp"
#include "engine/redis/server.hpp"
#include "stream/sink.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::engine::redis {

// What came of an attempt.
enum class ReplicaLoad {
    loaded,      // the destination loaded the whole payload and is a master again
    not_possible // nothing was written and `in` was not read: use RESTORE (the reason is logged)
};

struct ReplicaLoadOptions {
    std::string listen_host = "127.0.0.1";            // where dbkeep listens; the destination must reach it
    std::chrono::milliseconds connect_timeout{5'000}; // for the destination to connect after REPLICAOF
    // A new authenticated connection to the destination, for REPLICAOF NO ONE when the first one was closed
    // (the server's idle `timeout` during a long transfer); empty: none.
    std::function<Result<std::unique_ptr<resp::Connection>>()> reconnect;
};

// The effective uid of a process of this machine (the "Uid:" line of /proc/PID/status); nothing when pid is not
// a decimal number or the process is not visible here (another pid namespace). Linux; thread-safe.
std::optional<unsigned> process_uid(const std::string& pid);

// The uid owning the TCP socket of this machine whose local port is `port` and whose remote port is
// `remote_port` (/proc/net/tcp and /proc/net/tcp6, proc(5)); nothing when no such socket is listed. Linux;
// thread-safe.
std::optional<unsigned> socket_owner(int port, int remote_port);

// Makes the server behind `server` (a master without replicas of its own, reached over a direct connection)
// a replica of dbkeep (REPLICAOF listen_host port), sends `head` then the rest of `in` as the full
// synchronisation's payload, waits until the server has loaded it, and makes it a master again (REPLICAOF NO
// ONE, also on every failure and on SIGINT/SIGTERM, with its own deadline). The last bytes of the payload are
// held back until `in` has reached its end, so a backup that fails its SHA-256 (or any read error) ends the
// transfer incomplete: the server discards it and keeps the keys it had. The port is open on the loopback for
// the moment of the connection: a connection from a socket whose owner (/proc/net/tcp) is not the server
// process's user is closed unanswered and the next one taken.
// Returns not_possible, having read nothing of `in` and changed no key (REPLICAOF may have disconnected blocked
// clients and made the server read-only for those seconds), when the server is a replica or has
// replicas, refuses REPLICAOF (ACL, renamed command, cluster mode), does not connect within connect_timeout (it
// cannot reach listen_host, e.g. from inside a container), runs as a process not visible here (its user cannot
// be told), or does not offer the EOF-marked transfer
// (capa eof), or fails the handshake (a TLS replication link). Errors: the source's error (transfer abandoned, keys
// kept), transient when the server drops the link or fails to load the payload (its log says why; its keys are then
// gone, as a replica empties itself before loading), cancelled. Once the whole payload is sent the server loads it
// whatever happens: a signal then waits (within the Shield's budget) for REPLICAOF NO ONE to be accepted after the
// load. Not thread-safe.
Result<ReplicaLoad> load_as_master(Server& server, stream::Source& in, const std::vector<std::uint8_t>& head,
                                   const ReplicaLoadOptions& options);

} // namespace dbkeep::engine::redis
