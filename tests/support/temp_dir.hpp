// A temporary directory removed with everything in it when the object goes away.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dbkeep::test {

class TempDir {
public:
    explicit TempDir(const std::string& tag = "dbkeep-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return m_path; }
    std::filesystem::path operator/(const std::string& name) const { return m_path / name; }

private:
    std::filesystem::path m_path;
};

void write_file(const std::filesystem::path& path, const std::string& content);
std::string read_file(const std::filesystem::path& path);
// Every regular file below dir, relative, sorted.
std::vector<std::string> list_files(const std::filesystem::path& dir);

// A free TCP port on 127.0.0.1 (bound to port 0, then released): a server a test starts there may find it
// taken meanwhile, and another test's server may take it; for "nothing listens here" use ClosedPort.
int free_port();

// A TCP port on 127.0.0.1 held bound but not listening for the object's life: every connection to it is refused
// and no other process can take it meanwhile. Throws std::runtime_error when no port can be bound.
class ClosedPort {
public:
    ClosedPort();
    ~ClosedPort();
    ClosedPort(const ClosedPort&) = delete;
    ClosedPort& operator=(const ClosedPort&) = delete;
    int port() const { return m_port; }

private:
    int m_fd = -1;
    int m_port = 0;
};

// Moves the calling thread, and every process it starts afterwards, into a mount namespace of its own whose
// mounts propagate nowhere: what a test mounts there is gone when its process ends, however it ends (ctest runs
// each test in a process of its own). Returns an empty string, or why not (not root; no CAP_SYS_ADMIN).
std::string enter_private_mount_namespace();

} // namespace dbkeep::test
