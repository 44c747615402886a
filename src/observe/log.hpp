// Logging: human lines on a terminal, JSON lines otherwise (or with --json). Every registered secret is
// replaced by "***" in every message as a last line of defence.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace dbkeep::observe {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

struct LogSettings {
    Level level = Level::info;
    bool json = false; // false: human format
};

void configure_logging(LogSettings settings);
// Parses debug|info|warn|error; false when unknown.
bool parse_level(std::string_view text, Level& out);

// Never print this value: it is replaced by *** in log lines and in messages passed through redact().
void register_secret(const std::string& secret);
std::string redact(std::string text);

using Field = std::pair<std::string_view, std::string>;
void log(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void debug(std::string_view m, std::initializer_list<Field> f = {})
{
    log(Level::debug, m, f);
}
inline void info(std::string_view m, std::initializer_list<Field> f = {})
{
    log(Level::info, m, f);
}
inline void warn(std::string_view m, std::initializer_list<Field> f = {})
{
    log(Level::warn, m, f);
}
inline void error(std::string_view m, std::initializer_list<Field> f = {})
{
    log(Level::error, m, f);
}

} // namespace dbkeep::observe
