// libsqlite3 seen from dbkeep: a connection closed on destruction, the facts of a database copy (integrity,
// pages, row counts), the online backup of a live file into a copy, and private staging folders.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

struct sqlite3;

namespace dbkeep::engine::sqlite {

// One connection; closed on destruction. Not thread-safe. Its statements stop with ErrorKind::cancelled
// soon after cancel::requested() turns true.
class Database {
public:
    Database() = default;
    ~Database();
    Database(Database&& other) noexcept;
    Database& operator=(Database&& other) noexcept;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    // Opens an existing file read-only (`file:PATH?mode=ro`, never creating it). immutable adds
    // `immutable=1`: no locks and no -wal/-shm files, for a private copy nobody else writes. Fails with
    // not_found when the file is missing and corruption when it is not a SQLite database.
    static Result<Database> open_read_only(const std::string& path, bool immutable);
    // Opens (creating when missing) a private file for writing.
    static Result<Database> open_read_write(const std::string& path);

    sqlite3* handle() const noexcept { return m_db; }
    const std::string& path() const noexcept { return m_path; }

    // Runs statements, discarding rows. op names the operation for the error.
    Status exec(const std::string& sql, const std::string& op);
    // Runs one statement and returns every row's columns as text (NULL as "").
    Result<std::vector<std::vector<std::string>>> rows(const std::string& sql, const std::string& op);

private:
    Database(sqlite3* db, std::string path) noexcept : m_db(db), m_path(std::move(path)) {}
    static Result<Database> open_with(const std::string& path, const std::string& uri, int flags);

    sqlite3* m_db = nullptr;
    std::string m_path;
};

// What a copy of a database holds, read from the copy itself.
struct CopyFacts {
    std::int64_t page_size = 0;
    std::int64_t page_count = 0;
    std::string journal_mode;                 // "wal" or "delete" (rollback), from the file header
    std::string integrity;                    // "ok", or PRAGMA integrity_check's first lines joined by "; "
    std::map<std::string, std::int64_t> rows; // "main.<table>" -> rows (ordinary tables; no sqlite_* ones)
};

// Opens a private copy (immutable) and reads its facts: PRAGMA integrity_check (up to 10 problems) and a
// row count of every ordinary table (quoted identifiers: any name works). A copy too damaged to read its
// schema reports that as its integrity. Fails only when the file cannot be opened or counted.
Result<CopyFacts> inspect_copy(const std::string& path);

// Row counts of every ordinary table of the database at path, read-only (verify --restore).
Result<std::map<std::string, std::int64_t>> count_rows(Database& db);

// Copies the live database at source into the private file dest with the online backup API, all inside
// one read transaction on the source (the copy is the database as of that transaction's start). Writers
// are not blocked in WAL mode; in rollback mode they wait for the copy, which runs at disk speed. Polls
// cancel::requested() between batches of pages. Returns the source's journal mode ("wal", "delete", ...).
Result<std::string> online_backup(const std::string& source, const std::string& dest);

// A private folder (mkdtemp, mode 0700) in parent ($TMPDIR, else /tmp, when empty), removed with all it holds
// on destruction: every path, failure and cancel included.
class StagingDir {
public:
    StagingDir() = default;
    ~StagingDir();
    StagingDir(const StagingDir&) = delete;
    StagingDir& operator=(const StagingDir&) = delete;

    Status create(const std::filesystem::path& parent, const std::string& what);
    // A new empty file of mode 0600 in the folder (O_EXCL | O_NOFOLLOW); its path.
    Result<std::string> new_file(const std::string& name);
    const std::filesystem::path& path() const noexcept { return m_dir; }

private:
    std::filesystem::path m_dir;
};

// The facts of a file on disk, first 100 bytes of its header: whether it is a SQLite database.
// Fails with not_found when it is missing, failed when unreadable, corruption when it is not SQLite.
Status check_sqlite_file(const std::string& path, const std::string& op);

} // namespace dbkeep::engine::sqlite
