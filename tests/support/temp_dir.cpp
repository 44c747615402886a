#include "support/temp_dir.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <netinet/in.h>
#include <sched.h>
#include <sstream>
#include <stdexcept>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace dbkeep::test {

TempDir::TempDir(const std::string& tag)
{
    std::string tmpl = (std::filesystem::temp_directory_path() / (tag + "-XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) {
        throw std::runtime_error("mkdtemp failed");
    }
    m_path = buf.data();
}

TempDir::~TempDir()
{
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

void write_file(const std::filesystem::path& path, const std::string& content)
{
    std::ofstream f(path, std::ios::binary);
    f << content;
    if (!f) {
        throw std::runtime_error("cannot write " + path.string());
    }
}

std::string read_file(const std::filesystem::path& path)
{
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::vector<std::string> list_files(const std::filesystem::path& dir)
{
    std::vector<std::string> out;
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
        return out;
    }
    // The folder may be written while it is listed (a daemon renames a .tmp file into place): an entry that
    // vanishes between the listing and the stat is skipped, and paths are made relative lexically (no stat).
    std::filesystem::recursive_directory_iterator it(dir, ec);
    for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        std::error_code stat_ec;
        if (it->is_regular_file(stat_ec)) {
            out.push_back(it->path().lexically_relative(dir).string());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

int free_port()
{
    const ClosedPort held;
    return held.port();
}

ClosedPort::ClosedPort()
{
    m_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (m_fd < 0 || bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        if (m_fd >= 0) {
            close(m_fd);
        }
        throw std::runtime_error("cannot bind a port on 127.0.0.1");
    }
    m_port = ntohs(addr.sin_port);
}

ClosedPort::~ClosedPort()
{
    close(m_fd);
}

std::string enter_private_mount_namespace()
{
    if (geteuid() != 0) {
        return "a mount namespace needs root";
    }
    if (unshare(CLONE_NEWNS) != 0) {
        return std::string("cannot make a mount namespace here: ") + std::strerror(errno);
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        return std::string("cannot make the mounts private: ") + std::strerror(errno);
    }
    return {};
}

} // namespace dbkeep::test
