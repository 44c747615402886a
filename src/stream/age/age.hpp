// The age v1 file format (C2SP age spec, age-encryption.org/v1) as pipeline stages, so every encrypted
// backup can be opened with the standard `age` tool: what callers need, in one include. See encrypt.hpp,
// decrypt.hpp and keys.hpp for each function's contract; format.hpp and bech32.hpp are the internals.
#pragma once

#include "stream/age/decrypt.hpp"
#include "stream/age/encrypt.hpp"
#include "stream/age/keys.hpp"
