// Sizes and durations for people: the one formatting of both for list, logs and notifications.
#pragma once

#include <cstdint>
#include <string>

namespace dbkeep {

// "512 B", "1.5 KiB", "3.2 MiB", ... up to TiB (binary units, one decimal). Pure; thread-safe.
std::string human_size(std::uint64_t bytes);

// "4.2s" below a minute, else "12m05s" (minutes may exceed 59). Negative input reads as 0. Pure; thread-safe.
std::string human_duration(std::int64_t milliseconds);

} // namespace dbkeep
