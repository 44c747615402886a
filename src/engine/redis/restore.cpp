#include "engine/redis/restore.hpp"

#include "core/cancel.hpp"
#include "engine/redis/rdb.hpp"
#include "observe/log.hpp"

#include <chrono>
#include <optional>
#include <thread>
#include <vector>

namespace dbkeep::engine::redis {
namespace {

constexpr std::size_t k_read_size = 1 << 20;
constexpr std::size_t k_batch_commands = 1000;
constexpr std::size_t k_batch_bytes = 16u << 20;

// Where restore sends its pipelined commands: a RESP connection (replies checked batch by batch), or
// `redis-cli --pipe` where the runner runs (it checks the replies and reports the errors at the end).
class CommandQueue {
public:
    virtual ~CommandQueue() = default;
    virtual const std::string& endpoint() const = 0;
    // Queues one command; returns the bytes now queued.
    virtual std::size_t append(std::initializer_list<std::string_view> args) = 0;
    // Sends what is queued; `labels` say what each queued command was, for messages.
    virtual Status drain(const std::vector<std::string>& labels, int rdb_version) = 0;
    // After the last drain.
    virtual Status finish() { return {}; }
};

std::string payload_version_hint(int rdb_version)
{
    return "the destination redis is older than the one that wrote the backup (rdb version " +
           std::to_string(rdb_version) + "): restore into the same or a newer version";
}

class ConnectionQueue final : public CommandQueue {
public:
    explicit ConnectionQueue(resp::Connection& conn) : m_conn(conn) {}
    const std::string& endpoint() const override { return m_conn.endpoint(); }
    std::size_t append(std::initializer_list<std::string_view> args) override { return m_conn.append(args); }
    Status drain(const std::vector<std::string>& labels, int rdb_version) override
    {
        if (auto st = m_conn.flush(); !st) {
            return st;
        }
        std::optional<Error> first;
        for (const auto& label : labels) {
            auto r = m_conn.read_reply();
            if (!r) {
                return std::unexpected(r.error());
            }
            if (r->is_error() && !first) {
                auto e = error_reply(*r, "restore", label + " on " + m_conn.endpoint()).error();
                if (r->text.find("payload version") != std::string::npos) {
                    e.hint = payload_version_hint(rdb_version);
                }
                first = std::move(e);
            }
        }
        if (first) {
            return std::unexpected(*first);
        }
        return {};
    }

private:
    resp::Connection& m_conn;
};

class PipeQueue final : public CommandQueue {
public:
    PipeQueue(runner::Runner& runner, const Endpoint& ep, std::string what)
        : m_runner(runner), m_ep(ep), m_what(std::move(what))
    {
    }
    ~PipeQueue() override
    {
        if (m_proc) {
            m_proc->kill();
        }
        if (m_reader.joinable()) {
            m_reader.join();
        }
    }

    Status start()
    {
        auto cmd = redis_cli(m_ep, {"--pipe", "--pipe-timeout", "0"});
        cmd.with_stdin = true;
        auto proc = m_runner.start(cmd);
        if (!proc) {
            return wrap(proc.error(), "run redis-cli --pipe for " + m_what);
        }
        m_proc = std::move(*proc);
        // redis-cli prints error replies as they come: keep reading so it never blocks.
        m_reader = std::thread([this] {
            std::uint8_t buf[16384];
            for (;;) {
                auto n = m_proc->out().read(buf);
                if (!n || *n == 0) {
                    break;
                }
                if (m_output.size() < (1 << 20)) {
                    m_output.append(reinterpret_cast<const char*>(buf), *n);
                }
            }
        });
        return {};
    }

    const std::string& endpoint() const override { return m_what; }

    std::size_t append(std::initializer_list<std::string_view> args) override
    {
        m_out += "*" + std::to_string(args.size()) + "\r\n";
        for (auto a : args) {
            m_out += "$" + std::to_string(a.size()) + "\r\n";
            m_out.append(a);
            m_out += "\r\n";
        }
        return m_out.size();
    }

    Status drain(const std::vector<std::string>&, int rdb_version) override
    {
        m_rdb_version = rdb_version;
        if (m_out.empty()) {
            return {};
        }
        auto st = m_proc->in()->write(as_bytes(m_out));
        m_out.clear();
        if (!st) {
            return finish_with(st.error());
        }
        return {};
    }

    Status finish() override { return finish_with(std::nullopt); }

private:
    Status finish_with(std::optional<Error> write_error)
    {
        (void)m_proc->in()->finish();
        auto status = m_proc->wait();
        if (m_reader.joinable()) {
            m_reader.join();
        }
        const std::string err = m_proc->error_output();
        m_proc.reset();
        if (!status) {
            return std::unexpected(status.error());
        }
        if (!status->ok()) {
            // Error replies are on stdout, one per line, before the summary.
            std::string first;
            for (std::size_t pos = 0; pos < m_output.size();) {
                auto nl = m_output.find('\n', pos);
                std::string line = m_output.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
                pos = nl == std::string::npos ? m_output.size() : nl + 1;
                if (looks_like_error_reply(line)) {
                    first = line;
                    break;
                }
            }
            if (!first.empty()) {
                Error e{looks_like_error_reply(first) && first.starts_with("NOPERM") ? ErrorKind::auth
                                                                                     : ErrorKind::failed,
                        "restore into", m_what, first, ""};
                if (first.find("payload version") != std::string::npos) {
                    e.hint = payload_version_hint(m_rdb_version);
                }
                return std::unexpected(e);
            }
            return std::unexpected(cli_error(err, *status, m_what, "restore into"));
        }
        if (write_error) {
            return std::unexpected(*write_error);
        }
        return {};
    }

    runner::Runner& m_runner;
    Endpoint m_ep;
    std::string m_what;
    std::unique_ptr<runner::Process> m_proc;
    std::thread m_reader;
    std::string m_out, m_output;
    int m_rdb_version = 0;
};

Status flush_all(Server& server)
{
    auto r = server.command({"FLUSHALL"});
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->is_error()) {
        return error_reply(*r, "flush", server.endpoint());
    }
    return {};
}

Status restore_into(CommandQueue& conn, stream::Source& in)
{
    const std::string ep = conn.endpoint();
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    int current_db = 0;
    int rdb_version = 0;
    std::int64_t restored = 0, expired = 0, functions = 0;
    std::vector<std::string> labels; // what each pending reply answers, for messages
    std::size_t queued = 0;
    auto last_report = std::chrono::steady_clock::now();
    rdb::Parser* self = nullptr; // the parser below, for the file's rdb version inside its callback

    auto drain = [&]() -> Status {
        auto st = conn.drain(labels, rdb_version);
        labels.clear();
        queued = 0;
        return st;
    };
    auto maybe_drain = [&]() -> Status {
        if (labels.size() >= k_batch_commands || queued >= k_batch_bytes) {
            return drain();
        }
        return {};
    };

    rdb::Parser parser(
        rdb::ParserOptions{.capture_values = true},
        [&](const rdb::Entry& e) -> Status {
            rdb_version = self->summary().rdb_version;
            if (e.expire_ms >= 0 && e.expire_ms <= now_ms) {
                ++expired;
                return {};
            }
            if (e.db != current_db) {
                queued = conn.append({"SELECT", std::to_string(e.db)});
                labels.push_back("select database " + std::to_string(e.db));
                current_db = e.db;
            }
            auto payload = rdb::dump_payload(e.type, e.value, rdb_version);
            queued = conn.append(
                {"RESTORE", e.key, std::to_string(e.expire_ms >= 0 ? e.expire_ms : 0), payload, "REPLACE", "ABSTTL"});
            labels.push_back("key '" + std::string(e.key.substr(0, 200)) + "'");
            ++restored;
            if (auto now = std::chrono::steady_clock::now(); now - last_report >= std::chrono::seconds(10)) {
                last_report = now;
                observe::info("restoring redis keys", {{"server", ep}, {"keys", std::to_string(restored)}});
            }
            return maybe_drain();
        },
        [&](std::string_view code) -> Status {
            queued = conn.append({"FUNCTION", "LOAD", "REPLACE", code});
            labels.push_back("function library");
            ++functions;
            return maybe_drain();
        });
    self = &parser;

    std::vector<std::uint8_t> buf(k_read_size);
    for (;;) {
        if (cancel::requested()) {
            return fail_cancelled("restore into", ep);
        }
        auto n = in.read(buf);
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            break;
        }
        auto used = parser.feed(Bytes(buf.data(), *n));
        if (!used) {
            return std::unexpected(used.error());
        }
        if (*used != *n) {
            return fail(ErrorKind::corruption, "restore into", ep, "data follows the end of the rdb");
        }
    }
    if (auto st = parser.finish(); !st) {
        return st;
    }
    if (auto st = drain(); !st) {
        return st;
    }
    if (auto st = conn.finish(); !st) {
        return st;
    }
    observe::info("redis restore finished", {{"server", ep},
                                             {"keys", std::to_string(restored)},
                                             {"skipped_expired", std::to_string(expired)},
                                             {"function_libraries", std::to_string(functions)}});
    return {};
}

} // namespace

Status restore_rdb(runner::Runner& runner, const Endpoint& ep, stream::Source& in, bool flush)
{
    auto session = open_session(runner, ep);
    if (!session) {
        return std::unexpected(session.error());
    }
    if (flush) {
        if (auto st = flush_all(*session->server); !st) {
            return st;
        }
    }
    if (!session->connection) {
        PipeQueue queue(runner, ep, session->server->endpoint());
        if (auto st = queue.start(); !st) {
            return st;
        }
        return restore_into(queue, in);
    }
    ConnectionQueue queue(*session->connection);
    return restore_into(queue, in);
}

} // namespace dbkeep::engine::redis
