#include "core/cancel.hpp"
#include "engine/sqlite/database.hpp"
#include "engine/sqlite/ops.hpp"
#include "observe/log.hpp"
#include "runner/runner.hpp"

#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace dbkeep::engine::sqlite {
namespace {

constexpr std::size_t k_chunk = 1 << 20;

Result<std::string> destination(const std::string& to, const std::string& op)
{
    auto path = sqlite_destination_path(to);
    if (!path) {
        return fail(ErrorKind::config, op, to, "not a path", "give --to a file path or a file: URL of the database");
    }
    std::error_code ec;
    auto absolute = std::filesystem::absolute(*path, ec);
    if (ec) {
        return fail(ErrorKind::failed, op, *path, ec.message());
    }
    return absolute.lexically_normal().string();
}

bool exists(const std::string& path)
{
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// A process (other than this one) holding the file open, found through /proc: "pid 123 (app)"; empty when none
// is visible (processes of other users are only visible to root).
std::string open_by(const struct stat& file)
{
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) {
        return {};
    }
    const std::string self = std::to_string(::getpid());
    std::string found;
    while (const dirent* e = ::readdir(proc)) {
        const std::string pid = e->d_name;
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid == self) {
            continue;
        }
        const std::string fds = "/proc/" + pid + "/fd";
        DIR* d = ::opendir(fds.c_str());
        if (d == nullptr) {
            continue;
        }
        while (const dirent* f = ::readdir(d)) {
            struct stat st {};
            if (f->d_name[0] != '.' && ::stat((fds + "/" + f->d_name).c_str(), &st) == 0 && st.st_dev == file.st_dev &&
                st.st_ino == file.st_ino) {
                found = "pid " + pid;
                break;
            }
        }
        ::closedir(d);
        if (!found.empty()) {
            break;
        }
    }
    ::closedir(proc);
    return found;
}

// Why the database at path looks in use, or empty: a -wal, -shm or -journal file beside it (an application has
// it open, or crashed mid-transaction), a SQLite lock held on it, or a process holding it open.
std::string in_use(const std::string& path)
{
    for (const char* suffix : {"-wal", "-shm", "-journal"}) {
        if (exists(path + suffix)) {
            return std::string("'") + path + suffix + "' exists beside it";
        }
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return {};
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        // SQLite's lock bytes (PENDING, RESERVED, SHARED) start at 1 GiB; F_GETLK reports another process's lock
        // there without taking one.
        struct flock lock {};
        lock.l_type = F_WRLCK;
        lock.l_whence = SEEK_SET;
        lock.l_start = 0x40000000;
        lock.l_len = 512;
        const bool locked = ::fcntl(fd, F_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
        ::close(fd);
        if (locked) {
            return "pid " + std::to_string(lock.l_pid) + " holds a lock on it";
        }
    }
    if (auto who = open_by(st); !who.empty()) {
        return who + " has it open";
    }
    return {};
}

// The temp file of a restore in the destination's folder, removed (with any -wal/-shm SQLite made beside it)
// unless released by the rename.
class TempFile {
public:
    ~TempFile()
    {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
        if (!m_path.empty()) {
            for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
                ::unlink((m_path + suffix).c_str());
            }
        }
    }
    TempFile() = default;
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    Status create(const std::filesystem::path& dest)
    {
        std::string pattern =
            (dest.parent_path() / ("." + dest.filename().string() + ".dbkeep-restore-XXXXXX")).string();
        m_fd = ::mkostemp(pattern.data(), O_CLOEXEC);
        if (m_fd < 0) {
            return fail(ErrorKind::failed, "create temp file beside", dest.string(), errno_message(errno),
                        "the destination's folder must exist and be writable by dbkeep's user");
        }
        m_path = pattern;
        return {};
    }
    int fd() const noexcept { return m_fd; }
    const std::string& path() const noexcept { return m_path; }
    Status close()
    {
        const int fd = std::exchange(m_fd, -1);
        if (::close(fd) != 0) {
            return fail(ErrorKind::failed, "write", m_path, errno_message(errno));
        }
        return {};
    }
    void release() { m_path.clear(); }

private:
    int m_fd = -1;
    std::string m_path;
};

Status copy_into(stream::Source& in, TempFile& temp)
{
    std::vector<std::uint8_t> buf(k_chunk);
    for (;;) {
        if (cancel::requested()) {
            return fail_cancelled("restore sqlite database", temp.path());
        }
        auto n = in.read(buf);
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            return {};
        }
        for (std::size_t done = 0; done < *n;) {
            const ssize_t w = ::write(temp.fd(), buf.data() + done, *n - done);
            if (w < 0 && errno == EINTR) {
                if (cancel::requested()) {
                    return fail_cancelled("restore sqlite database", temp.path());
                }
                continue;
            }
            if (w < 0) {
                return fail(ErrorKind::failed, "write", temp.path(), errno_message(errno),
                            "free space in the destination's folder");
            }
            done += static_cast<std::size_t>(w);
        }
    }
}

std::string compare_counts(const std::map<std::string, std::int64_t>& expected,
                           const std::map<std::string, std::int64_t>& got)
{
    std::string diff;
    for (const auto& [name, n] : expected) {
        auto it = got.find(name);
        if (it == got.end() || it->second != n) {
            diff += (diff.empty() ? "" : ", ") + name + " " + std::to_string(n) + " in the manifest, " +
                    (it == got.end() ? std::string("missing") : std::to_string(it->second)) + " restored";
        }
    }
    return diff;
}

// Restores through the runner: the dump fed to sqlite_runner_restore_script's stdin.
Status restore_remote(runner::Runner& runner, const Target& target, stream::Source& in, const RestoreOptions& options)
{
    const std::string op = "restore sqlite database through " + runner.describe();
    auto dest = sqlite_destination_path(options.to_url);
    if (!dest || !dest->starts_with('/')) {
        return fail(ErrorKind::config, op, options.to_url, "not an absolute path",
                    "give --to the absolute path of the database where the runner runs (or a file:/// URL)");
    }
    auto proc = runner.start(runner::Command{
        .argv = {"sh", "-c", sqlite_runner_restore_script(), "dbkeep-sqlite-restore", *dest, options.force ? "1" : "0"},
        .with_stdin = true,
    });
    if (!proc) {
        return std::unexpected(proc.error());
    }
    Status feed;
    std::vector<std::uint8_t> buf(k_chunk);
    for (;;) {
        if (cancel::requested()) {
            feed = fail_cancelled(op, *dest);
            break;
        }
        auto n = in.read(buf);
        if (!n) {
            feed = std::unexpected(n.error());
            break;
        }
        if (*n == 0) {
            feed = (*proc)->in()->finish();
            break;
        }
        if (auto st = (*proc)->in()->write(Bytes(buf.data(), *n)); !st) {
            break; // the script stopped reading (a refusal): its exit status says why
        }
    }
    if (!feed) {
        (*proc)->in()->abort();
        (*proc)->kill();
    }
    auto status = (*proc)->wait();
    if (!feed) {
        return feed;
    }
    if (!status) {
        return std::unexpected(status.error());
    }
    if (status->ok()) {
        observe::info("sqlite database restored",
                      {{"target", target.name}, {"path", *dest}, {"runner", runner.describe()}});
        return {};
    }
    std::string err = (*proc)->error_output();
    while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) {
        err.pop_back();
    }
    if (err.starts_with("dbkeep: ")) {
        err.erase(0, 8);
    }
    switch (status->code) {
    case 6:
        return fail(ErrorKind::conflict, op, *dest, err,
                    "stop the application using it (and let it remove its -wal/-journal files) first, or restore to "
                    "another path; --force does not override this");
    case 7:
        return fail(ErrorKind::conflict, op, *dest, err,
                    "add --force to replace it (atomically, by a rename), or restore to another path");
    case 9: return fail(ErrorKind::corruption, op, *dest, err, "the destination was not touched");
    case 10: return fail(ErrorKind::conflict, op, *dest, err, "restore to a path that does not exist");
    case 127:
        return fail(ErrorKind::failed, op, *dest, err,
                    "install sqlite3 where the runner runs (Debian/Ubuntu: apt-get install sqlite3; Alpine: apk add "
                    "sqlite)");
    default:
        return fail(ErrorKind::failed, op, *dest,
                    "the restore " + status->describe() + (err.empty() ? "" : ": " + err));
    }
}

} // namespace

Status restore_database(runner::Runner& runner, const Target& target, stream::Source& in, const RestoreOptions& options)
{
    const std::string op = "restore sqlite database";
    // verify --restore's scratch copy is a test read by dbkeep itself: it is made here whatever the runner.
    if (!runner.local() && !options.scratch) {
        return restore_remote(runner, target, in, options);
    }
    auto dest = destination(options.to_url, op);
    if (!dest) {
        return std::unexpected(dest.error());
    }
    const std::string marker = scratch_marker(*dest);
    auto refuse_existing = [&]() -> Status {
        if (!exists(*dest)) {
            return {};
        }
        struct stat st {};
        if (::lstat(dest->c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
            return fail(ErrorKind::conflict, op, *dest, "exists and is not a regular file",
                        "restore to a path that does not exist");
        }
        if (auto why = in_use(*dest); !why.empty()) {
            return fail(ErrorKind::conflict, op, *dest, "the database is in use: " + why,
                        "stop the application using it (and let it remove its -wal/-journal files) first, or "
                        "restore to another path; --force does not override this");
        }
        if (options.scratch && exists(marker)) {
            return {};
        }
        if (options.scratch) {
            return fail(ErrorKind::conflict, op, *dest, "exists and is not a scratch copy made by dbkeep",
                        "give verify --to a path that does not exist");
        }
        if (!options.force) {
            return fail(ErrorKind::conflict, op, *dest, "the file exists",
                        "add --force to replace it (atomically, by a rename), or restore to another path");
        }
        return {};
    };
    if (auto st = refuse_existing(); !st) {
        return st;
    }
    TempFile temp;
    if (auto st = temp.create(*dest); !st) {
        return st;
    }
    if (auto st = copy_into(in, temp); !st) {
        return st;
    }
    if (::fsync(temp.fd()) != 0) {
        return fail(ErrorKind::failed, "sync", temp.path(), errno_message(errno));
    }
    if (auto st = temp.close(); !st) {
        return st;
    }
    auto facts = inspect_copy(temp.path());
    if (!facts) {
        return std::unexpected(facts.error());
    }
    if (facts->integrity != "ok") {
        return fail(ErrorKind::corruption, op, *dest,
                    "PRAGMA integrity_check of the restored copy failed: " + facts->integrity,
                    "the destination was not touched; restore an earlier backup");
    }
    if (auto diff = compare_counts(options.expected_stats, facts->rows); !diff.empty()) {
        return fail(ErrorKind::corruption, op, *dest, "row counts differ from the manifest: " + diff,
                    "the destination was not touched; restore an earlier backup");
    }
    // Again just before the rename: an application may have opened the old file meanwhile.
    if (auto st = refuse_existing(); !st) {
        return st;
    }
    struct stat old {};
    if (::stat(dest->c_str(), &old) == 0) {
        ::chmod(temp.path().c_str(), old.st_mode & 07777); // a replaced file keeps its permissions
    }
    if (::rename(temp.path().c_str(), dest->c_str()) != 0) {
        return fail(ErrorKind::failed, "rename into", *dest, errno_message(errno));
    }
    temp.release();
    const std::string folder = std::filesystem::path(*dest).parent_path().string();
    if (const int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    if (options.scratch) {
        const int m = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (m >= 0) {
            ::close(m);
        }
    }
    observe::info("sqlite database restored", {{"target", target.name},
                                               {"path", *dest},
                                               {"tables", std::to_string(facts->rows.size())},
                                               {"pages", std::to_string(facts->page_count)}});
    return {};
}

Status drop_scratch_file(const std::string& to_url)
{
    auto dest = destination(to_url, "remove scratch database");
    if (!dest) {
        return std::unexpected(dest.error());
    }
    const std::string marker = scratch_marker(*dest);
    if (!exists(marker)) {
        return {};
    }
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        if (::unlink((*dest + suffix).c_str()) != 0 && errno != ENOENT) {
            return fail(ErrorKind::failed, "remove scratch database", *dest + suffix, errno_message(errno));
        }
    }
    ::unlink(marker.c_str());
    return {};
}

Result<std::map<std::string, std::int64_t>> database_stats(const std::string& to_url)
{
    auto dest = destination(to_url, "count rows of");
    if (!dest) {
        return std::unexpected(dest.error());
    }
    auto db = Database::open_read_only(*dest, true);
    if (!db) {
        return std::unexpected(db.error());
    }
    return count_rows(*db);
}

} // namespace dbkeep::engine::sqlite
