// Hex encoding and random tokens, for digests, markers and unique names.
#pragma once

#include "core/bytes.hpp"

#include <cstddef>
#include <string>

namespace dbkeep {

// Lowercase hex of data, two characters a byte. Thread-safe.
std::string to_hex(Bytes data);

// bytes random bytes from OpenSSL's CSPRNG as lowercase hex (2 x bytes characters). Falls back to a
// pid/clock mix only if the CSPRNG fails, so the result is unique but then not secret. Thread-safe.
std::string random_hex(std::size_t bytes);

} // namespace dbkeep
