#include "core/human.hpp"

#include <fmt/format.h>
#include <utility>

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

std::string printable(std::string_view text)
{
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += k_hex[c >> 4];
            out += k_hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

namespace {

struct Range {
    char32_t first;
    char32_t last;
};

// Two columns: East Asian Wide and Fullwidth (Markus Kuhn's mk_wcwidth, with the emoji blocks terminals draw wide).
constexpr Range k_wide_ranges[] = {
    {0x1100, 0x115f},   // Hangul Jamo initial consonants
    {0x2329, 0x232a},   // angle brackets
    {0x2e80, 0x303e},   // CJK radicals, Kangxi, CJK symbols and punctuation
    {0x3040, 0xa4cf},   // Hiragana, Katakana, Bopomofo, CJK, Yi
    {0xac00, 0xd7a3},   // Hangul syllables
    {0xf900, 0xfaff},   // CJK compatibility ideographs
    {0xfe10, 0xfe19},   // vertical forms
    {0xfe30, 0xfe6f},   // CJK compatibility forms
    {0xff00, 0xff60},   // fullwidth forms
    {0xffe0, 0xffe6},   // fullwidth signs
    {0x1f300, 0x1f64f}, // symbols and pictographs, emoticons
    {0x1f900, 0x1f9ff}, // supplemental symbols and pictographs
    {0x20000, 0x2fffd}, // CJK extension B and later
    {0x30000, 0x3fffd},
};

// No column: combining marks and zero-width characters.
constexpr Range k_zero_ranges[] = {
    {0x0300, 0x036f}, // combining diacritical marks
    {0x200b, 0x200f}, // zero width space, joiners, direction marks
    {0x20d0, 0x20ff}, // combining marks for symbols
    {0xfe00, 0xfe0f}, // variation selectors
    {0xfe20, 0xfe2f}, // combining half marks
    {0xfeff, 0xfeff}, // zero width no-break space
};

template <std::size_t N> bool in(const Range (&ranges)[N], char32_t c)
{
    for (const auto& r : ranges) {
        if (c >= r.first && c <= r.last) {
            return true;
        }
    }
    return false;
}

// The code point at text[i] and its length in bytes; length 0 when the bytes there are not valid UTF-8.
std::pair<char32_t, std::size_t> decode(std::string_view text, std::size_t i)
{
    const auto b0 = static_cast<unsigned char>(text[i]);
    std::size_t len = 0;
    char32_t c = 0;
    char32_t min = 0;
    if (b0 < 0x80) {
        return {b0, 1};
    }
    if ((b0 & 0xe0) == 0xc0) {
        len = 2, c = b0 & 0x1f, min = 0x80;
    } else if ((b0 & 0xf0) == 0xe0) {
        len = 3, c = b0 & 0x0f, min = 0x800;
    } else if ((b0 & 0xf8) == 0xf0) {
        len = 4, c = b0 & 0x07, min = 0x10000;
    } else {
        return {0, 0};
    }
    if (i + len > text.size()) {
        return {0, 0};
    }
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(text[i + k]);
        if ((b & 0xc0) != 0x80) {
            return {0, 0};
        }
        c = (c << 6) | (b & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return {0, 0};
    }
    return {c, len};
}

} // namespace

std::size_t display_width(std::string_view text)
{
    std::size_t width = 0;
    for (std::size_t i = 0; i < text.size();) {
        auto [c, len] = decode(text, i);
        if (len == 0) { // not UTF-8: one replacement character
            ++width;
            ++i;
            continue;
        }
        i += len;
        if (in(k_zero_ranges, c)) {
            continue;
        }
        width += in(k_wide_ranges, c) ? 2 : 1;
    }
    return width;
}

std::string pad_to_width(std::string text, std::size_t width)
{
    const std::size_t has = display_width(text);
    if (has < width) {
        text.append(width - has, ' ');
    }
    return text;
}

} // namespace dbkeep
