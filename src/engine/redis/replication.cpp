// The replication strategies: the server's full-resync payload, taken as a replica would (nothing is written
// on the server), over our own RESP connection (PSYNC) or through `redis-cli --rdb -` where the runner runs.
#include "engine/redis/dump.hpp"

#include "engine/redis/payload.hpp"

#include <algorithm>

namespace dbkeep::engine::redis {
namespace {

constexpr std::size_t k_eof_mark_size = 40;

std::string strip_newlines(std::string line)
{
    auto first = line.find_first_not_of('\n');
    return first == std::string::npos ? std::string() : line.substr(first);
}

// Whether the user may replicate: REPLCONF tried, PSYNC checked with ACL DRYRUN.
std::vector<Finding> probe_replication(Server& server)
{
    std::vector<Finding> out;
    // REPLCONF only records a capability on this connection; PSYNC itself cannot be tried without a sync,
    // so its permission is checked with ACL DRYRUN where the user may run it.
    auto r = server.command({"REPLCONF", "capa", "eof"});
    const char* remedy = "ACL SETUSER <user> +psync +replconf, or set 'mode: bgsave' on the target";
    if (!r || r->is_error()) {
        out.push_back(failed("redis.replication", "REPLCONF refused: " + (r ? r->text : r.error().message), remedy));
        return out;
    }
    auto who = server.command({"ACL", "WHOAMI"});
    std::string user = who && !who->is_error() ? who->text : "default";
    auto dry = server.command({"ACL", "DRYRUN", user, "PSYNC", "?", "-1"});
    if (dry && !dry->is_error() && dry->text == "OK") {
        out.push_back(pass("redis.replication", "user " + user + " may run REPLCONF and PSYNC"));
    } else if (dry && !dry->is_error()) {
        out.push_back(failed("redis.replication", dry->text, remedy));
    } else {
        out.push_back(warn("redis.replication",
                           "REPLCONF allowed; PSYNC permission could not be checked (ACL DRYRUN denied)",
                           "run a backup to confirm, or grant +psync to the user"));
    }
    return out;
}

class PsyncDump final : public DumpStrategy {
public:
    const char* tool() const override { return "redis-replication"; }

    Status dump(Session& session, stream::Sink& out, DumpInfo& info) override
    {
        resp::Connection& conn = *session.connection;
        const std::string& ep = conn.endpoint();
        const char* hint = "grant the user replication rights (ACL SETUSER <user> +psync +replconf), or set "
                           "'mode: bgsave' on the target";
        auto r = conn.command({"REPLCONF", "capa", "eof", "capa", "psync2"});
        if (!r) {
            return std::unexpected(r.error());
        }
        if (r->is_error()) {
            auto e = error_reply(*r, "start replication from", ep).error();
            e.hint = hint;
            return std::unexpected(e);
        }
        conn.append({"PSYNC", "?", "-1"});
        if (auto st = conn.flush(); !st) {
            return st;
        }
        auto line = conn.read_line();
        if (!line) {
            return std::unexpected(line.error());
        }
        *line = strip_newlines(*line);
        if (line->starts_with("-")) {
            auto e = error_reply(resp::Reply{.type = resp::Reply::Type::error, .text = line->substr(1)},
                                 "start replication (PSYNC) from", ep)
                         .error();
            e.hint = hint;
            return std::unexpected(e);
        }
        if (!line->starts_with("+FULLRESYNC")) {
            return fail(ErrorKind::failed, "start replication (PSYNC) from", ep,
                        "unexpected answer '" + line->substr(0, 80) + "'");
        }
        // Before the payload the master may send bare newlines as keepalives while it prepares the RDB.
        auto header = conn.read_line();
        if (!header) {
            return std::unexpected(header.error());
        }
        *header = strip_newlines(*header);
        if (!header->starts_with("$")) {
            return fail(ErrorKind::failed, "read replication payload from", ep,
                        "unexpected payload header '" + header->substr(0, 80) + "'");
        }
        PayloadPump pump(out);
        std::vector<std::uint8_t> buf(k_chunk);
        info.details["replication_payload"] = header->starts_with("$EOF:") ? "diskless" : "disk";
        if (header->starts_with("$EOF:")) {
            // Diskless: the RDB is followed by a 40-byte random mark instead of being announced by length.
            std::string mark = header->substr(5);
            if (mark.size() != k_eof_mark_size) {
                return fail(ErrorKind::failed, "read replication payload from", ep, "invalid end-of-payload mark");
            }
            std::string tail;
            while (tail.size() < k_eof_mark_size) {
                auto n = conn.read_some(buf);
                if (!n) {
                    return std::unexpected(n.error());
                }
                if (*n == 0) {
                    return fail(ErrorKind::transient, "read replication payload from", ep,
                                "the server closed the connection before the end of the payload");
                }
                Bytes chunk(buf.data(), *n);
                if (!pump.parser().done()) {
                    auto used = pump.push(chunk);
                    if (!used) {
                        return wrap(used.error(), "read replication payload from " + ep);
                    }
                    chunk = chunk.subspan(*used);
                }
                tail.append(as_chars(chunk));
            }
            if (tail.compare(0, k_eof_mark_size, mark) != 0) {
                return fail(ErrorKind::corruption, "read replication payload from", ep,
                            "the payload does not end with the announced mark");
            }
        } else {
            std::uint64_t left = 0;
            try {
                left = std::stoull(header->substr(1));
            } catch (...) {
                return fail(ErrorKind::failed, "read replication payload from", ep, "invalid payload length");
            }
            while (left > 0) {
                auto n = conn.read_some(MutableBytes(buf.data(), std::min<std::uint64_t>(left, buf.size())));
                if (!n) {
                    return std::unexpected(n.error());
                }
                if (*n == 0) {
                    return fail(ErrorKind::transient, "read replication payload from", ep,
                                "the server closed the connection before the end of the payload");
                }
                auto used = pump.push(Bytes(buf.data(), *n));
                if (!used) {
                    return wrap(used.error(), "read replication payload from " + ep);
                }
                if (*used != *n) {
                    return fail(ErrorKind::corruption, "read replication payload from", ep,
                                "data follows the end of the rdb");
                }
                left -= *n;
            }
        }
        if (auto st = pump.parser().finish(); !st) {
            return wrap(st.error(), "read replication payload from " + ep);
        }
        fill_info(info, pump.parser().summary(), pump.bytes());
        return {};
    }

    std::vector<Finding> probe(Server& server) override { return probe_replication(server); }
};

class CliRdbDump final : public DumpStrategy {
public:
    CliRdbDump(runner::Runner& runner, Endpoint endpoint, std::string target)
        : m_runner(runner), m_endpoint(std::move(endpoint)), m_target(std::move(target))
    {
    }

    const char* tool() const override { return "redis-cli --rdb"; }

    // The same RDB checks as a direct PSYNC (parsed and checksummed while it streams, nothing may follow its
    // end but the 40-byte end mark redis-cli 7.0 copies to stdout after a diskless transfer).
    Status dump(Session& session, stream::Sink& out, DumpInfo& info) override
    {
        Server& server = *session.server;
        auto proc = m_runner.start(redis_cli(m_endpoint, {"--rdb", "-"}));
        if (!proc) {
            return wrap(proc.error(), "run redis-cli --rdb for " + m_target);
        }
        PayloadPump pump(out);
        if (auto st = pump_process(**proc, pump, k_eof_mark_size, "read replication payload from", server.endpoint());
            !st) {
            (void)(*proc)->wait();
            return st;
        }
        auto status = (*proc)->wait();
        if (!status) {
            return std::unexpected(status.error());
        }
        const std::string err = (*proc)->error_output();
        if (!status->ok() || err.find("AUTH failed") != std::string::npos) {
            auto e = cli_error(err.find("AUTH failed") != std::string::npos ? err.substr(err.find("AUTH failed")) : err,
                               *status, server.endpoint(), "run redis-cli --rdb on");
            if (err.find("NOPERM") != std::string::npos || err.find("no permissions") != std::string::npos) {
                e.kind = ErrorKind::auth;
                e.hint = "grant the user replication rights (ACL SETUSER <user> +psync +replconf +sync), or set "
                         "'mode: bgsave' on the target";
            }
            return std::unexpected(e);
        }
        if (pump.bytes() == 0) {
            return fail(ErrorKind::failed, "run redis-cli --rdb on", server.endpoint(),
                        "no rdb arrived" + (err.empty() ? std::string() : ": " + err.substr(0, err.find('\n'))));
        }
        if (auto st = pump.parser().finish(); !st) {
            return wrap(st.error(), "read replication payload from " + server.endpoint());
        }
        fill_info(info, pump.parser().summary(), pump.bytes());
        info.details["replication_payload"] = "redis-cli --rdb";
        return {};
    }

    std::vector<Finding> probe(Server& server) override { return probe_replication(server); }

private:
    runner::Runner& m_runner;
    Endpoint m_endpoint;
    std::string m_target;
};

} // namespace

std::unique_ptr<DumpStrategy> make_psync_dump()
{
    return std::make_unique<PsyncDump>();
}

std::unique_ptr<DumpStrategy> make_cli_rdb_dump(runner::Runner& runner, Endpoint endpoint, std::string target)
{
    return std::make_unique<CliRdbDump>(runner, std::move(endpoint), std::move(target));
}

} // namespace dbkeep::engine::redis
