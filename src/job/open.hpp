// The one place that builds plug-ins from the typed configuration: storages, runners and engines, each picked
// with std::visit over its options variant (no code compares type strings). A new plug-in is one folder, one
// branch in the config loader and one line here.
#pragma once

#include "core/error.hpp"

#include <memory>

namespace dbkeep::config {
struct StorageConfig;
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

namespace dbkeep::job {

// The storage a configuration names. Fails (ErrorKind::config or auth) when a backend cannot be set up, e.g.
// S3 without any credentials; touches no object.
Result<std::unique_ptr<storage::Storage>> open_storage(const config::StorageConfig& config);

// The runner a target names. Never touches the network.
Result<std::unique_ptr<runner::Runner>> open_runner(const config::TargetConfig& target);

// A target's engine together with the runner it runs its tools through (the engine refers to the runner,
// so the handle destroys the engine first).
struct EngineHandle {
    std::unique_ptr<runner::Runner> runner;
    std::unique_ptr<engine::Engine> engine;
    EngineHandle();
    EngineHandle(EngineHandle&&) noexcept;
    EngineHandle& operator=(EngineHandle&&) noexcept;
    ~EngineHandle();
};
Result<EngineHandle> open_engine(const config::TargetConfig& target);

} // namespace dbkeep::job
