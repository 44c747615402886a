#include "stream/age/bech32.hpp"

#include <cctype>
#include <cstring>

namespace dbkeep::stream::age {
namespace {

constexpr char k_charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

std::uint32_t polymod(const std::vector<std::uint8_t>& values)
{
    constexpr std::uint32_t k_gen[] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    std::uint32_t chk = 1;
    for (auto v : values) {
        std::uint8_t top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (int i = 0; i < 5; ++i) {
            if ((top >> i) & 1) {
                chk ^= k_gen[i];
            }
        }
    }
    return chk;
}

std::vector<std::uint8_t> hrp_expand(const std::string& hrp)
{
    std::vector<std::uint8_t> v;
    for (char c : hrp) {
        v.push_back(static_cast<std::uint8_t>(c) >> 5);
    }
    v.push_back(0);
    for (char c : hrp) {
        v.push_back(static_cast<std::uint8_t>(c) & 31);
    }
    return v;
}

} // namespace

std::string bech32_encode(const std::string& hrp, Bytes data)
{
    std::vector<std::uint8_t> five;
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::uint8_t byte : data) {
        acc = (acc << 8) | byte;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            five.push_back((acc >> bits) & 31);
        }
    }
    if (bits > 0) {
        five.push_back((acc << (5 - bits)) & 31);
    }
    auto values = hrp_expand(hrp);
    values.insert(values.end(), five.begin(), five.end());
    values.insert(values.end(), 6, 0);
    std::uint32_t mod = polymod(values) ^ 1;
    std::string out = hrp + "1";
    for (auto v : five) {
        out += k_charset[v];
    }
    for (int i = 0; i < 6; ++i) {
        out += k_charset[(mod >> (5 * (5 - i))) & 31];
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> bech32_decode(std::string text, const std::string& hrp)
{
    bool lower = false, upper = false;
    for (char& c : text) {
        lower |= (c >= 'a' && c <= 'z');
        upper |= (c >= 'A' && c <= 'Z');
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (lower && upper) {
        return std::nullopt;
    }
    auto sep = text.rfind('1');
    if (sep == std::string::npos || text.substr(0, sep) != hrp || text.size() - sep - 1 < 6) {
        return std::nullopt;
    }
    std::vector<std::uint8_t> five;
    for (std::size_t i = sep + 1; i < text.size(); ++i) {
        const char* p = std::strchr(k_charset, text[i]);
        if (!p || !text[i]) {
            return std::nullopt;
        }
        five.push_back(static_cast<std::uint8_t>(p - k_charset));
    }
    auto values = hrp_expand(hrp);
    values.insert(values.end(), five.begin(), five.end());
    if (polymod(values) != 1) {
        return std::nullopt;
    }
    five.resize(five.size() - 6);
    std::vector<std::uint8_t> out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (auto v : five) {
        acc = (acc << 5) | v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out.push_back((acc >> bits) & 0xff);
        }
    }
    if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0) {
        return std::nullopt;
    }
    return out;
}

} // namespace dbkeep::stream::age
