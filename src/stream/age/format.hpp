// The age v1 file format (C2SP age spec, https://c2sp.org/age, "age-encryption.org/v1"): the header's text
// form (stanzas, canonical unpadded base64, the MAC line), the payload's STREAM nonces, and the HKDF,
// HMAC-SHA-256 and ChaCha20-Poly1305 constructions the spec is built from. Shared by encrypt.cpp,
// decrypt.cpp and keys.cpp; no I/O and no state: every function is thread-safe once init_sodium() succeeded.
#pragma once

#include "core/bytes.hpp"
#include "core/error.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dbkeep::stream::age {

inline constexpr std::string_view k_intro = "age-encryption.org/v1\n";
inline constexpr std::size_t k_chunk = 64 * 1024; // plaintext bytes per payload chunk
inline constexpr std::size_t k_tag = 16;          // Poly1305 tag after each sealed chunk or file key
inline constexpr std::size_t k_file_key = 16;
inline constexpr std::size_t k_nonce = 12;         // ChaCha20-Poly1305 (IETF) nonce
inline constexpr std::size_t k_payload_nonce = 16; // the random nonce between header and payload
inline constexpr std::size_t k_max_header = 1 << 20;

using Key = std::array<std::uint8_t, 32>;
using FileKey = std::array<std::uint8_t, k_file_key>;
using Nonce = std::array<std::uint8_t, k_nonce>;

// sodium_init(); every entry point that uses libsodium calls it first. Fails only if libsodium cannot
// start (ErrorKind::failed).
Status init_sodium();

// An ErrorKind::corruption error for a header that breaks the spec, operation "read age header".
std::unexpected<Error> header_error(const std::string& what);

// Standard base64 alphabet without padding, as the spec requires for stanza arguments, bodies and the MAC.
// Encoding never fails. Decoding is constant-time (libsodium) and strict: it rejects padding, any byte
// outside the alphabet (newlines included), a length of 4n+1, and non-canonical encodings whose unused
// trailing bits are not zero; nullopt then.
std::string base64_encode(Bytes data);
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

Key hmac_sha256(Bytes key, Bytes message);
// HKDF-SHA-256 (RFC 5869) with one 32-byte output block; an empty salt means 32 zero bytes.
Key hkdf(Bytes ikm, Bytes salt, std::string_view info);
// ChaCha20-Poly1305 (RFC 8439) without associated data: seal returns ciphertext || tag; open writes
// ciphertext.size() - k_tag bytes to plaintext and returns false when the tag does not verify.
std::vector<std::uint8_t> aead_seal(const Key& key, const Nonce& nonce, Bytes plaintext);
bool aead_open(const Key& key, const Nonce& nonce, Bytes ciphertext, std::uint8_t* plaintext);
// The payload nonce of chunk `counter`: 11 bytes big-endian counter, then 1 for the last chunk, else 0.
Nonce stream_nonce(std::uint64_t counter, bool last);

// The header MAC: HMAC-SHA-256 keyed with HKDF(file key, "header") over the header text up to and
// including "---".
Key header_mac(const FileKey& file_key, std::string_view header_through_dashes);

// One recipient stanza: "-> type args..." and its body.
struct Stanza {
    std::vector<std::string> args; // args[0] is the type
    std::vector<std::uint8_t> body;
};

// The stanza lines: the argument line, then the body in base64 lines of 64 columns, the last one shorter
// (possibly empty).
std::string format_stanza(const Stanza& stanza);

// A parsed header: its stanzas (in file order, unknown types kept) and MAC.
struct Header {
    std::vector<Stanza> stanzas;
    Key mac{};
    std::size_t mac_input_size = 0; // bytes of the header text the MAC covers
};

// Parses a whole header: the text from the intro line through the MAC line and its newline. Checks the
// grammar only (intro, stanza lines, argument characters, body line lengths, canonical base64, the
// "--- " line with a 32-byte MAC, at least one stanza); errors are header_error()s. Stanza types are
// checked by keys.hpp.
Result<Header> parse_header(std::string_view text);

} // namespace dbkeep::stream::age
