// PostgreSQL: pg_dump in custom format inside an exported repeatable-read snapshot, with exact row counts
// taken in the same snapshot; pg_restore to restore. Tools run through the target's Runner.
#pragma once

#include "engine/engine.hpp"

#include <optional>
#include <vector>

namespace dbkeep::engine {

Result<std::unique_ptr<Engine>> make_postgres_engine(const config::TargetConfig& target, runner::Runner& runner);

// Picking the pg_dump for a server: exact major first, else the oldest newer one. Pure, for tests.
struct ToolCandidate {
    std::string path;
    int major = 0;       // 15
    std::string version; // "15.18"
};
std::optional<ToolCandidate> pick_tool(const std::vector<ToolCandidate>& candidates, int server_major);
// "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> {major 15, version "15.18"}
std::optional<ToolCandidate> parse_tool_version(const std::string& path, const std::string& output);

} // namespace dbkeep::engine
