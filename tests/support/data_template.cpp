#include "support/data_template.hpp"

#include "support/process.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dbkeep::test {
namespace {

// Closes the lock file (and so releases the flock) on every path.
class FileLock {
public:
    explicit FileLock(const std::filesystem::path& path)
        : m_fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600))
    {
        if (m_fd < 0) {
            throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno));
        }
        while (::flock(m_fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                const int e = errno;
                ::close(m_fd);
                throw std::runtime_error("cannot lock " + path.string() + ": " + std::strerror(e));
            }
        }
    }
    ~FileLock() { ::close(m_fd); }
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

private:
    int m_fd;
};

} // namespace

std::string program_stamp(const std::filesystem::path& program)
{
    struct stat st {};
    if (::stat(program.c_str(), &st) != 0) {
        return "absent";
    }
    return std::to_string(st.st_size) + "." + std::to_string(st.st_mtime);
}

void copy_data_template(const std::string& key, const std::filesystem::path& dest,
                        const std::function<void(const std::filesystem::path&)>& make)
{
    const auto base = std::filesystem::temp_directory_path() / ("dbkeep-test-templates-" + std::to_string(::geteuid()));
    std::filesystem::create_directories(base);
    // A folder of ours that nobody else can write (the name is predictable), and that a server's user can cross
    // whatever the umask.
    struct stat st {};
    if (::lstat(base.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() ||
        ::chmod(base.c_str(), 0755) != 0) {
        throw std::runtime_error(base.string() + " is not a folder of this user's (remove it)");
    }
    const auto ready = base / key;
    if (!std::filesystem::exists(ready / "data")) {
        const FileLock lock(base / (key + ".lock"));
        if (!std::filesystem::exists(ready / "data")) {
            const auto partial = base / (key + ".partial");
            std::filesystem::remove_all(partial);
            std::filesystem::create_directories(partial);
            std::filesystem::permissions(partial, std::filesystem::perms(0755));
            make(partial);
            if (!std::filesystem::exists(partial / "data")) {
                throw std::runtime_error("making the data template " + key + " left no data folder");
            }
            std::filesystem::rename(partial, ready);
        }
    }
    auto r = run({"cp", "-a", (ready / "data").string(), dest.string()});
    if (r.exit_code != 0) {
        throw std::runtime_error("cannot copy the data template " + key + ": " + r.err);
    }
}

} // namespace dbkeep::test
