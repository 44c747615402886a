#include "core/hex.hpp"

#include <openssl/rand.h>

#include <chrono>
#include <unistd.h>
#include <vector>

namespace dbkeep {

std::string to_hex(Bytes data)
{
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(data.size() * 2);
    for (std::uint8_t b : data) {
        out += k_digits[b >> 4];
        out += k_digits[b & 15];
    }
    return out;
}

std::string random_hex(std::size_t bytes)
{
    std::vector<std::uint8_t> raw(bytes);
    if (bytes > 0 && RAND_bytes(raw.data(), static_cast<int>(bytes)) != 1) {
        auto mix = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                   (static_cast<std::uint64_t>(::getpid()) << 40);
        for (std::size_t i = 0; i < bytes; ++i) {
            raw[i] = static_cast<std::uint8_t>(mix >> ((i % 8) * 8));
        }
    }
    return to_hex(raw);
}

} // namespace dbkeep
