// Bech32 (BIP 173), the encoding of age recipients ("age1...") and identities ("AGE-SECRET-KEY-1...").
// Hand-written: no library here provides it. Pure functions, thread-safe.
#pragma once

#include "core/bytes.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::stream::age {

// hrp "1" data checksum, all lowercase; data is regrouped into 5-bit values, the last one zero-padded.
std::string bech32_encode(const std::string& hrp, Bytes data);

// Decodes a string whose human-readable part is `hrp` (lowercase). Accepts all-lowercase or all-uppercase,
// never mixed case; nullopt on a wrong hrp, a bad character or checksum, or non-zero padding bits.
std::optional<std::vector<std::uint8_t>> bech32_decode(std::string text, const std::string& hrp);

} // namespace dbkeep::stream::age
