#include "job/diagnose.hpp"

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "job/open.hpp"
#include "runner/runner.hpp"
#include "storage/storage.hpp"

namespace dbkeep::job {

std::vector<Finding> diagnose(const config::Config& config, const config::TargetConfig& target,
                              const check::CheckOptions& options)
{
    check::Subjects subjects;
    auto handle = open_engine(target);
    if (handle) {
        subjects.runner = handle->runner.get();
        subjects.engine = handle->engine.get();
    } else {
        subjects.engine_error = handle.error();
    }
    auto storage = open_storage(config.storage_for(target));
    if (storage) {
        subjects.storage = storage->get();
    } else {
        subjects.storage_error = storage.error();
    }
    return check::check_target(config, target, subjects, options);
}

} // namespace dbkeep::job
