#include "engine/postgres/dump.hpp"

#include "core/cancel.hpp"
#include "core/hex.hpp"
#include "engine/postgres/stats.hpp"
#include "engine/postgres/tools.hpp"
#include "observe/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>

namespace dbkeep::engine::pg {
namespace {

constexpr std::size_t k_chunk = 1 << 20;

// Copies pg_dump's output into out; kills pg_dump (not reaped) when that fails. Returns the bytes copied.
Result<std::uint64_t> copy_output(runner::Process& proc, stream::Sink& out)
{
    auto copied = stream::copy(proc.out(), out, k_chunk);
    if (!copied) {
        proc.kill();
    }
    return copied;
}

std::string seconds_text(std::chrono::seconds s)
{
    if (s.count() % 60 == 0) {
        return std::to_string(s.count() / 60) + "min";
    }
    return std::to_string(s.count()) + "s";
}

bool is_lock_timeout(const std::string& message)
{
    return message.find("canceling statement due to statement timeout") != std::string::npos ||
           message.find("canceling statement due to lock timeout") != std::string::npos;
}

// Who holds the table locks that made a lock wait time out: every session of the database holding an
// ACCESS EXCLUSIVE lock (the only mode that blocks pg_dump's ACCESS SHARE) on a relation, asked on a fresh
// session bounded by short timeouts. Empty when nobody does any more or the question itself failed.
std::string describe_blockers(runner::Runner& runner, const Target& target)
{
    auto params = target_params(target);
    params.keywords["connect_timeout"] = "10";
    params.settings["lock_timeout"] = "5000";
    params.settings["statement_timeout"] = "10000";
    auto conn = open_session(runner, target, params);
    if (!conn) {
        return "";
    }
    auto rows =
        (*conn)->query("SELECT format('%I.%I', n.nspname, c.relname), a.pid::text, coalesce(a.usename::text, ''), "
                       "coalesce(a.application_name, ''), coalesce(a.state, ''), "
                       "coalesce(to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
                       "coalesce(to_char(a.state_change AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
                       "l.granted::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_class c ON "
                       "c.oid = l.relation "
                       "JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' "
                       "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                       "AND l.pid <> pg_backend_pid() ORDER BY 8 DESC, 1, 2 LIMIT 10");
    if (!rows) {
        return "";
    }
    std::string out;
    for (const auto& r : *rows) {
        if (r.size() < 8) {
            continue;
        }
        // A session waiting for ACCESS EXCLUSIVE queues every later ACCESS SHARE behind it, granted or not.
        const char* how = r[7] == "true" ? " is locked by pid " : " is waited for (ACCESS EXCLUSIVE) by pid ";
        out +=
            (out.empty() ? "" : "; ") + std::string("table ") + r[0] + how + r[1] + " (user " + r[2] +
            (r[3].empty() ? "" : ", application " + r[3]) + ", " + (r[4].empty() ? "state unknown" : r[4]) +
            (r[4] == "idle in transaction" && !r[6].empty() ? " since " + r[6] : "") +
            (r[5].empty() || (r[4] == "idle in transaction" && r[5] == r[6]) ? "" : ", transaction started " + r[5]) +
            ")";
    }
    return out;
}

// The error for a lock wait that timed out: the blocking sessions when they can be named, what the tool or
// the count said, and what to do.
Error lock_timeout_error(runner::Runner& runner, const Target& target, const std::string& said)
{
    std::string blockers = describe_blockers(runner, target);
    std::string pids;
    if (!blockers.empty()) {
        for (std::size_t pos = 0; (pos = blockers.find(" pid ", pos)) != std::string::npos;) {
            pos += 5;
            auto end = blockers.find(' ', pos);
            std::string pid = blockers.substr(pos, end - pos);
            if (pids.find(pid) == std::string::npos) {
                pids += (pids.empty() ? "" : ", ") + pid;
            }
        }
    }
    Error e;
    e.kind = ErrorKind::conflict;
    e.operation = "lock the tables of";
    e.object = target.name;
    e.message = "waited lock_wait_timeout (" + seconds_text(target.postgres.lock_wait_timeout) +
                ") for a table lock: " + (blockers.empty() ? "the session holding it had ended when asked" : blockers) +
                " (" + said + ")";
    e.hint = pids.empty() ? "find the session holding the lock in pg_locks / pg_stat_activity and end it, or raise "
                            "lock_wait_timeout"
                          : "commit or end that session (SELECT pg_terminate_backend(" + pids +
                                ")), or raise the target's lock_wait_timeout";
    return e;
}

// pg_dump's exit once its whole output was copied: fails when it failed (with everything it said, DETAIL and
// HINT included; a lock wait that timed out names the table and the session holding it) or wrote nothing
// (`total` bytes).
Status judge_exit(runner::Runner& runner, runner::Process& proc, const runner::ExitStatus& status, std::uint64_t total,
                  const Target& target)
{
    if (!status.ok()) {
        std::string err = tool_message(proc.error_output());
        if (is_lock_timeout(err)) {
            return std::unexpected(lock_timeout_error(runner, target, "pg_dump: " + err));
        }
        return fail(ErrorKind::failed, "run pg_dump for", target.name,
                    "pg_dump " + status.describe() + (err.empty() ? "" : ": " + err));
    }
    if (total == 0) {
        return fail(ErrorKind::failed, "run pg_dump for", target.name, "pg_dump produced no output");
    }
    return {};
}

// count_rows on a thread of its own while pg_dump streams. stop() ends a count still running (conn.cancel(),
// which ends a statement waiting for a lock) and joins; the destructor does so on every path, so no thread is
// left joinable when an error or exception leaves the dump.
class RowCounter {
public:
    explicit RowCounter(Connection& conn) : m_conn(conn)
    {
        m_thread = std::thread([this] {
            m_result = count_rows(m_conn, &m_stop);
            m_done.store(true);
        });
    }
    ~RowCounter() { stop(); }
    RowCounter(const RowCounter&) = delete;
    RowCounter& operator=(const RowCounter&) = delete;

    void stop() noexcept
    {
        m_stop.store(true);
        if (!m_thread.joinable()) {
            return;
        }
        // A cancel can arrive between two statements and be ignored: repeat it until the thread ends.
        while (!m_done.load()) {
            m_conn.cancel();
            for (int i = 0; i < 20 && !m_done.load(); ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        m_thread.join();
    }

    // The counts, once the thread ended by itself.
    Result<std::map<std::string, std::int64_t>> take()
    {
        if (m_thread.joinable()) {
            m_thread.join();
        }
        return std::move(m_result);
    }

private:
    Connection& m_conn;
    std::atomic<bool> m_stop{false};
    std::atomic<bool> m_done{false};
    Result<std::map<std::string, std::int64_t>> m_result = std::map<std::string, std::int64_t>{};
    std::thread m_thread;
};

// A runner with sessions: pg_dump imports the snapshot our session exported, and rows are counted in it while
// pg_dump streams.
Result<DumpInfo> dump_in_snapshot(runner::Runner& runner, const Target& target, stream::Sink& out)
{
    const auto& pg = target.postgres;
    pg::ConnectParams params = target_params(target);
    auto conn = open_session(runner, target, params);
    if (!conn) {
        return std::unexpected(conn.error());
    }
    int server_num = (*conn)->server_version_num();
    int server_major = server_num / 10000;
    DumpInfo info;
    auto version = (*conn)->query("SELECT current_setting('server_version')");
    if (!version) {
        return std::unexpected(version.error());
    }
    info.server_version = first_line((*version)[0][0]);
    if (auto sp = info.server_version.find(' '); sp != std::string::npos) {
        info.server_version.resize(sp);
    }

    auto tool = find_tool(runner, target, "pg_dump", pg.pg_dump_path, server_major);
    if (!tool) {
        return std::unexpected(tool.error());
    }
    info.tool = "pg_dump";
    info.tool_version = tool->version;

    // The snapshot pg_dump imports: counts taken in it describe exactly what is dumped.
    if (auto st = (*conn)->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !st) {
        return std::unexpected(st.error());
    }
    auto snap = (*conn)->query("SELECT pg_export_snapshot()");
    if (!snap) {
        return std::unexpected(snap.error());
    }
    const std::string snapshot = (*snap)[0][0];

    // pg_dump's session is named so that ours can cancel it on the server: a pg_dump stopped while it waits for
    // a lock leaves a server process that would otherwise wait on until lock_wait_timeout.
    auto dump_keywords = params.keywords;
    const std::string dump_app = "dbkeep pg_dump " + random_hex(4);
    dump_keywords["application_name"] = dump_app;
    runner::Command cmd;
    cmd.inherit = libpq_environment();
    cmd.argv = {tool->path,
                "--format=custom",
                "--compress=0",
                "--snapshot=" + snapshot,
                "--lock-wait-timeout=" +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(pg.lock_wait_timeout).count()),
                "--no-password",
                "--dbname=" + pg::conninfo(dump_keywords)};
    add_password_env(cmd, pg);
    observe::debug("starting pg_dump", {{"target", target.name}, {"tool", tool->path}, {"runner", runner.describe()}});
    auto proc = runner.start(cmd);
    if (!proc) {
        return std::unexpected(proc.error());
    }

    // Count rows in the exporting transaction while pg_dump streams. Reading pg_dump's output notices a signal
    // within a fraction of a second; the count is then cancelled on the server, never waited for.
    std::optional<RowCounter> counter(std::in_place, **conn);
    auto copied = copy_output(**proc, out);
    auto status = (*proc)->wait();
    const bool dumped = copied && status && status->ok() && *copied > 0 && !cancel::requested();
    if (!dumped) {
        counter->stop();
    }
    auto counts = counter->take();
    counter.reset();
    if (dumped) {
        (void)(*conn)->exec("COMMIT");
    } else {
        (void)(*conn)->exec("ROLLBACK");
        (void)(*conn)->query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '" +
                             dump_app + "'");
    }

    if (cancel::requested()) {
        return fail_cancelled("run pg_dump for", target.name);
    }
    if (!copied) {
        return std::unexpected(copied.error());
    }
    if (!status) {
        return std::unexpected(status.error());
    }
    if (auto st = judge_exit(runner, **proc, *status, *copied, target); !st) {
        return std::unexpected(st.error());
    }
    if (!counts && is_lock_timeout(counts.error().message)) {
        return std::unexpected(lock_timeout_error(runner, target, counts.error().to_string()));
    }
    if (!counts) {
        return wrap(counts.error(), "count rows of " + target.name);
    }
    info.stats = std::move(*counts);
    info.details["pg_dump_path"] = tool->path;
    info.details["database"] = pg.dbname;
    return info;
}

// A runner that only launches commands detached (ecs): no session can hold a snapshot open, so pg_dump
// takes its own (it is consistent by itself) and no row counts are recorded. The server version comes
// from a one-shot psql where the runner runs, when there is one.
Result<DumpInfo> dump_detached(runner::Runner& runner, const Target& target, stream::Sink& out)
{
    const auto& pg = target.postgres;
    auto params = target_params(target);
    DumpInfo info;
    int server_major = 0;
    runner::Command version;
    version.inherit = libpq_environment();
    version.argv = {psql_path(target.postgres),
                    "-X",
                    "-A",
                    "-t",
                    "--no-password",
                    "--dbname=" + pg::conninfo(params.keywords),
                    "-c",
                    "SELECT current_setting('server_version_num') || ' ' || current_setting('server_version')"};
    add_password_env(version, pg);
    auto v = runner::run_capture(runner, version, 4096);
    if (!v && v.error().kind == ErrorKind::cancelled) {
        return std::unexpected(v.error());
    }
    if (!v) {
        observe::warn("server version unknown: psql did not run where the runner runs",
                      {{"target", target.name}, {"error", v.error().message}});
    } else if (v->status.ok()) {
        server_major = std::atoi(v->out.c_str()) / 10000;
        if (auto sp = v->out.find(' '); sp != std::string::npos) {
            info.server_version = first_line(v->out.substr(sp + 1));
            if (auto sp2 = info.server_version.find(' '); sp2 != std::string::npos) {
                info.server_version.resize(sp2);
            }
        }
    } else if (v->status.code == 2) {
        // psql's "could not connect": the same failure pg_dump would meet, said now.
        std::string msg = tool_message(v->err);
        auto [kind, hint] = pg::classify_connect_error(msg);
        return fail(kind, "connect to", target.name + " (via " + runner.describe() + ")", msg, hint);
    } else {
        observe::warn("server version unknown: no psql where the runner runs; using the newest pg_dump there",
                      {{"target", target.name}});
    }
    auto tool = find_tool(runner, target, "pg_dump", pg.pg_dump_path, server_major);
    if (!tool) {
        return std::unexpected(tool.error());
    }
    info.tool = "pg_dump";
    info.tool_version = tool->version;
    runner::Command cmd;
    cmd.inherit = libpq_environment();
    cmd.argv = {tool->path,
                "--format=custom",
                "--compress=0",
                "--lock-wait-timeout=" +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(pg.lock_wait_timeout).count()),
                "--no-password",
                "--dbname=" + pg::conninfo(params.keywords)};
    add_password_env(cmd, pg);
    auto proc = runner.start(cmd);
    if (!proc) {
        return std::unexpected(proc.error());
    }
    auto copied = copy_output(**proc, out);
    if (!copied) {
        return std::unexpected(copied.error());
    }
    auto status = (*proc)->wait();
    if (!status) {
        std::string err = tool_message((*proc)->error_output());
        auto e = status.error();
        if (!err.empty()) {
            e.message += " (pg_dump said: " + err + ")";
        }
        return std::unexpected(e);
    }
    if (auto st = judge_exit(runner, **proc, *status, *copied, target); !st) {
        return std::unexpected(st.error());
    }
    info.details["pg_dump_path"] = tool->path;
    info.details["database"] = pg.dbname;
    info.details["row_counts"] = "not recorded: the runner launches commands detached";
    return info;
}

} // namespace

Result<DumpInfo> dump_database(runner::Runner& runner, const Target& target, stream::Sink& out)
{
    if (!runner.interactive()) {
        return dump_detached(runner, target, out);
    }
    return dump_in_snapshot(runner, target, out);
}

} // namespace dbkeep::engine::pg
