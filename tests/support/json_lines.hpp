// What a loopback stand-in recorded: one JSON document per line (JSON Lines), as the notification receivers,
// the SMTP server and the SNS stand-in of the integration tests write them.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <vector>

namespace dbkeep::test {

// Every line of `path` parsed as JSON; none when the file does not exist. A line that does not parse fails the
// calling test (nlohmann::json::parse throws, which gtest reports).
std::vector<nlohmann::json> read_json_lines(const std::filesystem::path& path);

} // namespace dbkeep::test
