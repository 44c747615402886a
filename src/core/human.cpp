#include "core/human.hpp"

#include <fmt/format.h>

namespace dbkeep {

std::string human_size(std::uint64_t bytes)
{
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string human_duration(std::int64_t milliseconds)
{
    const std::int64_t ms = milliseconds < 0 ? 0 : milliseconds;
    if (ms < 60000) {
        return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
    }
    return fmt::format("{}m{:02}s", ms / 60000, (ms / 1000) % 60);
}

} // namespace dbkeep
