#include "engine/sqlite/database.hpp"

#include "core/cancel.hpp"
#include "core/percent.hpp"
#include "engine/sqlite/sqlite.hpp"

#include <array>
#include <cerrno>
#include <fcntl.h>
#include <sqlite3.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace dbkeep::engine::sqlite {
namespace {

// Pages copied per sqlite3_backup_step: 4 MiB at the default 4 KiB page, so cancel is seen within
// milliseconds while the per-step overhead stays negligible.
constexpr int k_pages_per_step = 1024;
// How long the source's read transaction waits for a writer's lock (rollback mode: a commit in progress).
constexpr int k_busy_timeout_ms = 30'000;

// A path as a file: URI: '?', '#' and '%' in a file name stay part of the name.
std::string file_uri(const std::string& path, const char* query)
{
    return "file:" + percent_encode(path, true) + "?" + query;
}

std::string message_of(sqlite3* db, int rc)
{
    const char* m = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return m != nullptr ? m : "unknown sqlite error";
}

ErrorKind kind_of(int rc) noexcept
{
    switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return ErrorKind::corruption;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return ErrorKind::transient;
    case SQLITE_PERM:
    case SQLITE_AUTH: return ErrorKind::auth;
    case SQLITE_INTERRUPT: return ErrorKind::cancelled;
    default: return ErrorKind::failed;
    }
}

// The error of a failed call on db: a hot journal left by a crashed writer gets its own message, since a
// read-only connection (all dbkeep opens on a source) cannot roll it back.
std::unexpected<Error> fail_with(sqlite3* db, int rc, const std::string& op, const std::string& path)
{
    if (rc == SQLITE_READONLY_ROLLBACK || (db != nullptr && sqlite3_extended_errcode(db) == SQLITE_READONLY_ROLLBACK)) {
        return fail(ErrorKind::conflict, op, path,
                    "a writer that crashed mid-transaction left a hot journal ('" + path +
                        "-journal') that must be rolled back before the database can be read, and dbkeep opens it "
                        "read-only",
                    "open the database once as its owner to roll the journal back (start the application, or run "
                    "sqlite3 '" +
                        path + "' 'PRAGMA quick_check'), then back up again");
    }
    if ((rc & 0xff) == SQLITE_INTERRUPT) {
        return fail_cancelled(op, path);
    }
    return fail(kind_of(rc), op, path, message_of(db, rc));
}

// A prepared statement, finalized on destruction.
class Statement {
public:
    explicit Statement(sqlite3_stmt* s) noexcept : m_stmt(s) {}
    ~Statement() { sqlite3_finalize(m_stmt); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    sqlite3_stmt* get() const noexcept { return m_stmt; }

private:
    sqlite3_stmt* m_stmt;
};

} // namespace

Result<Database> Database::open_with(const std::string& path, const std::string& uri, int flags)
{
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(uri.c_str(), &db, flags | SQLITE_OPEN_URI, nullptr);
    if (rc != SQLITE_OK) {
        std::string m = message_of(db, rc);
        sqlite3_close(db);
        return fail(rc == SQLITE_CANTOPEN ? ErrorKind::not_found : kind_of(rc), "open sqlite database", path, m);
    }
    sqlite3_extended_result_codes(db, 1);
    // A long statement (integrity_check, a count of a big table) stops soon after SIGTERM: SQLITE_INTERRUPT.
    sqlite3_progress_handler(
        db, 10000, [](void*) noexcept -> int { return cancel::requested() ? 1 : 0; }, nullptr);
    return Database(db, path);
}

Database::~Database()
{
    sqlite3_close_v2(m_db);
}

Database::Database(Database&& other) noexcept
    : m_db(std::exchange(other.m_db, nullptr)), m_path(std::move(other.m_path))
{
}

Database& Database::operator=(Database&& other) noexcept
{
    if (this != &other) {
        sqlite3_close_v2(m_db);
        m_db = std::exchange(other.m_db, nullptr);
        m_path = std::move(other.m_path);
    }
    return *this;
}

Result<Database> Database::open_read_only(const std::string& path, bool immutable)
{
    if (auto st = check_sqlite_file(path, "open sqlite database"); !st) {
        return std::unexpected(st.error());
    }
    return open_with(path, file_uri(path, immutable ? "mode=ro&immutable=1" : "mode=ro"), SQLITE_OPEN_READONLY);
}

Result<Database> Database::open_read_write(const std::string& path)
{
    return open_with(path, file_uri(path, "mode=rwc"), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
}

Status Database::exec(const std::string& sql, const std::string& op)
{
    char* err = nullptr;
    const int rc = sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string m = err != nullptr ? err : message_of(m_db, rc);
        sqlite3_free(err);
        if (sqlite3_extended_errcode(m_db) == SQLITE_READONLY_ROLLBACK) {
            return fail_with(m_db, rc, op, m_path);
        }
        return fail(kind_of(rc), op, m_path, m);
    }
    return {};
}

Result<std::vector<std::vector<std::string>>> Database::rows(const std::string& sql, const std::string& op)
{
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(m_db, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
    const Statement stmt(raw);
    if (rc != SQLITE_OK) {
        return fail_with(m_db, rc, op, m_path);
    }
    std::vector<std::vector<std::string>> out;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
        if (cancel::requested()) {
            return fail_cancelled(op, m_path);
        }
        std::vector<std::string> row;
        const int n = sqlite3_column_count(raw);
        for (int i = 0; i < n; ++i) {
            const auto* text = sqlite3_column_text(raw, i);
            row.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "",
                             static_cast<std::size_t>(sqlite3_column_bytes(raw, i)));
        }
        out.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) {
        return fail_with(m_db, rc, op, m_path);
    }
    return out;
}

Status check_sqlite_file(const std::string& path, const std::string& op)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT) {
            return fail(ErrorKind::not_found, op, path, "no such file",
                        "check the target's path (it is never created by dbkeep)");
        }
        const bool refused = err == EACCES || err == EPERM;
        return fail(refused ? ErrorKind::auth : ErrorKind::failed, op, path, errno_message(err),
                    refused ? "make the database file readable by dbkeep's user" : std::string());
    }
    std::array<char, 100> header{};
    std::size_t got = 0;
    while (got < header.size()) {
        const ssize_t n = ::read(fd, header.data() + got, header.size() - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (got == 0) {
        return fail(ErrorKind::corruption, op, path, "the file is empty, not a SQLite database",
                    "check the target's path");
    }
    if (!is_sqlite_header(std::string_view(header.data(), got))) {
        return fail(ErrorKind::corruption, op, path, "not a SQLite database (no 'SQLite format 3' header)",
                    "check the target's path: it must name the database file itself");
    }
    return {};
}

Result<std::map<std::string, std::int64_t>> count_rows(Database& db)
{
    const std::string op = "count rows of";
    auto tables = db.rows("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
                          "ESCAPE '\\' AND sql NOT LIKE 'CREATE VIRTUAL %' ORDER BY name",
                          op);
    if (!tables) {
        return std::unexpected(tables.error());
    }
    std::map<std::string, std::int64_t> out;
    for (const auto& row : *tables) {
        const std::string& name = row.at(0);
        auto n = db.rows("SELECT count(*) FROM main." + sqlite_quote_identifier(name), op);
        if (!n) {
            return std::unexpected(n.error());
        }
        out["main." + name] = std::stoll(n->at(0).at(0));
    }
    return out;
}

Result<CopyFacts> inspect_copy(const std::string& path)
{
    auto db = Database::open_read_only(path, true);
    if (!db) {
        return std::unexpected(db.error());
    }
    CopyFacts facts;
    const std::string op = "inspect copy";
    auto integrity = db->rows("PRAGMA integrity_check(10)", op);
    if (!integrity) {
        if (integrity.error().kind != ErrorKind::corruption) {
            return std::unexpected(integrity.error());
        }
        facts.integrity = integrity.error().message;
        return facts;
    }
    for (const auto& row : *integrity) {
        facts.integrity += (facts.integrity.empty() ? "" : "; ") + row.at(0);
    }
    if (facts.integrity != "ok") {
        return facts;
    }
    for (auto [pragma, field] :
         {std::pair{"page_size", &facts.page_size}, std::pair{"page_count", &facts.page_count}}) {
        auto v = db->rows(std::string("PRAGMA ") + pragma, op);
        if (!v) {
            return std::unexpected(v.error());
        }
        *field = std::stoll(v->at(0).at(0));
    }
    // Header bytes 18 and 19 (write and read format versions) are 2 in WAL mode, 1 in rollback mode.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        std::array<unsigned char, 20> h{};
        if (::pread(fd, h.data(), h.size(), 0) == static_cast<ssize_t>(h.size())) {
            facts.journal_mode = h[18] == 2 ? "wal" : "delete";
        }
        ::close(fd);
    }
    auto rows = count_rows(*db);
    if (!rows) {
        return std::unexpected(rows.error());
    }
    facts.rows = std::move(*rows);
    return facts;
}

Result<std::string> online_backup(const std::string& source, const std::string& dest)
{
    const std::string op = "copy sqlite database";
    auto src = Database::open_read_only(source, false);
    if (!src) {
        return std::unexpected(src.error());
    }
    sqlite3_busy_timeout(src->handle(), k_busy_timeout_ms);
    // The first read waits for the lock (PRAGMA journal_mode reads the header): a writer holding it past the
    // timeout fails either read.
    auto locked_out = [&](const Error& e) {
        return fail(ErrorKind::transient, op, source,
                    "no read lock within " + std::to_string(k_busy_timeout_ms / 1000) +
                        " s: writers held the database all that time (" + e.message + ")",
                    "switch the database to WAL mode (PRAGMA journal_mode=WAL), where readers never wait for "
                    "writers, or back up at a quieter time");
    };
    auto mode = src->rows("PRAGMA journal_mode", op);
    if (!mode) {
        if (mode.error().kind == ErrorKind::transient) {
            return locked_out(mode.error());
        }
        return std::unexpected(mode.error());
    }
    const std::string journal_mode = mode->empty() ? std::string() : mode->front().at(0);
    // One read transaction for the whole copy: sqlite3_backup_step reuses a transaction the source already
    // holds, so the copy is the snapshot at its start. Without it each step would take a fresh one and restart
    // from page 1 whenever a writer commits, which a busy application does forever.
    if (auto st = src->exec("BEGIN; SELECT count(*) FROM main.sqlite_master", op); !st) {
        if (st.error().kind == ErrorKind::transient) {
            return locked_out(st.error());
        }
        return std::unexpected(st.error());
    }
    auto dst = Database::open_read_write(dest);
    if (!dst) {
        return std::unexpected(dst.error());
    }
    // The staging copy is private and rebuilt on failure: no journal, no syncs.
    if (auto st = dst->exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF", op); !st) {
        return std::unexpected(st.error());
    }
    sqlite3_backup* backup = sqlite3_backup_init(dst->handle(), "main", src->handle(), "main");
    if (backup == nullptr) {
        return fail(ErrorKind::failed, op, source, message_of(dst->handle(), sqlite3_errcode(dst->handle())));
    }
    int rc = SQLITE_OK;
    bool cancelled = false;
    while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        if (cancel::requested()) {
            cancelled = true;
            break;
        }
        rc = sqlite3_backup_step(backup, k_pages_per_step);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
            // Only the private destination could be locked; never expected, so fail rather than spin.
            break;
        }
    }
    const int finished = sqlite3_backup_finish(backup);
    (void)src->exec("COMMIT", op);
    if (cancelled) {
        return fail_cancelled(op, source);
    }
    if (rc != SQLITE_DONE) {
        return fail(kind_of(rc), op, source, message_of(dst->handle(), rc));
    }
    if (finished != SQLITE_OK) {
        return fail(kind_of(finished), op, source, message_of(dst->handle(), finished));
    }
    return journal_mode;
}

StagingDir::~StagingDir()
{
    if (!m_dir.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
    }
}

Status StagingDir::create(const std::filesystem::path& parent_in, const std::string& what)
{
    std::filesystem::path parent = parent_in;
    if (parent.empty()) {
        std::error_code ec;
        parent = std::filesystem::temp_directory_path(ec);
        if (ec) {
            parent = "/tmp";
        }
    }
    std::string pattern = (parent / ("dbkeep-sqlite-" + what + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        return fail(ErrorKind::failed, "create a private staging folder in", parent.string(), errno_message(errno),
                    "set the target's temp_dir (or TMPDIR) to a writable folder with room for the database");
    }
    m_dir = pattern;
    return {};
}

Result<std::string> StagingDir::new_file(const std::string& name)
{
    const std::string path = (m_dir / name).string();
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return fail(ErrorKind::failed, "create staging file", path, errno_message(errno));
    }
    ::close(fd);
    return path;
}

} // namespace dbkeep::engine::sqlite
