// Percent-encoding (RFC 3986 section 2.1), written once for URLs in the config, the Docker API's paths and
// the AWS query strings.
#pragma once

#include <string>

namespace dbkeep {

// Encodes every byte except the unreserved set (ALPHA / DIGIT / "-" / "." / "_" / "~") as %XX with uppercase
// hex, as SigV4 and RFC 3986 require; keep_slash leaves '/' as is (for paths). Thread-safe.
std::string percent_encode(const std::string& text, bool keep_slash = false);

// Decodes %XX sequences (exactly two hex digits); every other byte passes through as is, a '%' not followed
// by two hex digits included, and '+' stays '+'. Thread-safe.
std::string percent_decode(const std::string& text);

} // namespace dbkeep
