// Every runner's options, joined: what a target's `runner:` key selects. job/open builds the runner from this
// with std::visit; adding a runner is one alternative here, one branch in the config loader and one line in
// job/open.
#pragma once

#include "runner/docker/docker.hpp"
#include "runner/ecs.hpp"
#include "runner/local.hpp"
#include "runner/prefix.hpp"

#include <string>
#include <variant>

namespace dbkeep::runner {

using RunnerOptions = std::variant<LocalOptions, CommandOptions, SshOptions, KubectlOptions, DockerOptions, EcsOptions>;

// The runner type as the configuration names it: "local", "command", "ssh", "kubectl", "docker", "ecs".
inline std::string runner_type(const RunnerOptions& options)
{
    static constexpr const char* k_names[] = {"local", "command", "ssh", "kubectl", "docker", "ecs"};
    static_assert(std::size(k_names) == std::variant_size_v<RunnerOptions>);
    return k_names[options.index()];
}

} // namespace dbkeep::runner
