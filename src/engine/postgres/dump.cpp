#include "engine/postgres/dump.hpp"

#include "core/cancel.hpp"
#include "engine/postgres/stats.hpp"
#include "engine/postgres/tools.hpp"
#include "observe/log.hpp"

#include <cstdlib>
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

// pg_dump's exit once its whole output was copied: fails when it failed (with its first error line) or wrote
// nothing (`total` bytes).
Status judge_exit(runner::Process& proc, const runner::ExitStatus& status, std::uint64_t total, const Target& target)
{
    if (!status.ok()) {
        std::string err = first_line(proc.error_output());
        return fail(ErrorKind::failed, "run pg_dump for", target.name,
                    "pg_dump " + status.describe() + (err.empty() ? "" : ": " + err));
    }
    if (total == 0) {
        return fail(ErrorKind::failed, "run pg_dump for", target.name, "pg_dump produced no output");
    }
    return {};
}

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

    runner::Command cmd;
    cmd.argv = {tool->path,      "--format=custom",
                "--compress=0",  "--snapshot=" + snapshot,
                "--no-password", "--dbname=" + pg::conninfo(params.keywords)};
    add_password_env(cmd, pg);
    observe::debug("starting pg_dump", {{"target", target.name}, {"tool", tool->path}, {"runner", runner.describe()}});
    auto proc = runner.start(cmd);
    if (!proc) {
        return std::unexpected(proc.error());
    }

    // Count rows in the exporting transaction while pg_dump streams.
    Result<std::map<std::string, std::int64_t>> counts = std::map<std::string, std::int64_t>{};
    std::thread counter([&] { counts = count_rows(**conn); });

    auto copied = copy_output(**proc, out);
    auto status = (*proc)->wait();
    counter.join();
    (void)(*conn)->exec("COMMIT");

    if (cancel::requested()) {
        return fail_cancelled("run pg_dump for", target.name);
    }
    if (!copied) {
        return std::unexpected(copied.error());
    }
    if (!status) {
        return std::unexpected(status.error());
    }
    if (auto st = judge_exit(**proc, *status, *copied, target); !st) {
        return std::unexpected(st.error());
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
        std::string msg = first_line(v->err);
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
    cmd.argv = {tool->path, "--format=custom", "--compress=0", "--no-password",
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
        std::string err = first_line((*proc)->error_output());
        auto e = status.error();
        if (!err.empty()) {
            e.message += " (pg_dump said: " + err + ")";
        }
        return std::unexpected(e);
    }
    if (auto st = judge_exit(**proc, *status, *copied, target); !st) {
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
