#include "core/human.hpp"
#include "engine/sqlite/database.hpp"
#include "engine/sqlite/ops.hpp"
#include "runner/runner.hpp"

#include <sqlite3.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/statvfs.h>

namespace dbkeep::engine::sqlite {
namespace {

// The staging copy needs room for the whole database in the temp folder.
Finding probe_staging(const Target& target, std::uint64_t size)
{
    std::filesystem::path dir = target.options.temp_dir;
    if (dir.empty()) {
        std::error_code ec;
        dir = std::filesystem::temp_directory_path(ec);
        if (ec) {
            dir = "/tmp";
        }
    }
    struct statvfs vfs {};
    if (::statvfs(dir.c_str(), &vfs) != 0) {
        return failed("sqlite.staging", "cannot read the free space of the staging folder " + dir.string(),
                      "set the target's temp_dir (or TMPDIR) to a writable folder");
    }
    const std::uint64_t free = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    const std::string what =
        "staging folder " + dir.string() + " has " + human_size(free) + " free for a " + human_size(size) + " copy";
    if (free < size) {
        return failed("sqlite.staging", what, "set the target's temp_dir to a folder with room for the database");
    }
    if (free < size * 2) {
        return warn("sqlite.staging", what + " (less than twice its size)",
                    "set the target's temp_dir to a folder with more room");
    }
    return pass("sqlite.staging", what);
}

std::vector<Finding> probe_local(const Target& target)
{
    std::vector<Finding> out;
    const std::string& path = target.options.path;
    if (auto st = check_sqlite_file(path, "read"); !st) {
        out.push_back(failed("sqlite.file", st.error().message + ": " + path,
                             st.error().hint.empty() ? "check the target's path" : st.error().hint));
        return out;
    }
    auto db = Database::open_read_only(path, false);
    if (!db) {
        out.push_back(failed("sqlite.file", db.error().message + ": " + path, "check the file and its permissions"));
        return out;
    }
    auto mode = db->rows("PRAGMA journal_mode", "read journal mode of");
    auto page_size = db->rows("PRAGMA page_size", "read page size of");
    auto page_count = db->rows("PRAGMA page_count", "read page count of");
    if (!mode || !page_size || !page_count) {
        const Error& e = !mode ? mode.error() : !page_size ? page_size.error() : page_count.error();
        out.push_back(failed("sqlite.file", e.message + ": " + path,
                             "make the database (and its folder, for the -shm file of WAL mode) readable by "
                             "dbkeep's user"));
        return out;
    }
    const std::uint64_t size = std::stoull(page_size->at(0).at(0)) * std::stoull(page_count->at(0).at(0));
    const std::string journal = mode->at(0).at(0);
    out.push_back(pass("sqlite.file", "SQLite " + std::string(sqlite3_libversion()) + " reads " + path + ": " +
                                          human_size(size) + ", journal mode " + journal));
    if (journal != "wal") {
        out.push_back(warn("sqlite.journal_mode",
                           "journal mode " + journal + ": writers wait while a backup copies the database",
                           "switch the application's database to WAL (PRAGMA journal_mode=WAL) so writers never "
                           "wait for a backup, and give its connections a busy timeout"));
    }
    out.push_back(probe_staging(target, size));
    return out;
}

std::vector<Finding> probe_remote(runner::Runner& runner, const Target& target)
{
    std::vector<Finding> out;
    static const std::string k_script = R"sh(if ! command -v sqlite3 >/dev/null 2>&1; then echo nocli; exit 0; fi
echo "version $(sqlite3 -version)"
if [ ! -e "$1" ]; then echo missing; exit 0; fi
if [ ! -r "$1" ]; then echo unreadable; exit 0; fi
echo "size $(wc -c < "$1")"
echo "mode $(sqlite3 -readonly "$1" 'PRAGMA journal_mode' 2>&1 | head -n 1)"
)sh";
    auto r = runner::run_capture(
        runner, runner::Command{.argv = {"sh", "-c", k_script, "dbkeep-sqlite-check", target.options.path}});
    if (!r || !r->status.ok()) {
        out.push_back(failed("sqlite.file",
                             "cannot run sh through " + runner.describe() + ": " +
                                 (r ? r->status.describe() + " " + r->err : r.error().message),
                             "check the runner (see the runner probes above)"));
        return out;
    }
    std::istringstream lines(r->out);
    std::string line, version, mode;
    std::uint64_t size = 0;
    const std::string where = " through " + runner.describe();
    for (std::string word; std::getline(lines, line);) {
        if (line == "nocli") {
            out.push_back(failed("sqlite.cli", "the sqlite3 command-line tool is not installed" + where,
                                 "install sqlite3 where the runner runs (Debian/Ubuntu: apt-get install sqlite3; "
                                 "Alpine: apk add sqlite)"));
            return out;
        }
        if (line == "missing" || line == "unreadable") {
            out.push_back(pass("sqlite.cli", "sqlite3 " + version + where));
            out.push_back(
                failed("sqlite.file",
                       target.options.path + (line == "missing" ? " does not exist" : " is not readable") + where,
                       "check the target's path (on the machine where the runner runs) and its "
                       "permissions"));
            return out;
        }
        if (line.starts_with("version ")) {
            version = line.substr(8, line.find(' ', 8) - 8);
        } else if (line.starts_with("size ")) {
            size = std::strtoull(line.c_str() + 5, nullptr, 10);
        } else if (line.starts_with("mode ")) {
            mode = line.substr(5);
        }
    }
    out.push_back(pass("sqlite.cli", "sqlite3 " + version + where));
    if (mode != "wal" && mode != "delete" && mode != "truncate" && mode != "persist" && mode != "memory" &&
        mode != "off") {
        out.push_back(failed("sqlite.file", target.options.path + where + ": " + mode,
                             "check that the target's path names a SQLite database"));
        return out;
    }
    out.push_back(
        pass("sqlite.file", target.options.path + where + ": " + human_size(size) + ", journal mode " + mode));
    out.push_back(probe_staging(target, size));
    return out;
}

} // namespace

std::vector<Finding> probe_target(runner::Runner& runner, const Target& target)
{
    return runner.local() ? probe_local(target) : probe_remote(runner, target);
}

} // namespace dbkeep::engine::sqlite
