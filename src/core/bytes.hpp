// Byte spans used by every streaming interface.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace dbkeep {

using Bytes = std::span<const std::uint8_t>;
using MutableBytes = std::span<std::uint8_t>;

inline Bytes as_bytes(std::string_view s) noexcept
{
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

inline std::string_view as_chars(Bytes b) noexcept
{
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

} // namespace dbkeep
