#include "engine/postgres/tools.hpp"

#include <optional>

#include "observe/log.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <regex>
#include <unistd.h>

namespace dbkeep::engine::pg {

std::vector<std::string> libpq_environment()
{
    return {"PG*"};
}

std::string first_line(const std::string& text)
{
    std::string s = text;
    // pg_dump prefixes messages with "pg_dump: error: "; keep the first error line.
    auto pos = s.find("error: ");
    if (pos != std::string::npos) {
        s = s.substr(pos + 7);
    }
    auto nl = s.find('\n');
    if (nl != std::string::npos) {
        s = s.substr(0, nl);
    }
    while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) {
        s.pop_back();
    }
    return utf8_or_escaped(s);
}

std::string tool_message(const std::string& text)
{
    constexpr std::size_t k_max_lines = 30, k_max_bytes = 4000;
    std::string out;
    std::size_t lines = 0, pos = 0;
    while (pos < text.size() && lines < k_max_lines) {
        auto nl = text.find('\n', pos);
        std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        // "pg_dump: error: x" -> "x"; "pg_dump: detail: x" -> "detail: x"; the server's "DETAIL:  x" stays.
        for (const char* tool : {"pg_dump: ", "pg_restore: ", "pg_dumpall: ", "psql: "}) {
            if (line.starts_with(tool)) {
                line.erase(0, std::strlen(tool));
                break;
            }
        }
        if (line.starts_with("error: ")) {
            line.erase(0, 7);
        }
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
            line.pop_back();
        }
        if (line.empty()) {
            continue;
        }
        out += (out.empty() ? "" : "; ") + line;
        ++lines;
    }
    if (pos < text.size()) {
        out += "; ...";
    }
    if (out.size() > k_max_bytes) {
        out.resize(k_max_bytes);
        out += " ...";
    }
    return utf8_or_escaped(out);
}

Result<ToolCandidate> find_tool(runner::Runner& runner, const Target& target, const std::string& name,
                                const std::string& override_path, int server_major)
{
    std::vector<std::string> paths;
    if (!override_path.empty()) {
        paths.push_back(override_path);
    } else {
        if (runner.local()) {
            std::error_code ec;
            for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
                auto p = e.path() / "bin" / name;
                if (::access(p.c_str(), X_OK) == 0) {
                    paths.push_back(p.string());
                }
            }
        }
        paths.push_back(name); // PATH where the runner runs it
    }
    std::vector<ToolCandidate> found;
    std::string tried, last_error;
    std::optional<Error> probe_error; // a probe that did not run to an answer (timeout, cancel, runner down)
    for (const auto& p : paths) {
        auto out = runner::run_capture(runner, {.argv = {p, "--version"}}, 4096);
        tried += (tried.empty() ? "" : ", ") + p;
        if (!out) {
            last_error = out.error().message;
            if (out.error().kind == ErrorKind::not_found && runner.local()) {
                continue; // no such program on this machine: not there, rather than silent
            }
            probe_error = out.error();
            continue;
        }
        if (!out->status.ok()) {
            last_error = first_line(out->err);
            continue;
        }
        if (auto c = parse_tool_version(p, out->out)) {
            found.push_back(*c);
        }
    }
    if (!override_path.empty() && found.empty()) {
        return fail(ErrorKind::not_found, "find " + name + " for", target.name,
                    "cannot run " + override_path + " --version on " + runner.describe() +
                        (last_error.empty() ? "" : ": " + last_error),
                    "fix " + name + "_path in the configuration, or the runner");
    }
    if (found.empty() && probe_error) {
        // The version probe got no answer: say so, never "found none" (the tool may well be there).
        if (probe_error->kind == ErrorKind::cancelled) {
            return std::unexpected(*probe_error);
        }
        return fail(
            probe_error->kind, "find " + name + " for", target.name,
            "running " + name + " --version on " + runner.describe() + " got no answer: " + probe_error->message,
            probe_error->hint.empty() ? "check the runner (dbkeep check shows it), then try again" : probe_error->hint);
    }
    auto pick = pick_tool(found, server_major);
    if (server_major == 0 && !found.empty()) {
        // Server version unknown: the newest tool reads every older server.
        pick = *std::max_element(found.begin(), found.end(),
                                 [](const auto& a, const auto& b) { return a.major < b.major; });
    }
    if (!pick) {
        std::string have;
        for (const auto& c : found) {
            have += (have.empty() ? "" : ", ") + c.path + " " + c.version;
        }
        return fail(ErrorKind::not_found, "find " + name + " for", target.name,
                    "the server is PostgreSQL " + std::to_string(server_major) + ", which needs " + name + " " +
                        std::to_string(server_major) + " or newer; found " + (have.empty() ? "none" : have) +
                        " (looked at " + tried + " on " + runner.describe() + ")",
                    "install postgresql-client-" + std::to_string(server_major) + " where the runner runs, or set " +
                        name + "_path");
    }
    if (pick->major != server_major) {
        observe::warn(name + " is newer than the server",
                      {{"tool", pick->version}, {"server", std::to_string(server_major)}});
    }
    return *pick;
}

} // namespace dbkeep::engine::pg

namespace dbkeep::engine {

std::optional<ToolCandidate> parse_tool_version(const std::string& path, const std::string& output)
{
    static const std::regex k_version(R"(\(PostgreSQL\) (\d+)(?:\.(\d+))?)");
    std::smatch m;
    if (!std::regex_search(output, m, k_version)) {
        return std::nullopt;
    }
    ToolCandidate c;
    c.path = path;
    // A major version that does not fit an int is no PostgreSQL's (std::stoi would throw on it).
    const std::string major = m[1].str();
    auto [end, ec] = std::from_chars(major.data(), major.data() + major.size(), c.major);
    if (ec != std::errc{} || end != major.data() + major.size() || c.major <= 0 || c.major > 1000) {
        return std::nullopt;
    }
    c.version = m[1].str() + (m[2].matched ? "." + m[2].str() : "");
    return c;
}

std::optional<ToolCandidate> pick_tool(const std::vector<ToolCandidate>& candidates, int server_major)
{
    std::optional<ToolCandidate> best;
    for (const auto& c : candidates) {
        if (c.major < server_major) {
            continue;
        }
        if (!best || c.major < best->major) {
            best = c;
        }
    }
    return best;
}

} // namespace dbkeep::engine
