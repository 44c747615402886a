// Test data: incompressible bytes, the same for the same seed on every run and machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dbkeep::test {

// `n` pseudo-random bytes from std::mt19937_64 seeded with `seed`.
std::string random_bytes(std::size_t n, std::uint64_t seed);

} // namespace dbkeep::test
