// `dbkeep check` end to end: opens a target's plug-ins through job/open and runs every probe on them.
#pragma once

#include "check/check.hpp"

namespace dbkeep::job {

// The findings of check::check_target for target, with its storage, runner and engine opened here (an open
// that fails becomes a failed finding). Never fails.
std::vector<Finding> diagnose(const config::Config& config, const config::TargetConfig& target,
                              const check::CheckOptions& options);

} // namespace dbkeep::job
