// `dbkeep check`: one probe per prerequisite of a target (configuration, database, dump tools, runner,
// storage, encryption, freshness), each with a pass/warn/fail, a one-line finding and a remedy.
#pragma once

#include "core/error.hpp"
#include "core/finding.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::config {
struct Config;
struct TargetConfig;
} // namespace dbkeep::config

namespace dbkeep::engine {
class Engine;
}
namespace dbkeep::runner {
class Runner;
}
namespace dbkeep::storage {
class Storage;
}

namespace dbkeep::check {

struct CheckOptions {
    std::vector<std::string> identity_files; // to check that an identity matches a recipient
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

// A target's plug-ins as job/open built them (not owned); where one could not be built, the error says why.
struct Subjects {
    storage::Storage* storage = nullptr;
    std::optional<Error> storage_error;
    runner::Runner* runner = nullptr;
    engine::Engine* engine = nullptr;
    std::optional<Error> engine_error; // the runner's or the engine's
};

// Every probe of one target: configuration, schedule, retention, encryption, the runner's and the engine's
// probes (the engine's skipped when the runner fails), the storage's probe and freshness. Never fails.
std::vector<Finding> check_target(const config::Config& config, const config::TargetConfig& target,
                                  const Subjects& subjects, const CheckOptions& options);

// The freshness finding alone (the dead-man's switch of `check --freshness`): fail when a scheduled instant
// more than an hour old passed with no successful backup since, or when the listing fails; warn when there has
// never been a backup; pass otherwise (evaluate_freshness). Never fails.
Finding check_freshness(const config::TargetConfig& target, storage::Storage& storage,
                        std::chrono::system_clock::time_point now);

// Encryption probes: recipients parse; with identity files, one of them matches a recipient.
std::vector<Finding> check_encryption(const config::TargetConfig& target, const CheckOptions& options);

} // namespace dbkeep::check
