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

// A free TCP port on 127.0.0.1 (bound to port 0, then released).
int free_port();

} // namespace dbkeep::test
