#include "observe/log.hpp"
#include "core/time.hpp"

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

namespace dbkeep::observe {
namespace {
std::mutex g_mutex;
LogSettings g_settings;
std::vector<std::string> g_secrets;

const char* level_name(Level l)
{
    switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
    }
    return "info";
}

std::string redact_locked(std::string text)
{
    for (const auto& s : g_secrets) {
        std::size_t pos = 0;
        while ((pos = text.find(s, pos)) != std::string::npos) {
            text.replace(pos, s.size(), "***");
            pos += 3;
        }
    }
    return text;
}
} // namespace

void configure_logging(LogSettings settings)
{
    std::lock_guard lock(g_mutex);
    g_settings = settings;
}

bool parse_level(std::string_view text, Level& out)
{
    if (text == "debug") {
        out = Level::debug;
    } else if (text == "info") {
        out = Level::info;
    } else if (text == "warn" || text == "warning") {
        out = Level::warn;
    } else if (text == "error") {
        out = Level::error;
    } else {
        return false;
    }
    return true;
}

void register_secret(const std::string& secret)
{
    // Very short values would redact ordinary words; they are still never logged on purpose.
    if (secret.size() < 3) {
        return;
    }
    std::lock_guard lock(g_mutex);
    g_secrets.push_back(secret);
}

std::string redact(std::string text)
{
    std::lock_guard lock(g_mutex);
    return redact_locked(std::move(text));
}

void log(Level level, std::string_view message, std::initializer_list<Field> fields)
{
    std::lock_guard lock(g_mutex);
    if (level < g_settings.level) {
        return;
    }
    std::string now = format_rfc3339(std::chrono::system_clock::now());
    std::string line;
    if (g_settings.json) {
        nlohmann::json j;
        j["time"] = now;
        j["level"] = level_name(level);
        j["msg"] = redact_locked(std::string(message));
        for (const auto& [k, v] : fields) {
            j[std::string(k)] = redact_locked(v);
        }
        line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
        // Appended piece by piece: GCC 12 at -O3 raises a false -Wrestrict on `const char* + std::string&&`.
        line.append(now, 11, 8).append(" ").append(level_name(level)).append(" ");
        line.append(redact_locked(std::string(message)));
        for (const auto& [k, v] : fields) {
            line.append(" ").append(k).append("=").append(redact_locked(v));
        }
    }
    line += "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

} // namespace dbkeep::observe
