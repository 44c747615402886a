#include "engine/postgres/dump.hpp"

#include "core/cancel.hpp"
#include "core/hex.hpp"
#include "engine/postgres/connection.hpp"
#include "engine/postgres/custom_format.hpp"
#include "engine/postgres/encoding.hpp"
#include "engine/postgres/tools.hpp"
#include "observe/log.hpp"

#include <chrono>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

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
Error describe_lock_timeout(runner::Runner& runner, const Target& target, const std::string& said)
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
    e.hint = pids.empty() ? "back up again, as the lock may be free now; if it recurs, find the session holding it in "
                            "pg_locks / pg_stat_activity and end it, or raise the target's lock_wait_timeout"
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
            return std::unexpected(describe_lock_timeout(runner, target, "pg_dump: " + err));
        }
        return fail(ErrorKind::failed, "run pg_dump for", target.name,
                    "pg_dump " + status.describe() + (err.empty() ? "" : ": " + err));
    }
    if (total == 0) {
        return fail(ErrorKind::failed, "run pg_dump for", target.name, "pg_dump produced no output");
    }
    return {};
}

// pg_dump's output on its way to out, read by the archive reader as it passes. A reader error is kept and
// reported once pg_dump has ended (pg_dump's own failure, when it failed, says more); the bytes go on to out
// regardless.
class ArchiveTee final : public stream::Sink {
public:
    explicit ArchiveTee(stream::Sink& out) : m_out(out) {}

    Status write(Bytes data) override
    {
        if (!m_error) {
            if (auto st = m_reader.feed(data); !st) {
                m_error = st.error();
            }
        }
        return m_out.write(data);
    }
    Status finish() override { return m_out.finish(); }
    void abort() noexcept override { m_out.abort(); }

    // The reader's verdict once the stream ended: its first error, or a truncated archive.
    Status verdict()
    {
        if (m_error) {
            return std::unexpected(*m_error);
        }
        return m_reader.finish();
    }
    const pgdump::Summary& summary() const noexcept { return m_reader.summary(); }

private:
    stream::Sink& m_out;
    pgdump::Reader m_reader;
    std::optional<Error> m_error;
};

// "15.18" from "15.18 (Debian 15.18-0+deb12u1)".
std::string version_word(const std::string& text)
{
    std::string v = first_line(text);
    if (auto sp = v.find(' '); sp != std::string::npos) {
        v.resize(sp);
    }
    return v;
}

struct ServerVersion {
    int major = 0;        // 0: unknown
    std::string version;  // "15.18"; empty: unknown
    std::string encoding; // the database's encoding ("LATIN1"); empty: unknown
};

// The server's version before pg_dump starts, to pick the pg_dump that fits it: a session (libpq with a local
// runner, psql through any other runner that can hold one), else a one-shot psql where a detached runner (ecs)
// runs. None holds a snapshot or a lock, and each has ended before pg_dump starts. Unknown (with a warning)
// when a detached runner has no psql; fails when the server or the runner refuses (the failure pg_dump would
// meet, said now) or when cancelled.
Result<ServerVersion> server_version(runner::Runner& runner, const Target& target)
{
    const auto& pg = target.postgres;
    auto params = target_params(target);
    ServerVersion out;
    if (runner.interactive()) {
        auto conn = open_session(runner, target, params);
        if (!conn) {
            return std::unexpected(conn.error());
        }
        out.major = (*conn)->server_version_num() / 10000;
        auto v = (*conn)->query("SELECT current_setting('server_version'), current_setting('server_encoding')");
        if (v && !v->empty() && v->front().size() == 2) {
            out.version = version_word(v->front()[0]);
            out.encoding = v->front()[1];
        }
        return out;
    }
    // "<version_num> <encoding> <version>": one line that psql -A -t prints as it is.
    const std::string sql = "SELECT current_setting('server_version_num') || ' ' || "
                            "current_setting('server_encoding') || ' ' || current_setting('server_version')";
    runner::Command version;
    version.inherit = libpq_environment();
    version.argv = {psql_path(pg), "-X", "-A", "-t", "--no-password", "--dbname=" + pg::conninfo(params.keywords),
                    "-c",          sql};
    add_password_env(version, pg);
    auto v = runner::run_capture(runner, version, 4096);
    if (!v && v.error().kind == ErrorKind::cancelled) {
        return std::unexpected(v.error());
    }
    if (!v) {
        observe::warn("server version unknown: psql did not run where the runner runs",
                      {{"target", target.name}, {"error", v.error().message}});
    } else if (v->status.ok()) {
        out.major = std::atoi(v->out.c_str()) / 10000;
        if (auto sp = v->out.find(' '); sp != std::string::npos) {
            auto sp2 = v->out.find(' ', sp + 1);
            out.encoding = v->out.substr(sp + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp - 1);
            if (sp2 != std::string::npos) {
                out.version = version_word(v->out.substr(sp2 + 1));
            }
        }
    } else if (v->status.code == 2) {
        std::string msg = tool_message(v->err);
        auto [kind, hint] = pg::classify_connect_error(msg);
        return fail(kind, "connect to", target.name + " (via " + runner.describe() + ")", msg, hint);
    } else {
        observe::warn("server version unknown: no psql where the runner runs; using the newest pg_dump there",
                      {{"target", target.name}});
    }
    return out;
}

// Cancels, on the server, the session of a pg_dump that was stopped: a pg_dump killed while it waits for a lock
// leaves a server process that would otherwise wait on until lock_wait_timeout. Best effort, bounded by short
// timeouts; only where the runner can hold a session.
void cancel_server_side(runner::Runner& runner, const Target& target, const std::string& application_name)
{
    if (!runner.interactive()) {
        return;
    }
    auto params = target_params(target);
    params.keywords["connect_timeout"] = "5";
    params.settings["statement_timeout"] = "5000";
    auto conn = open_session(runner, target, params);
    if (!conn) {
        return;
    }
    (void)(*conn)->query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '" +
                         application_name + "'");
}

// The manifest's statistics from what the archive held: each TABLE DATA entry's COPY rows under
// "schema.table", and in details the large objects, TOC entries and the archive's own facts.
void record_archive(DumpInfo& info, const pgdump::Summary& s, const std::string& encoding)
{
    if (!s.supported) {
        info.details["row_counts"] = "not recorded: the archive is one this dbkeep cannot read (" + s.unsupported + ")";
        return;
    }
    std::int64_t tables = 0, extension_tables = 0;
    for (const auto& e : s.data) {
        if (e.desc != "TABLE DATA") {
            continue;
        }
        if (!e.table_entry) {
            // An extension's configuration table: CREATE EXTENSION makes its other rows, so a restored copy
            // holds more than the dump; not compared (live counts skip extension tables too, see stats.hpp).
            ++extension_tables;
            continue;
        }
        info.stats[archive_text(e.schema, encoding) + "." + archive_text(e.name, encoding)] = e.rows;
        ++tables;
    }
    if (extension_tables > 0) {
        info.details["extension_config_tables"] = std::to_string(extension_tables);
    }
    info.details["archive_version"] =
        std::to_string(s.version_major) + "." + std::to_string(s.version_minor) + "." + std::to_string(s.version_rev);
    info.details["toc_entries"] = std::to_string(s.toc_entries);
    info.details["tables_with_data"] = std::to_string(tables);
    info.details["large_objects"] = std::to_string(s.large_objects);
    if (!s.database.empty()) {
        info.details["database"] = archive_text(s.database, encoding);
    }
    if (!s.server_version.empty()) {
        info.server_version = version_word(s.server_version);
    }
}

// A list of patterns as one detail: a JSON array of strings (patterns may hold commas).
std::string json_list(const std::vector<std::string>& items)
{
    return nlohmann::json(items).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The target's exclusions in the manifest's details, and the tables whose rows exclude_table_data left out as
// stats of 0 rows: the table is dumped (and restored) empty, which is what verify --restore then finds. Those are
// the TABLE entries without a TABLE DATA entry, except partitioned tables (a TABLE ATTACH entry depends on them),
// which never have rows of their own and are not counted live either.
void record_exclusions(DumpInfo& info, const PostgresOptions& pg, const pgdump::Summary& s, const std::string& encoding)
{
    if (!pg.exclude_tables.empty()) {
        info.details["exclude_tables"] = json_list(pg.exclude_tables);
    }
    if (!pg.exclude_schemas.empty()) {
        info.details["exclude_schemas"] = json_list(pg.exclude_schemas);
    }
    if (pg.exclude_table_data.empty()) {
        return;
    }
    info.details["exclude_table_data"] = json_list(pg.exclude_table_data);
    if (!s.supported || !s.toc_complete) {
        return;
    }
    std::set<std::pair<std::string, std::string>> with_data;
    for (const auto& e : s.toc) {
        if (e.desc == "TABLE DATA") {
            with_data.emplace(e.schema, e.name);
        }
    }
    std::set<std::int64_t> attached_to;
    for (const auto& e : s.toc) {
        if (e.desc == "TABLE ATTACH") {
            attached_to.insert(e.deps.begin(), e.deps.end());
        }
    }
    std::int64_t empty = 0;
    for (const auto& e : s.toc) {
        if (e.desc != "TABLE" || with_data.contains({e.schema, e.name}) || attached_to.contains(e.dump_id)) {
            continue;
        }
        auto key = archive_text(e.schema, encoding) + "." + archive_text(e.name, encoding);
        if (!info.stats.contains(key)) {
            info.stats[key] = 0;
            ++empty;
        }
    }
    info.details["tables_without_data"] = std::to_string(empty);
}

} // namespace

Error lock_timeout_error(runner::Runner& runner, const Target& target, const std::string& said)
{
    return describe_lock_timeout(runner, target, said);
}

std::string exact_table_pattern(const std::string& schema, const std::string& table)
{
    // Inside double quotes a pattern is literal and "" is one quote: an identifier's own quoting.
    return quote_ident(schema) + "." + quote_ident(table);
}

Result<DumpInfo> dump_database(runner::Runner& runner, const Target& target, stream::Sink& out)
{
    return dump_database(runner, target, out, DumpPlan{});
}

Result<DumpInfo> dump_database(runner::Runner& runner, const Target& target, stream::Sink& out, const DumpPlan& plan)
{
    const auto& pg = target.postgres;
    auto server = server_version(runner, target);
    if (!server) {
        return std::unexpected(server.error());
    }
    auto tool = find_tool(runner, target, "pg_dump", pg.pg_dump_path, server->major);
    if (!tool) {
        return std::unexpected(tool.error());
    }
    DumpInfo info;
    info.server_version = server->version;
    info.tool = "pg_dump";
    info.tool_version = tool->version;

    // pg_dump takes its own snapshot and its own locks, as it does alone: no session of ours holds either.
    // Its session is named so that a stopped pg_dump can be cancelled on the server (cancel_server_side).
    auto keywords = target_params(target).keywords;
    const std::string dump_app = "dbkeep pg_dump " + random_hex(4);
    keywords["application_name"] = dump_app;
    runner::Command cmd;
    cmd.inherit = libpq_environment();
    cmd.argv = {tool->path,
                "--format=custom",
                "--compress=0", // dbkeep compresses; the reader counts rows in the COPY text as it passes
                "--lock-wait-timeout=" +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(pg.lock_wait_timeout).count()),
                "--no-password",
                "--dbname=" + pg::conninfo(keywords)};
    if (!plan.snapshot.empty()) {
        cmd.argv.push_back("--snapshot=" + plan.snapshot);
    }
    for (const auto& [schema, table] : plan.exclude_table_data) {
        cmd.argv.push_back("--exclude-table-data=" + exact_table_pattern(schema, table));
    }
    // The target's own exclusions: pg_dump's patterns, one argv item each (never through a shell). pg_dump reads
    // them in the database's encoding (its client encoding): a UTF-8 "café" is written as a LATIN1 one.
    for (const auto& [option, patterns] :
         {std::pair{"--exclude-table=", &pg.exclude_tables}, std::pair{"--exclude-schema=", &pg.exclude_schemas},
          std::pair{"--exclude-table-data=", &pg.exclude_table_data}}) {
        for (const auto& p : *patterns) {
            auto bytes = to_encoding(p, server->encoding);
            if (!bytes) {
                return fail(ErrorKind::config, "back up", target.name,
                            "the pattern '" + p + "' cannot be written in the database's encoding " + server->encoding +
                                " (or that encoding is unknown here), so pg_dump could not match it",
                            "write the pattern with characters of that encoding, or with ? for the others");
            }
            cmd.argv.push_back(option + *bytes);
        }
    }
    add_password_env(cmd, pg);
    observe::debug("starting pg_dump", {{"target", target.name}, {"tool", tool->path}, {"runner", runner.describe()}});
    auto proc = runner.start(cmd);
    if (!proc) {
        return std::unexpected(proc.error());
    }
    ArchiveTee tee(out);
    auto copied = copy_output(**proc, tee);
    auto status = (*proc)->wait();
    if (!copied || cancel::requested()) {
        cancel_server_side(runner, target, dump_app); // pg_dump was stopped, maybe while it waited on the server
    }
    if (cancel::requested()) {
        return fail_cancelled("run pg_dump for", target.name);
    }
    if (!copied) {
        return std::unexpected(copied.error());
    }
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
    if (auto st = tee.verdict(); !st) {
        return wrap(st.error(), "read the output of pg_dump for " + target.name);
    }
    info.details["pg_dump_path"] = tool->path;
    info.details["database"] = pg.dbname;
    record_archive(info, tee.summary(), tee.summary().encoding);
    record_exclusions(info, pg, tee.summary(), tee.summary().encoding);
    return info;
}

namespace {

// Feeds `first` (bytes already read from in) and then the rest of in to reader, and finishes it.
Status read_archive(stream::Source& in, pgdump::Reader& reader, Bytes first = {})
{
    if (!first.empty()) {
        if (auto st = reader.feed(first); !st) {
            return st;
        }
    }
    std::vector<std::uint8_t> buf(k_chunk);
    for (;;) {
        if (cancel::requested()) {
            return fail_cancelled("read", "pg_dump archive");
        }
        auto n = in.read(buf);
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            break;
        }
        if (auto st = reader.feed(Bytes(buf.data(), *n)); !st) {
            return st;
        }
    }
    return reader.finish();
}

} // namespace

Result<DumpInfo> inspect_archive(stream::Source& in, const PostgresOptions& pg)
{
    // The reader dump_database tees pg_dump's output through, so the statistics are the ones a backup records.
    pgdump::Reader reader;
    if (auto st = read_archive(in, reader); !st) {
        return std::unexpected(st.error());
    }
    const pgdump::Summary& s = reader.summary();
    DumpInfo info;
    info.tool = "pg_dump";
    info.tool_version = version_word(s.dump_version);
    record_archive(info, s, s.encoding);
    record_exclusions(info, pg, s, s.encoding);
    return info;
}

Result<Contents> object_contents(stream::Source& in, const std::map<std::string, std::string>& details)
{
    // A custom archive starts with PGDMP; anything else (a parallel dump's COPY chunk, a whole server's globals
    // SQL) is left to the caller, which shows its details.
    constexpr std::size_t k_magic = 5;
    std::vector<std::uint8_t> first(k_magic);
    std::size_t have = 0;
    while (have < k_magic) {
        auto n = in.read(MutableBytes(first.data() + have, k_magic - have));
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            break;
        }
        have += *n;
    }
    Contents out;
    if (have < k_magic || std::string_view(reinterpret_cast<const char*>(first.data()), k_magic) != "PGDMP") {
        auto format = details.find("format");
        out.kind = format != details.end() ? format->second : "data";
        return out;
    }
    pgdump::Reader reader(true);
    if (auto st = read_archive(in, reader, Bytes(first.data(), have)); !st) {
        return std::unexpected(st.error());
    }
    const pgdump::Summary& s = reader.summary();
    const std::string& enc = s.encoding;
    out.kind = "pg_dump custom archive";
    if (!s.supported) {
        out.facts["toc"] = "not read: " + s.unsupported;
    }
    out.facts["archive_version"] =
        std::to_string(s.version_major) + "." + std::to_string(s.version_minor) + "." + std::to_string(s.version_rev);
    out.facts["database"] = archive_text(s.database, enc);
    out.facts["server_version"] = utf8_or_escaped(s.server_version);
    out.facts["pg_dump_version"] = utf8_or_escaped(s.dump_version);
    out.facts["encoding"] = enc;
    out.facts["toc_entries"] = std::to_string(s.toc_entries);
    out.facts["large_objects"] = std::to_string(s.large_objects);
    std::map<std::int64_t, const pgdump::DataEntry*> data;
    for (const auto& e : s.data) {
        data[e.dump_id] = &e;
        if (e.desc == "TABLE DATA") {
            out.counts[archive_text(e.schema, enc) + "." + archive_text(e.name, enc)] = e.rows;
        }
    }
    out.columns = {"id", "table_oid", "oid", "section", "desc", "schema", "name", "owner", "rows"};
    for (const auto& e : s.toc) {
        if (!pgdump::listed_by_pg_restore(e)) {
            continue;
        }
        auto d = data.find(e.dump_id);
        std::string rows;
        if (d != data.end() && e.desc == "TABLE DATA") {
            rows = std::to_string(d->second->rows);
        } else if (d != data.end() && d->second->large_objects > 0) {
            rows = std::to_string(d->second->large_objects);
        }
        out.entries.push_back({std::to_string(e.dump_id), utf8_or_escaped(e.table_oid), utf8_or_escaped(e.oid),
                               pgdump::section_name(e.section), utf8_or_escaped(e.desc),
                               e.schema.empty() ? "-" : archive_text(e.schema, enc), archive_text(e.name, enc),
                               archive_text(e.owner, enc), rows});
    }
    return out;
}

} // namespace dbkeep::engine::pg
