// Sizes and durations for people: the one formatting of both for list, logs and notifications.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dbkeep {

// "512 B", "1.5 KiB", "3.2 MiB", ... up to TiB (binary units, one decimal). Pure; thread-safe.
std::string human_size(std::uint64_t bytes);

// "4.2s" below a minute, else "12m05s" (minutes may exceed 59). Negative input reads as 0. Pure; thread-safe.
std::string human_duration(std::int64_t milliseconds);

// Text from storage or peers (keys, names, reasons) for a terminal: control characters as \xNN, never sent raw;
// every other byte as it is. Pure; thread-safe.
std::string printable(std::string_view text);

// The columns a terminal gives text in UTF-8, for aligning tables: a code point is one column, an East Asian
// wide or fullwidth one (CJK, Hangul, fullwidth forms, emoji; the ranges of Markus Kuhn's wcwidth, wide_ranges in
// human.cpp) two, a combining mark or zero-width character none; a byte that is not valid UTF-8 one (terminals
// show it as one replacement character). Locale-independent. Pure; thread-safe.
std::size_t display_width(std::string_view text);

// text followed by spaces up to `width` display columns (display_width); text as it is when it is that wide or
// wider. Pure; thread-safe.
std::string pad_to_width(std::string text, std::size_t width);

} // namespace dbkeep
