// What commands print on stdout: human lines, or with `--json` one JSON document per command (its shape per
// command in docs/json.md; stable: fields are only ever added). Errors keep going to stderr as well, and the
// exit codes do not change with --json.
#pragma once

#include "core/error.hpp"
#include "core/human.hpp" // printable: text from storage or peers for a terminal

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace dbkeep::cli {

struct Context;

// {"kind", "operation", "object", "message", "hint"} of an error, every string redacted (observe::redact).
nlohmann::json error_json(const Error& error);

// {"target": target, "status": "failed", "error": error_json(error)}: a target whose run failed.
nlohmann::json failed_target_json(const std::string& target, const Error& error);

// Prints the document on stdout, indented, with a final newline.
void print_json(const nlohmann::json& document);

// The multi-target commands' document: `items`, then a failed_target_json per error ctx's for_each_target
// reported, printed with print_json.
void print_items(nlohmann::json items, const Context& ctx);

// The command's closing line for people ("backup: 2 targets backed up, 1.2 MiB stored, in 3.4s") on stdout.
void print_summary(const std::string& line);

// Milliseconds since `start` (steady clock), for summaries and JSON durations.
std::int64_t elapsed_ms(std::chrono::steady_clock::time_point start);

} // namespace dbkeep::cli
