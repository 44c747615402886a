// AWS Signature Version 4 as pure functions (no clock, no I/O): canonical request, string to sign,
// signature and the Authorization header. Checked against the published AWS test suite.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dbkeep::storage::sigv4 {

using Pairs = std::vector<std::pair<std::string, std::string>>;

struct Credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token; // empty for long-term keys
};

struct Request {
    std::string method;         // GET, PUT, ...
    std::string path;           // raw, not percent-encoded: "/bucket/my key"
    Pairs query;                // raw names and values
    Pairs headers;              // as sent, including Host
    std::string payload_sha256; // lowercase hex, or "UNSIGNED-PAYLOAD"
};

struct Options {
    std::string region;
    std::string service; // "s3"
    std::chrono::system_clock::time_point time;
    bool normalize_path = false;           // remove dot segments and duplicate slashes (not for S3)
    bool sign_session_token = true;        // include X-Amz-Security-Token in the signed headers
    bool add_content_sha256_header = true; // S3 requires X-Amz-Content-Sha256
};

struct Signed {
    std::string canonical_request;
    std::string string_to_sign;
    std::string signature;
    std::string authorization; // the Authorization header's value
    Pairs added_headers;       // X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token to send
};

// Signs `request` as AWS Signature Version 4 specifies ("Create a signed AWS API request"), at options.time
// (the caller's clock: signing never reads one). Pure: no I/O, cannot fail, thread-safe.
Signed sign(const Request& request, const Credentials& credentials, const Options& options);

// RFC 3986 percent-encoding of everything but unreserved characters; '/' kept when encode_slash is false.
// Pure; thread-safe.
std::string uri_encode(const std::string& s, bool encode_slash);

// The SHA-256 of data as 64 lowercase hex digits. Pure; thread-safe.
std::string sha256_hex(std::string_view data);

} // namespace dbkeep::storage::sigv4
