// `dbkeep check`: one probe per prerequisite of a target (configuration, database, dump tools, runner,
// storage, encryption, freshness), each with a pass/warn/fail, a one-line finding and a remedy.
#pragma once

#include "core/finding.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace dbkeep::config {
struct Config;
struct TargetConfig;
} // namespace dbkeep::config

namespace dbkeep::check {

struct CheckOptions {
    std::vector<std::string> identity_files; // to check that an identity matches a recipient
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

std::vector<Finding> check_target(const config::Config& config, const config::TargetConfig& target,
                                  const CheckOptions& options);

// Encryption probes: recipients parse; with identity files, one of them matches a recipient.
std::vector<Finding> check_encryption(const config::TargetConfig& target, const CheckOptions& options);

// Storage probes: write, read back, list and delete a probe object under the target's prefix.
std::vector<Finding> check_storage(const config::Config& config, const config::TargetConfig& target);

} // namespace dbkeep::check
