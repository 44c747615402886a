#include "engine/mysql/dump.hpp"

#include "core/cancel.hpp"
#include "engine/mysql/dump_reader.hpp"
#include "observe/log.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace dbkeep::engine::mysql {
namespace {

constexpr std::size_t k_chunk = 1 << 20;

// What a backup and a repair record alike from the dump's own text: binary-log coordinates and the tables
// outside the consistent snapshot ("db.t (MyISAM), ..."; also returned, empty when none).
std::string record_summary(const DumpSummary& s, DumpInfo& info)
{
    if (!s.binlog_file.empty()) {
        info.details["binlog_file"] = s.binlog_file;
        info.details["binlog_position"] = s.binlog_position;
    }
    if (!s.gtid_position.empty()) {
        info.details["gtid_position"] = s.gtid_position;
    }
    std::string non_tx;
    for (const auto& [table, eng] : s.engines) {
        if (eng != "InnoDB" && eng != "XtraDB" && eng != "RocksDB" && eng != "ROCKSDB" && eng != "TokuDB") {
            non_tx += (non_tx.empty() ? "" : ", ") + table + " (" + eng + ")";
        }
    }
    if (!non_tx.empty()) {
        info.details["non_transactional_tables"] = non_tx;
    }
    return non_tx;
}

// The dump's output on its way to out, read by the DumpReader as it passes; the time of the last bytes is
// kept for the StallWatchdog.
class DumpTee final : public stream::Sink {
public:
    DumpTee(stream::Sink& out, std::string database) : m_out(out), m_reader(std::move(database)) { touch(); }

    Status write(Bytes data) override
    {
        // Time spent in the pipeline behind (a slow upload) is not the dump's silence.
        m_writing.store(true);
        m_reader.feed(data);
        auto st = m_out.write(data);
        touch();
        m_writing.store(false);
        return st;
    }
    Status finish() override { return m_out.finish(); }
    void abort() noexcept override { m_out.abort(); }

    const DumpSummary& summary() const noexcept { return m_reader.summary(); }
    std::chrono::steady_clock::time_point last_bytes() const noexcept
    {
        if (m_writing.load()) {
            return std::chrono::steady_clock::now();
        }
        return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(m_last.load()));
    }

private:
    void touch() noexcept { m_last.store(std::chrono::steady_clock::now().time_since_epoch().count()); }

    stream::Sink& m_out;
    DumpReader m_reader;
    std::atomic<std::chrono::steady_clock::rep> m_last{0};
    std::atomic<bool> m_writing{false};
};

// Stops the dump when it has written nothing for `limit`: with --single-transaction --quick the only such
// pause is a wait for a lock (a table held by LOCK TABLES or an ALTER), which the server would let last
// lock_wait_timeout (a day by default). Stopped and joined on destruction.
class StallWatchdog {
public:
    StallWatchdog(runner::Process& proc, const DumpTee& tee, std::chrono::seconds limit)
        : m_thread([this, &proc, &tee, limit] {
              std::unique_lock lock(m_mutex);
              while (!m_stop) {
                  m_cv.wait_for(lock, std::chrono::milliseconds(100));
                  if (!m_stop && std::chrono::steady_clock::now() - tee.last_bytes() >= limit) {
                      m_fired = true;
                      proc.kill();
                      return;
                  }
              }
          })
    {
    }
    ~StallWatchdog() { stop(); }
    StallWatchdog(const StallWatchdog&) = delete;
    StallWatchdog& operator=(const StallWatchdog&) = delete;

    void stop()
    {
        {
            const std::lock_guard lock(m_mutex);
            m_stop = true;
        }
        m_cv.notify_all();
        if (m_thread.joinable()) {
            m_thread.join();
        }
    }
    bool fired() const noexcept { return m_fired.load(); }

private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_stop = false;
    std::atomic<bool> m_fired{false};
    std::thread m_thread; // last: starts once the members it uses exist
};

// Who blocks a stalled dump, and the dump's own waiting statements cancelled on the server (the client was
// killed, but a statement waiting for a metadata lock waits on until the server's lock_wait_timeout). Best
// effort: the sessions of the same user whose statement is mariadb-dump's table read and waits for a lock.
std::string cancel_waiting_reads(runner::Runner& runner, const std::string& client, const Endpoint& endpoint)
{
    auto rows =
        query(runner, client, endpoint,
              "SELECT ID, 'w', '' FROM information_schema.PROCESSLIST WHERE USER = SUBSTRING_INDEX(CURRENT_USER(), "
              "'@', 1) AND STATE LIKE 'Waiting for%lock%' AND INFO LIKE 'SELECT /*!40001 SQL_NO_CACHE */%' "
              "UNION ALL SELECT ID, 'h', HEX(CONCAT(USER, ' ', COMMAND, ' ', TIME, 's', IF(INFO IS NULL, '', "
              "CONCAT(' `', LEFT(INFO, 80), '`')))) FROM information_schema.PROCESSLIST WHERE ID <> "
              "CONNECTION_ID() AND (STATE NOT LIKE 'Waiting for%' OR STATE IS NULL) AND COMMAND <> 'Daemon' "
              "AND TIME > 0 ORDER BY 1 LIMIT 20");
    if (!rows) {
        return "";
    }
    std::string kill, sessions;
    for (const auto& r : *rows) {
        if (r.size() < 3) {
            continue;
        }
        if (r[1] == "w") {
            kill += "KILL QUERY " + r[0] + ";";
        } else {
            sessions += (sessions.empty() ? "" : "; ") + std::string("session ") + r[0] + " (" + unhex(r[2]) + ")";
        }
    }
    if (!kill.empty()) {
        (void)query(runner, client, endpoint, kill);
    }
    return sessions;
}

std::string base_name(const std::string& path)
{
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "10.11.19-MariaDB-0+deb12u1-log" -> "10.11.19-MariaDB-0+deb12u1"
std::string trim_log_suffix(std::string v)
{
    for (const char* suffix : {"-log", "-debug", "-valgrind"}) {
        if (v.ends_with(suffix)) {
            v.resize(v.size() - std::string(suffix).size());
        }
    }
    return v;
}

struct Schema {
    std::string charset, collation;
};

} // namespace

Result<DumpInfo> dump_databases(runner::Runner& runner, const Target& target, stream::Sink& out)
{
    const auto& o = target.options;
    auto dumper = find_tool(runner, target, true);
    if (!dumper) {
        return std::unexpected(dumper.error());
    }
    auto client = find_tool(runner, target, false);
    if (!client) {
        return std::unexpected(client.error());
    }
    // Before the dump: the server's version, whether it writes a binary log, and its databases with their
    // character sets (a connection or password problem fails here, before any byte is stored).
    auto endpoint = target_endpoint(target);
    endpoint.database.clear();
    auto facts = query(runner, client->path, endpoint,
                       "SELECT 'v', @@version, CAST(@@log_bin AS CHAR), '' UNION ALL SELECT 'd', HEX(SCHEMA_NAME), "
                       "DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA");
    if (!facts) {
        return wrap(facts.error(), "connect for the backup of " + target.name);
    }
    std::string version;
    bool log_bin = false;
    std::map<std::string, Schema> schemas;
    for (const auto& r : *facts) {
        if (r.size() < 4) {
            continue;
        }
        if (r[0] == "v") {
            version = trim_log_suffix(r[1]);
            log_bin = r[2] == "1" || r[2] == "ON";
        } else {
            schemas[unhex(r[1])] = Schema{r[2], r[3]};
        }
    }
    std::vector<std::string> dbs;
    if (!o.database.empty()) {
        dbs = {o.database};
    } else if (o.all_databases) {
        for (const auto& [name, s] : schemas) {
            if (!is_system_database(name)) {
                dbs.push_back(name);
            }
        }
        if (dbs.empty()) {
            return fail(ErrorKind::not_found, "back up", target.name,
                        "the server has no user database (databases: all leaves out mysql, sys and the schemas)");
        }
    } else {
        dbs = o.databases;
    }
    std::string missing;
    for (const auto& d : dbs) {
        if (!schemas.contains(d)) {
            missing += (missing.empty() ? "" : ", ") + d;
        }
    }
    if (!missing.empty()) {
        return fail(ErrorKind::not_found, "back up", target.name,
                    "no database " + missing + " on " + endpoint.what + " (or the user cannot see it)",
                    "check the database name, or GRANT SELECT ON db.* to the backup user");
    }

    DumpInfo info;
    info.server_version = version;
    info.tool = base_name(dumper->path);
    info.tool_version = dumper->version;
    const bool single = !o.database.empty();
    info.details["layout"] = single ? "database" : "databases";
    std::string list;
    for (const auto& d : dbs) {
        list += (list.empty() ? "" : ",") + d;
        const auto& s = schemas[d];
        info.details[single ? "charset" : "charset." + d] = s.charset;
        info.details[single ? "collation" : "collation." + d] = s.collation;
    }
    info.details[single ? "database" : "databases"] = list;

    auto cmd = tool_command(dumper->path, endpoint);
    cmd.argv.insert(cmd.argv.end(), {"--single-transaction", "--quick", "--routines", "--triggers", "--events",
                                     "--hex-blob", "--default-character-set=utf8mb4", "--comments", "--dump-date"});
    if (log_bin) {
        cmd.argv.emplace_back("--master-data=2");
    } else {
        info.details["binlog"] = "off";
    }
    if (single) {
        cmd.argv.push_back(o.database);
    } else {
        cmd.argv.emplace_back("--databases");
        cmd.argv.insert(cmd.argv.end(), dbs.begin(), dbs.end());
    }
    observe::debug("starting the dump",
                   {{"target", target.name}, {"tool", dumper->path}, {"runner", runner.describe()}});
    auto proc = runner.start(cmd);
    if (!proc) {
        return std::unexpected(proc.error());
    }
    DumpTee tee(out, single ? o.database : "");
    StallWatchdog watchdog(**proc, tee, o.lock_wait_timeout);
    auto copied = stream::copy((*proc)->out(), tee, k_chunk);
    if (!copied || cancel::requested()) {
        (*proc)->kill();
    }
    auto status = (*proc)->wait();
    watchdog.stop();
    if (cancel::requested()) {
        return fail_cancelled("run " + info.tool + " for", target.name);
    }
    if (watchdog.fired()) {
        const cancel::Shield shield;
        std::string sessions = cancel_waiting_reads(runner, client->path, endpoint);
        return fail(ErrorKind::conflict, "dump", target.name,
                    info.tool + " wrote nothing for lock_wait_timeout (" + std::to_string(o.lock_wait_timeout.count()) +
                        "s): it waits for a lock (LOCK TABLES, an ALTER TABLE, or FLUSH TABLES WITH READ LOCK on a "
                        "server without a consistent-snapshot binlog position); it was stopped" +
                        (sessions.empty() ? "" : "; other sessions now: " + sessions),
                    "find the session holding the lock in SHOW PROCESSLIST and end it (KILL id), or raise "
                    "lock_wait_timeout");
    }
    if (!copied) {
        return std::unexpected(copied.error());
    }
    if (!status) {
        return std::unexpected(status.error());
    }
    if (!status->ok()) {
        return std::unexpected(
            tool_error("run " + info.tool + " for", target.name, info.tool, *status, (*proc)->error_output()));
    }
    if (*copied == 0) {
        return fail(ErrorKind::failed, "run " + info.tool + " for", target.name, info.tool + " produced no output");
    }
    const auto& s = tee.summary();
    if (!s.completed) {
        return fail(ErrorKind::corruption, "read the output of " + info.tool + " for", target.name,
                    "the dump ended before its \"Dump completed\" trailer: it is truncated");
    }
    info.stats = s.rows;
    if (!s.server_version.empty()) {
        info.details["server_version_full"] = s.server_version;
    }
    const std::string non_tx = record_summary(s, info);
    if (!non_tx.empty()) {
        observe::warn("non-transactional tables are not part of the consistent snapshot: writes during the backup "
                      "may leave them inconsistent with the others (convert them: ALTER TABLE ... ENGINE=InnoDB)",
                      {{"target", target.name}, {"tables", non_tx}});
    }
    info.details["dump_path"] = dumper->path;
    return info;
}

} // namespace dbkeep::engine::mysql

namespace dbkeep::engine::mysql {

Result<DumpInfo> inspect_dump(const Target& target, stream::Source& in)
{
    const auto& o = target.options;
    DumpReader reader(o.database);
    std::vector<std::uint8_t> buf(k_chunk);
    for (;;) {
        if (cancel::requested()) {
            return fail_cancelled("inspect a stored dump of", target.name);
        }
        auto n = in.read(buf);
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            break;
        }
        reader.feed(Bytes(buf.data(), *n));
    }
    const auto& s = reader.summary();
    if (!s.completed) {
        return fail(ErrorKind::corruption, "inspect a stored dump of", target.name,
                    "the dump ends before its \"Dump completed\" trailer: it is truncated");
    }
    DumpInfo info;
    // "MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)": the tool and its version.
    info.tool = s.tool_line.starts_with("MariaDB") ? "mariadb-dump" : "mysqldump";
    const auto distrib = s.tool_line.find("Distrib ");
    info.tool_version = distrib == std::string::npos
                            ? s.tool_line
                            : s.tool_line.substr(distrib + 8, s.tool_line.find(',', distrib) - distrib - 8);
    info.server_version = s.server_version;
    info.stats = s.rows;
    const bool single = !o.database.empty();
    info.details["layout"] = single ? "database" : "databases";
    std::string list = o.database;
    if (!single) {
        for (const auto& d : s.databases) {
            list += (list.empty() ? "" : ",") + d;
        }
    }
    info.details[single ? "database" : "databases"] = list;
    (void)record_summary(s, info);
    return info;
}

} // namespace dbkeep::engine::mysql
