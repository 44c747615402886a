// The replication strategies: the server's full-resync payload, taken as a replica would (nothing is written
// on the server), over our own RESP connection (PSYNC) or through `redis-cli --rdb -` where the runner runs.
#include "engine/redis/dump.hpp"

#include "engine/redis/payload.hpp"

#include <algorithm>
#include <charconv>

namespace dbkeep::engine::redis {
namespace {

constexpr std::size_t k_eof_mark_size = 40;

std::string strip_newlines(std::string line)
{
    auto first = line.find_first_not_of('\n');
    return first == std::string::npos ? std::string() : line.substr(first);
}

// "repl-diskless-sync-delay"'s cost to a backup: a warning when the server waits before it starts a diskless
// transfer (which it does for every backup taken as a replica).
Finding probe_diskless_delay(Server& server)
{
    auto diskless = config_get(server, "repl-diskless-sync");
    auto delay = config_get(server, "repl-diskless-sync-delay");
    if (!diskless || !delay) {
        return pass("redis.diskless_delay",
                    "repl-diskless-sync-delay could not be read (CONFIG GET is not allowed): with diskless sync, "
                    "every backup waits that many seconds (default 5) before the server sends its data");
    }
    int seconds = 0;
    std::from_chars(delay->data(), delay->data() + delay->size(), seconds);
    const auto max_replicas = config_get(server, "repl-diskless-sync-max-replicas");
    if (*diskless != "yes") {
        return pass("redis.diskless_delay",
                    "disk-based sync (repl-diskless-sync no): the server writes an rdb file before each backup");
    }
    if (seconds <= 0 || (max_replicas && *max_replicas == "1")) {
        return pass("redis.diskless_delay",
                    "diskless sync starts at once (repl-diskless-sync-delay " + *delay +
                        (max_replicas && *max_replicas == "1" ? ", repl-diskless-sync-max-replicas 1)" : ")"));
    }
    return warn("redis.diskless_delay",
                "every backup waits " + *delay +
                    " s before the server starts sending its data (repl-diskless-sync-delay " + *delay +
                    " with repl-diskless-sync yes): a backup of a small data set takes at least " + *delay + " s",
                "CONFIG SET repl-diskless-sync-delay 0 (and set it in redis.conf) if no replica relies on the wait, "
                "or set 'mode: bgsave' on the target");
}

bool unknown_command(const Result<resp::Reply>& r)
{
    return r && r->is_error() && r->text.find("unknown command") != std::string::npos;
}

// Whether a reply (or one of its elements, at any depth) mentions text.
bool mentions(const resp::Reply& r, const std::string& text)
{
    return r.text.find(text) != std::string::npos ||
           std::any_of(r.elements.begin(), r.elements.end(), [&](const resp::Reply& e) { return mentions(e, text); });
}

// Whether the user may replicate with sync_command: "PSYNC" over our own connection, or "SYNC" (which
// redis-cli --rdb sends) through redis-cli. ACL DRYRUN tells both whether the command exists ("not found" for a
// renamed or disabled one) and whether the user may run it. Where the user may not run ACL DRYRUN, PSYNC's
// existence is tested by sending it without arguments (the server answers "unknown command" or "wrong number
// of arguments" before any permission check, and no sync starts) and SYNC's by COMMAND INFO (redis-cli would
// start a sync for any SYNC). REPLCONF is tried. Then the diskless-sync delay.
std::vector<Finding> probe_replication(Server& server, const std::string& sync_command)
{
    std::vector<Finding> out;
    auto who = server.command({"ACL", "WHOAMI"});
    std::string user = who && !who->is_error() ? who->text : "default";
    auto dry = sync_command == "SYNC" ? server.command({"ACL", "DRYRUN", user, "SYNC"})
                                      : server.command({"ACL", "DRYRUN", user, sync_command, "?", "-1"});
    bool renamed = dry && dry->is_error() && dry->text.find("not found") != std::string::npos;
    if (!renamed && (!dry || dry->is_error())) {
        if (sync_command == "PSYNC") {
            renamed = unknown_command(server.command({"PSYNC"}));
        } else if (auto info = server.command({"COMMAND", "INFO", sync_command}); info && !info->is_error()) {
            renamed = !mentions(*info, "sync");
        }
    }
    if (renamed) {
        out.push_back(failed("redis.replication", sync_command + " is renamed or disabled: use mode: bgsave",
                             "set 'mode: bgsave' on the target (BGSAVE, then the rdb file read where the runner "
                             "runs), or enable " +
                                 sync_command + " again (rename-command in redis.conf)"));
        return out;
    }
    auto r = server.command({"REPLCONF", "capa", "eof"});
    const char* remedy = "ACL SETUSER <user> +psync +replconf, or set 'mode: bgsave' on the target";
    if (unknown_command(r)) {
        out.push_back(failed("redis.replication", "REPLCONF is renamed or disabled: use mode: bgsave",
                             "set 'mode: bgsave' on the target, or enable REPLCONF again (rename-command in "
                             "redis.conf)"));
        return out;
    }
    if (!r || r->is_error()) {
        out.push_back(failed("redis.replication", "REPLCONF refused: " + (r ? r->text : r.error().message), remedy));
        return out;
    }
    if (dry && !dry->is_error() && dry->text == "OK") {
        out.push_back(pass("redis.replication", "user " + user + " may run REPLCONF and " + sync_command));
    } else if (dry && !dry->is_error()) {
        out.push_back(failed("redis.replication", dry->text, remedy));
    } else {
        out.push_back(warn("redis.replication",
                           "REPLCONF allowed and " + sync_command + " enabled; whether user " + user +
                               " may run it could not be checked (ACL DRYRUN is not allowed to it)",
                           "run a backup to confirm, or grant +psync to the user"));
    }
    out.push_back(probe_diskless_delay(server));
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
            if (r->text.starts_with("NOPERM")) { // other refusals keep error_reply's hint
                e.hint = hint;
            }
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
            if (line->starts_with("-NOMASTERLINK")) {
                e.hint = "the server is a replica whose master link is down: back up its master, repair the "
                         "link, or set 'mode: bgsave' on the target to back up its possibly stale copy";
            } else if (line->starts_with("-NOPERM")) { // other refusals keep error_reply's hint
                e.hint = hint;
            }
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

    std::vector<Finding> probe(Server& server) override { return probe_replication(server, "PSYNC"); }
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

    // redis-cli --rdb replicates with SYNC.
    std::vector<Finding> probe(Server& server) override { return probe_replication(server, "SYNC"); }

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
