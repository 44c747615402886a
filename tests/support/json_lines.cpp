#include "support/json_lines.hpp"

#include "support/temp_dir.hpp"

#include <sstream>
#include <string>

namespace dbkeep::test {

std::vector<nlohmann::json> read_json_lines(const std::filesystem::path& path)
{
    std::vector<nlohmann::json> out;
    if (!std::filesystem::exists(path)) {
        return out;
    }
    std::istringstream lines(read_file(path));
    for (std::string line; std::getline(lines, line);) {
        out.push_back(nlohmann::json::parse(line));
    }
    return out;
}

} // namespace dbkeep::test
