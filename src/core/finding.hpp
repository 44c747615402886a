// One result of one diagnostic probe: what was checked, whether it passed, what was found, and for a failure
// what the user can do about it.
#pragma once

#include <string>
#include <utility>

namespace dbkeep {

enum class Outcome { pass, warn, fail };

struct Finding {
    std::string probe; // "postgres.connect", "storage.write"
    Outcome outcome = Outcome::pass;
    std::string finding; // one line: what was found
    std::string remedy;  // for warn/fail: what to do (SQL, IAM action, config key)
};

inline Finding pass(std::string probe, std::string finding)
{
    return {std::move(probe), Outcome::pass, std::move(finding), {}};
}
inline Finding warn(std::string probe, std::string finding, std::string remedy)
{
    return {std::move(probe), Outcome::warn, std::move(finding), std::move(remedy)};
}
inline Finding failed(std::string probe, std::string finding, std::string remedy)
{
    return {std::move(probe), Outcome::fail, std::move(finding), std::move(remedy)};
}

} // namespace dbkeep
