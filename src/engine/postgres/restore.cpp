#include "engine/postgres/restore.hpp"
#include "engine/postgres/parallel.hpp"

#include "core/url.hpp"
#include "engine/postgres/encoding.hpp"
#include "engine/postgres/sql_splitter.hpp"
#include "engine/postgres/tools.hpp"
#include "observe/log.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace dbkeep::engine::pg {
namespace {

constexpr std::size_t k_chunk = 1 << 20;

// A private temp copy of the dump (for pg_restore --jobs, which needs to seek): a folder of its own made by
// mkdtemp (mode 0700) holding one file created with O_EXCL | O_NOFOLLOW, mode 0600, so that no other local
// user can read the (decrypted) dump and nothing planted in the temp folder is written through. Both are
// removed when the object goes, on every path.
class PrivateTemp {
public:
    PrivateTemp() = default;
    ~PrivateTemp() { remove(); }
    PrivateTemp(const PrivateTemp&) = delete;
    PrivateTemp& operator=(const PrivateTemp&) = delete;

    // Creates the folder in `parent` and the file in it, open for writing.
    Status create(const std::filesystem::path& parent)
    {
        std::string pattern = (parent / "dbkeep-restore-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            return fail(ErrorKind::failed, "create a private temp folder in", parent.string(), errno_message(errno),
                        "set TMPDIR to a writable folder with room for the whole dump");
        }
        m_dir = pattern;
        m_file = m_dir / "dump.pgdump";
        m_fd = ::open(m_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (m_fd < 0) {
            return fail(ErrorKind::failed, "create temp file", m_file.string(), errno_message(errno));
        }
        return {};
    }

    // Copies in to the file and closes it.
    Status write_all(stream::Source& in)
    {
        std::vector<std::uint8_t> buf(k_chunk);
        for (;;) {
            auto n = in.read(buf);
            if (!n) {
                return std::unexpected(n.error());
            }
            if (*n == 0) {
                break;
            }
            for (std::size_t done = 0; done < *n;) {
                ssize_t w = ::write(m_fd, buf.data() + done, *n - done);
                if (w < 0 && errno == EINTR) {
                    continue;
                }
                if (w < 0) {
                    return fail(ErrorKind::failed, "write temp file", m_file.string(), errno_message(errno),
                                "set TMPDIR to a folder with room for the whole dump");
                }
                done += static_cast<std::size_t>(w);
            }
        }
        if (::close(std::exchange(m_fd, -1)) != 0) {
            return fail(ErrorKind::failed, "write temp file", m_file.string(), errno_message(errno));
        }
        return {};
    }

    const std::filesystem::path& file() const { return m_file; }

    // Writes `content` to a further file `name` in the private folder (O_EXCL | O_NOFOLLOW, mode 0600).
    Result<std::filesystem::path> add_file(const std::string& name, const std::string& content)
    {
        const auto path = m_dir / name;
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            return fail(ErrorKind::failed, "create temp file", path.string(), errno_message(errno));
        }
        for (std::size_t done = 0; done < content.size();) {
            const ssize_t w = ::write(fd, content.data() + done, content.size() - done);
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w < 0) {
                const int err = errno;
                ::close(fd);
                return fail(ErrorKind::failed, "write temp file", path.string(), errno_message(err));
            }
            done += static_cast<std::size_t>(w);
        }
        if (::close(fd) != 0) {
            return fail(ErrorKind::failed, "write temp file", path.string(), errno_message(errno));
        }
        return path;
    }

    void remove() noexcept
    {
        if (m_fd >= 0) {
            ::close(std::exchange(m_fd, -1));
        }
        if (!m_dir.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(m_dir, ec);
            if (ec) {
                observe::warn("cannot remove the temp folder", {{"folder", m_dir.string()}, {"error", ec.message()}});
            }
            m_dir.clear();
        }
    }

private:
    std::filesystem::path m_dir, m_file;
    int m_fd = -1;
};

// Runs pg_restore (cmd), feeding it from in unless in is null, and judges its exit.
Status run_restore(runner::Runner& runner, const Target& target, const runner::Command& cmd, stream::Source* in)
{
    auto proc = runner.start(cmd);
    if (!proc) {
        return std::unexpected(proc.error());
    }
    // Drain pg_restore's stdout in the background so it can never block on a full pipe.
    std::thread drain([&] {
        std::uint8_t sink_buf[4096];
        for (;;) {
            auto n = (*proc)->out().read(sink_buf);
            if (!n || *n == 0) {
                break;
            }
        }
    });
    Status feed;
    if (in != nullptr) {
        std::vector<std::uint8_t> buf(k_chunk);
        for (;;) {
            auto n = in->read(buf);
            if (!n) {
                feed = std::unexpected(n.error());
                break;
            }
            if (*n == 0) {
                break;
            }
            if (auto st = (*proc)->in()->write(Bytes(buf.data(), *n)); !st) {
                feed = st;
                break;
            }
        }
        if (feed) {
            feed = (*proc)->in()->finish();
        } else {
            (*proc)->in()->abort();
            if (feed.error().kind != ErrorKind::failed) {
                (*proc)->kill(); // input was corrupt or cancelled: pg_restore must not commit anything more
            }
        }
    }
    auto status = (*proc)->wait();
    drain.join();
    if (!status) {
        return std::unexpected(status.error());
    }
    if (!status->ok()) {
        std::string err = tool_message((*proc)->error_output());
        if (!feed && feed.error().kind != ErrorKind::failed) {
            return std::unexpected(feed.error());
        }
        return fail(ErrorKind::failed, "run pg_restore for", target.name,
                    "pg_restore " + status->describe() + (err.empty() ? "" : ": " + err));
    }
    if (!feed) {
        return std::unexpected(feed.error());
    }
    return {};
}

// The database-level entries of a dump: its DATABASE entry (CREATE DATABASE with encoding and locale, owner)
// and the DATABASE PROPERTIES, COMMENT, SECURITY LABEL and ACL entries on the database, as pg_restore
// --create --schema-only prints them, statement by statement, still naming the source database.
struct DatabaseEntries {
    std::string source;                  // the source's name as the statements write it (quoted where needed)
    std::string create;                  // CREATE DATABASE ...; empty when the dump has no DATABASE entry
    std::vector<std::string> statements; // ALTER DATABASE / COMMENT ON DATABASE / GRANT ... ON DATABASE ...
};

// Picks the database-level statements out of pg_restore's script, line by line. Each entry is headed by
// "-- Name: NAME; Type: TYPE; Schema: ...; Owner: ..."; its statements end where SqlSplitter says (a ';' in a
// literal, a quoted name, a dollar quote or a comment is text); a \connect line ends the entry (what follows is
// the new session's SET preamble).
class EntryCollector {
public:
    void add(const char* data, std::size_t n)
    {
        for (std::size_t i = 0; i < n; ++i) {
            if (data[i] == '\n') {
                line(std::move(m_line));
                m_line.clear();
            } else if (m_line.size() < k_max_line) {
                m_line += data[i];
            }
        }
    }
    DatabaseEntries finish()
    {
        if (!m_line.empty()) {
            line(std::move(m_line));
        }
        return std::move(m_entries);
    }

private:
    static constexpr std::size_t k_max_line = 16 << 20;

    void line(std::string l)
    {
        if (!m_sql.in_statement() && m_sql.inside() == SqlSplitter::Inside::code) { // between statements
            if (l.starts_with("-- Name: ")) {
                header(l);
                return;
            }
            if (!m_wanted || l.empty() || l.starts_with("--")) {
                return;
            }
            if (l.starts_with("\\")) { // \connect: the entry's own statements are over
                m_wanted = false;
                return;
            }
        }
        l += '\n';
        for (auto& st : m_sql.add(l)) {
            statement(std::move(st));
        }
    }

    void header(const std::string& l)
    {
        auto type_at = l.find("; Type: ");
        if (type_at == std::string::npos) {
            m_wanted = false;
            return;
        }
        std::string name = l.substr(9, type_at - 9);
        auto type_end = l.find("; ", type_at + 8);
        std::string type =
            l.substr(type_at + 8, type_end == std::string::npos ? std::string::npos : type_end - type_at - 8);
        m_wanted = type == "DATABASE" || type == "DATABASE PROPERTIES" ||
                   ((type == "COMMENT" || type == "ACL" || type == "SECURITY LABEL") && name.starts_with("DATABASE "));
    }

    void statement(std::string st)
    {
        if (st.starts_with("CREATE DATABASE ")) {
            // The name as pg_dump wrote it: a quoted identifier ("a ""b""") or a plain one up to the space.
            std::size_t at = 16, end = at;
            if (at < st.size() && st[at] == '"') {
                for (end = at + 1; end < st.size(); ++end) {
                    if (st[end] == '"') {
                        if (end + 1 < st.size() && st[end + 1] == '"') {
                            ++end;
                            continue;
                        }
                        ++end;
                        break;
                    }
                }
            } else {
                while (end < st.size() && st[end] != ' ' && st[end] != ';') {
                    ++end;
                }
            }
            m_entries.source = st.substr(at, end - at);
            m_entries.create = std::move(st);
            return;
        }
        m_entries.statements.push_back(std::move(st));
    }

    DatabaseEntries m_entries;
    SqlSplitter m_sql;
    std::string m_line;
    bool m_wanted = false;
};

// st with its first "DATABASE <from>" (the object the statement is about: it comes before any literal in
// every statement pg_dump writes on a database) naming `to` instead.
std::string rename_database(std::string st, const std::string& from, const std::string& to)
{
    std::string needle = "DATABASE " + from;
    for (auto at = st.find(needle); at != std::string::npos; at = st.find(needle, at + 1)) {
        auto after = at + needle.size();
        if (after == st.size() || st[after] == ' ' || st[after] == ';') {
            st.replace(at + 9, from.size(), to);
            break;
        }
    }
    return st;
}

// A Source that first replays bytes already read from another source, then reads on from it.
class ReplaySource final : public stream::Source {
public:
    ReplaySource(std::vector<std::uint8_t> prefix, stream::Source& rest) : m_prefix(std::move(prefix)), m_rest(rest) {}
    Result<std::size_t> read(MutableBytes out) override
    {
        if (m_at < m_prefix.size()) {
            std::size_t n = std::min(out.size(), m_prefix.size() - m_at);
            std::copy_n(m_prefix.data() + m_at, n, out.data());
            m_at += n;
            return n;
        }
        return m_rest.read(out);
    }

private:
    std::vector<std::uint8_t> m_prefix;
    std::size_t m_at = 0;
    stream::Source& m_rest;
};

// The most of a dump read ahead while pg_restore reads its table of contents (held in memory until the
// restore proper replays it).
constexpr std::size_t k_max_toc = std::size_t{256} << 20;

// Reads the dump's database-level entries with pg_restore --create --schema-only, from `file` when it is not
// empty, else from in, keeping what was read of in in `prefix` (pg_restore stops after the table of contents,
// which a custom-format dump holds before any data).
Result<DatabaseEntries> read_database_entries(runner::Runner& runner, const Target& target, const std::string& tool,
                                              const RestoreOptions& options, const std::filesystem::path& file,
                                              stream::Source& in, std::vector<std::uint8_t>& prefix)
{
    runner::Command cmd;
    cmd.argv = {tool, "--create", "--schema-only", "--file=-"};
    if (options.no_owner) {
        cmd.argv.push_back("--no-owner");
    }
    if (options.no_acl) {
        cmd.argv.push_back("--no-acl");
    }
    if (!file.empty()) {
        cmd.argv.push_back(file.string());
    } else {
        cmd.with_stdin = true;
    }
    auto proc = runner.start(cmd);
    if (!proc) {
        return std::unexpected(proc.error());
    }
    EntryCollector collector;
    std::thread drain([&] {
        char buf[1 << 16];
        for (;;) {
            auto n = (*proc)->out().read(MutableBytes(reinterpret_cast<std::uint8_t*>(buf), sizeof buf));
            if (!n || *n == 0) {
                break;
            }
            collector.add(buf, *n);
        }
    });
    Status feed;
    if (file.empty()) {
        std::vector<std::uint8_t> buf(1 << 16);
        for (;;) {
            auto n = in.read(buf);
            if (!n) {
                feed = std::unexpected(n.error());
                break;
            }
            if (*n == 0) {
                (void)(*proc)->in()->finish();
                break;
            }
            prefix.insert(prefix.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
            if (auto st = (*proc)->in()->write(Bytes(buf.data(), *n)); !st) {
                break; // pg_restore has read the table of contents and gone
            }
            if (prefix.size() > k_max_toc) {
                feed = fail(ErrorKind::failed, "read the table of contents of the dump of", target.name,
                            "pg_restore read more than 256 MiB of it",
                            "restore with --jobs 2, which reads the table of contents from a temp file");
                break;
            }
        }
        if (!feed) {
            (*proc)->in()->abort();
            (*proc)->kill();
        }
    }
    auto status = (*proc)->wait();
    drain.join();
    if (!feed) {
        return std::unexpected(feed.error());
    }
    if (!status) {
        return std::unexpected(status.error());
    }
    if (!status->ok()) {
        std::string err = tool_message((*proc)->error_output());
        return fail(ErrorKind::failed, "read the table of contents of the dump of", target.name,
                    "pg_restore " + status->describe() + (err.empty() ? "" : ": " + err));
    }
    auto entries = collector.finish();
    observe::debug("read the source database's entries from the dump",
                   {{"statements", std::to_string(entries.statements.size() + (entries.create.empty() ? 0 : 1))},
                    {"read_ahead_bytes", std::to_string(prefix.size())}});
    return entries;
}

constexpr const char* k_user_objects_sql =
    "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname <> 'public' AND nspname <> 'information_schema' "
    "AND nspname NOT LIKE 'pg\\_%') + (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
    "c.relnamespace WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%') + (SELECT count(*) "
    "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname <> 'information_schema' AND "
    "n.nspname NOT LIKE 'pg\\_%') + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
    "WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%') + (SELECT count(*) FROM "
    "pg_extension WHERE extname <> 'plpgsql') + (SELECT count(*) FROM pg_largeobject_metadata)";

// The setting that marks a database as verify --restore's own scratch database.
constexpr const char* k_scratch_setting = "dbkeep.scratch";

// A string literal (standard_conforming_strings, on since PostgreSQL 9.1).
std::string literal(const std::string& s)
{
    std::string out = "'";
    for (char c : s) {
        out += c;
        if (c == '\'') {
            out += '\'';
        }
    }
    return out + "'";
}

std::string marked_sql(const std::string& db)
{
    return "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE "
           "s.setrole = 0 AND d.datname = " +
           literal(db) + " AND '" + k_scratch_setting + "=verify' = ANY (s.setconfig)";
}

Result<bool> query_count(Connection& conn, const std::string& sql)
{
    auto rows = conn.query(sql);
    if (!rows) {
        return std::unexpected(rows.error());
    }
    return !rows->empty() && !rows->front().empty() && rows->front().front() != "0";
}

std::string drop_sql(const std::string& db, int server_major)
{
    return "DROP DATABASE IF EXISTS " + pg::quote_ident(db) + (server_major >= 13 ? " WITH (FORCE)" : "");
}

// The table of contents of the dump in `file`, read with dbkeep's own reader (it precedes all data, so only the
// start of the file is read). Fails with ErrorKind::corruption when the file is no custom-format archive, and
// with ErrorKind::failed when it is one this dbkeep cannot read.
Result<std::vector<pgdump::TocEntry>> read_toc(const std::filesystem::path& file)
{
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return fail(ErrorKind::failed, "read temp file", file.string(), errno_message(errno));
    }
    pgdump::Reader reader;
    std::vector<std::uint8_t> buf(1 << 16);
    Status st;
    while (!reader.summary().toc_complete && reader.summary().supported) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            st = fail(ErrorKind::failed, "read temp file", file.string(), errno_message(errno));
            break;
        }
        if (n == 0) {
            st = reader.finish();
            break;
        }
        if (st = reader.feed(Bytes(buf.data(), static_cast<std::size_t>(n))); !st) {
            break;
        }
    }
    ::close(fd);
    if (!st) {
        return std::unexpected(st.error());
    }
    if (!reader.summary().supported || !reader.summary().toc_complete) {
        return fail(ErrorKind::failed, "read the table of contents of", "the dump",
                    "this dbkeep cannot read it (" + reader.summary().unsupported + ")",
                    "restore the whole backup, or write it with --output and use pg_restore -t/-n");
    }
    // Names as UTF-8, like the names given on the command line and those the destination's connection (client
    // encoding UTF8) reads: a LATIN1 dump's "café" is then the café a user types.
    auto toc = reader.summary().toc;
    const std::string& encoding = reader.summary().encoding;
    for (auto& e : toc) {
        e.name = archive_text(e.name, encoding);
        e.schema = archive_text(e.schema, encoding);
    }
    return toc;
}

bool is_relation(const std::string& desc)
{
    return desc == "TABLE" || desc == "VIEW" || desc == "MATERIALIZED VIEW" || desc == "FOREIGN TABLE" ||
           desc == "SEQUENCE";
}

bool table_matches(const pgdump::TocEntry& e, const std::string& name)
{
    return is_relation(e.desc) && (e.name == name || e.schema + "." + e.name == name);
}

bool schema_matches(const pgdump::TocEntry& e, const std::string& name)
{
    return (e.desc == "SCHEMA" && e.name == name) || (!e.schema.empty() && e.schema == name);
}

} // namespace

std::vector<std::string> missing_names(const std::vector<pgdump::TocEntry>& toc, const std::vector<std::string>& tables,
                                       const std::vector<std::string>& schemas)
{
    std::vector<std::string> out;
    for (const auto& t : tables) {
        if (std::none_of(toc.begin(), toc.end(), [&](const auto& e) { return table_matches(e, t); })) {
            out.push_back("table " + t);
        }
    }
    for (const auto& n : schemas) {
        if (std::none_of(toc.begin(), toc.end(), [&](const auto& e) { return schema_matches(e, n); })) {
            out.push_back("schema " + n);
        }
    }
    return out;
}

EntrySelection select_entries(const std::vector<pgdump::TocEntry>& toc, const std::vector<std::string>& tables,
                              const std::vector<std::string>& schemas, const std::set<std::string>& existing_schemas)
{
    // Parts of a table that come with it when any entry they depend on is selected, and those that come only
    // when every entry they depend on is (a foreign key to a table left out would fail).
    static const std::set<std::string> k_with_any = {
        "TABLE DATA", "INDEX",        "CONSTRAINT",     "CHECK CONSTRAINT",       "DEFAULT",
        "COMMENT",    "ACL",          "SECURITY LABEL", "SEQUENCE SET",           "SEQUENCE OWNED BY",
        "POLICY",     "ROW SECURITY", "STATISTICS",     "MATERIALIZED VIEW DATA", "SEQUENCE"};
    static const std::set<std::string> k_with_all = {"FK CONSTRAINT", "TRIGGER", "RULE", "INDEX ATTACH",
                                                     "TABLE ATTACH"};
    std::set<std::int64_t> selected, schema_ids;
    std::map<std::int64_t, const pgdump::TocEntry*> by_id;
    std::map<std::string, std::int64_t> schema_entry;
    for (const auto& e : toc) {
        by_id[e.dump_id] = &e;
        if (e.desc == "SCHEMA") {
            schema_ids.insert(e.dump_id);
            schema_entry[e.name] = e.dump_id;
        }
    }
    EntrySelection out;
    out.schemas.insert(schemas.begin(), schemas.end());
    for (const auto& e : toc) {
        const bool by_table =
            std::any_of(tables.begin(), tables.end(), [&](const auto& t) { return table_matches(e, t); });
        const bool by_schema =
            std::any_of(schemas.begin(), schemas.end(), [&](const auto& n) { return schema_matches(e, n); });
        if (by_table || by_schema) {
            selected.insert(e.dump_id);
        }
    }
    // The schema of every selected relation, created when the database lacks it.
    for (const auto& e : toc) {
        if (selected.contains(e.dump_id) && is_relation(e.desc) && !existing_schemas.contains(e.schema)) {
            if (auto it = schema_entry.find(e.schema); it != schema_entry.end()) {
                selected.insert(it->second);
            }
        }
    }
    for (bool grew = true; grew;) {
        grew = false;
        for (const auto& e : toc) {
            if (selected.contains(e.dump_id) || e.deps.empty()) {
                continue;
            }
            const bool any = std::any_of(e.deps.begin(), e.deps.end(), [&](auto d) { return selected.contains(d); });
            const bool all = std::all_of(e.deps.begin(), e.deps.end(), [&](auto d) {
                return selected.contains(d) || schema_ids.contains(d) || !by_id.contains(d);
            });
            // A sequence comes with a table only as its identity (it depends on the table itself).
            const bool part =
                e.desc == "SEQUENCE"
                    ? std::any_of(e.deps.begin(), e.deps.end(),
                                  [&](auto d) { return selected.contains(d) && by_id[d]->desc == "TABLE"; })
                : k_with_any.contains(e.desc) ? any
                                              : (k_with_all.contains(e.desc) && any && all);
            if (!part) {
                continue;
            }
            selected.insert(e.dump_id);
            grew = true;
            if (e.desc == "DEFAULT") { // a serial column's sequence comes with its default
                for (auto d : e.deps) {
                    if (by_id.contains(d) && by_id[d]->desc == "SEQUENCE" && !selected.contains(d)) {
                        selected.insert(d);
                    }
                }
            }
        }
    }
    for (const auto& e : toc) {
        if (selected.contains(e.dump_id)) {
            out.ids.push_back(e.dump_id);
            if (is_relation(e.desc)) {
                out.tables.emplace(e.schema, e.name);
            }
        }
    }
    return out;
}

namespace {

// The schemas of the database params names.
Result<std::set<std::string>> destination_schemas(runner::Runner& runner, const Target& target,
                                                  const ConnectParams& params)
{
    auto conn = open_session(runner, target, params);
    if (!conn) {
        return std::unexpected(conn.error());
    }
    auto rows = (*conn)->query("SELECT nspname FROM pg_namespace");
    if (!rows) {
        return std::unexpected(rows.error());
    }
    std::set<std::string> out;
    for (const auto& r : *rows) {
        if (!r.empty()) {
            out.insert(r.front());
        }
    }
    return out;
}

// What of a partial restore's named objects the database at params already has: "table s.t, schema s" (empty:
// none). A named table is looked for under each schema the dump holds it in; a named schema by its name.
Result<std::string> existing_objects(runner::Runner& runner, const Target& target, const ConnectParams& params,
                                     const std::vector<pgdump::TocEntry>& toc, const RestoreOptions& options)
{
    auto conn = open_session(runner, target, params);
    if (!conn) {
        return std::unexpected(conn.error());
    }
    auto rows =
        (*conn)->query("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
                       "c.relnamespace WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'");
    if (!rows) {
        return std::unexpected(rows.error());
    }
    std::set<std::pair<std::string, std::string>> relations;
    for (const auto& r : *rows) {
        if (r.size() == 2) {
            relations.emplace(r[0], r[1]);
        }
    }
    std::set<std::string> found;
    auto selection = select_entries(toc, options.tables, options.schemas, {});
    for (const auto& [schema, name] : selection.tables) {
        if (relations.contains({schema, name})) {
            found.insert("table " + schema + "." + name);
        }
    }
    if (!options.schemas.empty()) {
        auto schemas = (*conn)->query("SELECT nspname FROM pg_namespace");
        if (!schemas) {
            return std::unexpected(schemas.error());
        }
        for (const auto& r : *schemas) {
            if (!r.empty() && selection.schemas.contains(r.front())) {
                found.insert("schema " + r.front());
            }
        }
    }
    std::string out;
    for (const auto& f : found) {
        out += (out.empty() ? "" : ", ") + f;
    }
    return out;
}

} // namespace

// Each remedy is chosen by the phrase PostgreSQL uses for its cause, never by a word that other causes share
// too ("encoding" is also in every "invalid byte sequence" of a COPY; "permission denied" also names a
// schema or a table the role may not write, where CREATEDB does not help).
std::string restore_remedy(const std::string& message)
{
    const auto has = [&](const char* part) { return message.find(part) != std::string::npos; };
    if (has("role \"") && has("does not exist")) {
        return "create the missing roles first, or restore with --no-owner (and --no-acl)";
    }
    if (has("max_locks_per_transaction")) {
        return "a single-job restore is one transaction holding a lock per table: restore with --jobs 2, or raise "
               "max_locks_per_transaction";
    }
    if (has("locale") || has("collation") || has("incompatible with the encoding of the template database")) {
        return "give the server the source's locale (`locale -a` lists those it has), or create the database "
               "yourself (empty) and restore into it";
    }
    if (has("permission denied to create database")) {
        return "restore as a role with CREATEDB, or create the database yourself (empty) and restore into it";
    }
    return {};
}

Result<bool> holds_user_objects(Connection& conn)
{
    return query_count(conn, k_user_objects_sql);
}

bool reserved_database(std::string_view name)
{
    return name == "postgres" || name == "template0" || name == "template1";
}

Status restore_database(runner::Runner& runner, const Target& target, stream::Source& in, const RestoreOptions& options)
{
    auto to = url_params(target, options.to_url, options.password);
    if (!to) {
        return std::unexpected(to.error());
    }
    if (to->keywords["dbname"].empty()) {
        return fail(ErrorKind::config, "restore", target.name,
                    "--to must be a PostgreSQL URL with a database, e.g. postgres://user@host:5432/newdb");
    }
    auto params = *to;
    std::string what = params.what;
    // restore --table/--schema: part of the dump, chosen from its table of contents.
    const bool partial = !options.tables.empty() || !options.schemas.empty();
    const std::string db = params.keywords["dbname"];
    if (options.scratch && reserved_database(db)) {
        return fail(ErrorKind::config, "test-restore into", what,
                    "verify --restore makes its scratch database afresh and drops it afterwards, and " + db +
                        " is the server's own",
                    "name a database that nothing else uses, e.g. postgres://user@host:5432/dbkeep_scratch");
    }
    auto admin_params = params;
    admin_params.keywords["dbname"] = "postgres";

    // Does the destination exist, and may this restore write into it?
    bool exists = false, recreate = false, adopt = false;
    int server_major = 0;
    {
        auto conn = open_session(runner, target, params);
        if (!conn && conn.error().kind != ErrorKind::not_found) {
            return std::unexpected(conn.error());
        }
        if (conn) {
            exists = true;
            server_major = (*conn)->server_version_num() / 10000;
            auto marked = options.scratch ? query_count(**conn, marked_sql(db)) : Result<bool>(false);
            if (!marked) {
                return std::unexpected(marked.error());
            }
            auto busy = query_count(**conn, k_user_objects_sql);
            if (!busy) {
                return std::unexpected(busy.error());
            }
            if (*marked) {
                recreate = true;
            } else if (*busy && options.scratch) {
                return fail(ErrorKind::config, "test-restore into", what,
                            "the scratch database holds objects and was not made by dbkeep verify",
                            "drop it or name another --to: verify --restore makes its scratch database afresh each "
                            "time and drops it afterwards");
            } else if (*busy && !options.clean && !partial) {
                return fail(ErrorKind::config, "restore into", what,
                            "the database already holds objects, and restoring over them would fail half-way",
                            "restore into a new database (it is created like the source's), or add --clean to drop "
                            "the dump's objects first");
            } else {
                adopt = options.scratch;
            }
        } else {
            auto admin = open_session(runner, target, admin_params);
            if (!admin) {
                return std::unexpected(admin.error());
            }
            server_major = (*admin)->server_version_num() / 10000;
        }
    }
    bool create = !exists || recreate;

    auto tool = find_tool(runner, target, "pg_restore", target.postgres.pg_restore_path, server_major);
    if (!tool) {
        return std::unexpected(tool.error());
    }

    // A parallel dump's archive is restored in sections around its parts (pre-data and data, the parts, then
    // post-data): pg_restore reads it twice, so it goes to a temp file like a parallel restore's.
    const bool with_parts = !options.parts.empty();
    // A partial restore goes through the file too: pg_restore would stop reading a stream after the last entry
    // it wants, before the SHA-256 at the stream's end was checked.
    const bool to_file = options.jobs > 1 || with_parts || partial;
    PrivateTemp temp;
    std::vector<std::uint8_t> prefix;
    if (to_file) {
        // Parallel restore needs a seekable file: decompress to a private temp file first. The source checks
        // the SHA-256 at its end, so a corrupt backup fails here, before pg_restore starts.
        std::error_code ec;
        auto parent = options.temp_dir.empty() ? std::filesystem::temp_directory_path(ec) : options.temp_dir;
        if (parent.empty()) {
            parent = "/tmp";
        }
        if (auto st = temp.create(parent); !st) {
            return st;
        }
        observe::info("parallel restore: writing the dump to a private temp file first",
                      {{"file", temp.file().string()}, {"jobs", std::to_string(options.jobs)}});
        if (auto st = temp.write_all(in); !st) {
            return st;
        }
    }
    // Every name must be in the dump, and (into a database that exists) absent from the database, before
    // anything is written.
    std::vector<pgdump::TocEntry> toc;
    if (partial) {
        auto read = read_toc(temp.file());
        if (!read) {
            return std::unexpected(read.error());
        }
        toc = std::move(*read);
        auto missing = missing_names(toc, options.tables, options.schemas);
        if (!missing.empty()) {
            std::string list;
            for (const auto& m : missing) {
                list += (list.empty() ? "" : ", ") + m;
            }
            return fail(ErrorKind::config, "restore part of", target.name,
                        "not in the backup: " + list + " (nothing was restored)",
                        "name tables as schema.table or table and schemas as in the source; `pg_restore -l` on the "
                        "dump (restore --output FILE) lists what it holds");
        }
        if (exists && !recreate) {
            auto conflicts = existing_objects(runner, target, params, toc, options);
            if (!conflicts) {
                return std::unexpected(conflicts.error());
            }
            if (!conflicts->empty() && !options.clean) {
                return fail(ErrorKind::config, "restore into", what,
                            "the database already has " + *conflicts + ", and restoring over it would fail half-way",
                            "add --clean to drop and restore them, or restore into a new database");
            }
        }
    }
    DatabaseEntries entries;
    if (create) {
        auto read = read_database_entries(runner, target, tool->path, options, temp.file(), in, prefix);
        if (!read) {
            return std::unexpected(read.error());
        }
        entries = std::move(*read);
    }
    ReplaySource source(std::move(prefix), in);

    // From here on a database this restore made is dropped again when it fails.
    bool created = false;
    auto cleanup = [&](Error e) -> Status {
        if (created && !options.keep_failed) {
            auto admin = open_session(runner, target, admin_params);
            Status dropped =
                admin ? (*admin)->exec(drop_sql(db, server_major)) : Status(std::unexpected(admin.error()));
            if (dropped) {
                observe::info("dropped the database this failed restore created (--keep-failed keeps it)",
                              {{"database", db}});
                e.message += "; the database it created was dropped";
            } else {
                observe::warn("cannot drop the database this failed restore created",
                              {{"database", db}, {"error", dropped.error().to_string()}});
            }
        } else if (created) {
            e.message += "; the database it created was kept (--keep-failed)";
        }
        return std::unexpected(std::move(e));
    };

    if (create || adopt) {
        auto admin = open_session(runner, target, admin_params);
        if (!admin) {
            return std::unexpected(admin.error());
        }
        if (!options.role.empty()) {
            if (auto st = (*admin)->exec("SET ROLE " + pg::quote_ident(options.role)); !st) {
                return wrap(st.error(), "set role for restore");
            }
        }
        std::string target_name = pg::quote_ident(db);
        if (recreate) {
            observe::info("dropping the scratch database of the last test restore", {{"database", db}});
            if (auto st = (*admin)->exec(drop_sql(db, server_major)); !st) {
                return wrap(st.error(), "drop the scratch database " + db);
            }
        }
        if (create) {
            std::string sql = "CREATE DATABASE " + target_name;
            if (entries.create.empty()) {
                observe::warn("the dump has no DATABASE entry (made with --table or --schema?): the database is "
                              "created with the server's defaults",
                              {{"database", db}});
            } else {
                sql = rename_database(entries.create, entries.source, target_name);
            }
            observe::info("creating database like the source's", {{"database", db}, {"sql", sql}});
            if (auto st = (*admin)->exec(sql); !st) {
                std::string why = st.error().to_string();
                return fail(ErrorKind::failed, "create database", db,
                            "the server refused `" + sql + "` (the source database's encoding and locale): " + why,
                            restore_remedy(why));
            }
            created = true;
            for (const auto& st : entries.statements) {
                std::string renamed = rename_database(st, entries.source, target_name);
                if (auto r = (*admin)->exec(renamed); !r) {
                    return cleanup(Error{ErrorKind::failed, "restore", db,
                                         "the server refused the source database's setting `" + renamed +
                                             "`: " + r.error().to_string(),
                                         restore_remedy(r.error().to_string())});
                }
            }
        }
        if (options.scratch) {
            if (auto st = (*admin)->exec("ALTER DATABASE " + target_name + " SET " + k_scratch_setting + " = 'verify'");
                !st) {
                return cleanup(st.error());
            }
        }
    }

    runner::Command cmd;
    cmd.inherit = libpq_environment();
    cmd.argv = {tool->path, "--exit-on-error", "--no-password", "--dbname=" + pg::conninfo(params.keywords)};
    if (!params.password.empty()) {
        cmd.env["PGPASSWORD"] = params.password;
    }
    if (exists && options.clean && !recreate) {
        cmd.argv.push_back("--clean");
        cmd.argv.push_back("--if-exists");
    }
    if (options.no_owner) {
        cmd.argv.push_back("--no-owner");
    }
    if (options.no_acl) {
        cmd.argv.push_back("--no-acl");
    }
    if (!options.role.empty()) {
        cmd.argv.push_back("--role=" + options.role);
    }
    if (options.jobs > 1) {
        cmd.argv.push_back("--jobs=" + std::to_string(options.jobs));
    }
    RestoreOptions partial_options;
    if (partial) {
        auto present = destination_schemas(runner, target, params);
        if (!present) {
            return cleanup(present.error());
        }
        auto selection = select_entries(toc, options.tables, options.schemas, *present);
        std::string list = "; entries chosen by dbkeep restore --table/--schema\n";
        for (auto id : selection.ids) {
            list += std::to_string(id) + ";\n";
        }
        auto list_file = temp.add_file("entries.list", list);
        if (!list_file) {
            return cleanup(list_file.error());
        }
        cmd.argv.push_back("--use-list=" + list_file->string());
        if (!with_parts && options.jobs <= 1) {
            cmd.argv.push_back("--single-transaction"); // all of it or nothing, as a whole restore
        }
        // Only the chunks of the tables restored, each still checked against its own SHA-256.
        partial_options = options;
        partial_options.parts.clear();
        std::vector<std::size_t> index;
        for (std::size_t i = 0; i < options.parts.size(); ++i) {
            auto c = chunk_from_details(options.parts[i]);
            if (!c || selection.tables.contains({c->schema, c->table})) {
                partial_options.parts.push_back(options.parts[i]); // a malformed part fails in load_parts
                index.push_back(i);
            }
        }
        partial_options.open_part = [&options, index](std::size_t i) { return options.open_part(index.at(i)); };
        observe::info("restoring part of the dump", {{"entries", std::to_string(selection.ids.size())},
                                                     {"tables", std::to_string(selection.tables.size())},
                                                     {"parts", std::to_string(partial_options.parts.size())}});
    }
    const RestoreOptions& load_options = partial ? partial_options : options;
    if (to_file) {
        cmd.argv.push_back(temp.file().string());
    } else {
        // One transaction: an input found corrupt at its end (the SHA-256 is checked there) commits nothing.
        cmd.argv.push_back("--single-transaction");
        cmd.with_stdin = true;
    }
    Status result;
    if (with_parts) {
        // Tables and data first, then the big tables' chunks on `jobs` connections, then indexes, constraints
        // and triggers (post-data) once the rows are in: what pg_restore does for one archive, around the parts.
        auto before = cmd;
        before.argv.insert(before.argv.end() - 1, {"--section=pre-data", "--section=data"});
        auto after = cmd;
        after.argv.insert(after.argv.end() - 1, "--section=post-data");
        std::erase_if(after.argv, [](const std::string& a) { return a == "--clean" || a == "--if-exists"; });
        result = run_restore(runner, target, before, nullptr);
        if (result) {
            observe::info("loading the parallel dump's parts", {{"parts", std::to_string(load_options.parts.size())},
                                                                {"jobs", std::to_string(std::max(options.jobs, 1))}});
            result = load_parts(params, load_options);
        }
        if (result) {
            result = run_restore(runner, target, after, nullptr);
        }
    } else {
        result = run_restore(runner, target, cmd, to_file ? nullptr : &source);
    }
    temp.remove();
    if (!result) {
        auto e = result.error();
        if (e.hint.empty()) {
            e.hint = restore_remedy(e.message);
        }
        return cleanup(std::move(e));
    }
    return {};
}

Status drop_scratch_database(runner::Runner& runner, const Target& target, const std::string& to_url,
                             const std::string& password)
{
    auto to = url_params(target, to_url, password);
    if (!to || to->keywords["dbname"].empty()) {
        return fail(ErrorKind::config, "drop the scratch database", redact_url(to_url),
                    "not a PostgreSQL URL with a database");
    }
    auto params = *to;
    const std::string scratch = params.keywords["dbname"];
    params.keywords["dbname"] = "postgres";
    auto admin = open_session(runner, target, params);
    if (!admin) {
        return std::unexpected(admin.error());
    }
    auto marked = query_count(**admin, marked_sql(scratch));
    if (!marked) {
        return std::unexpected(marked.error());
    }
    if (!*marked) {
        return {};
    }
    if (auto st = (*admin)->exec(drop_sql(scratch, (*admin)->server_version_num() / 10000)); !st) {
        return wrap(st.error(), "drop the scratch database " + scratch);
    }
    observe::info("dropped the scratch database (--keep keeps it)", {{"database", scratch}});
    return {};
}

} // namespace dbkeep::engine::pg
