// The one HTTP client (HTTP/1.1 over libcurl, RFC 9110/9112): S3, the AWS credential endpoints and the Docker
// Engine API all speak through it. A request is one call that returns the status, every response header and
// the body whatever the status; an Upgraded stream carries a hijacked connection (Docker's exec attach).
#pragma once

#include "core/bytes.hpp"
#include "core/error.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dbkeep::http {

// Header fields in the order sent or received. Names keep their case when sent; received names are lowercased.
using Headers = std::vector<std::pair<std::string, std::string>>;

// Fills `out` with the next bytes of a streamed request body; returns how many (0 at the end) or an error,
// which aborts the request with that error.
using BodyReader = std::function<Result<std::size_t>(MutableBytes out)>;

struct Request {
    std::string method = "GET"; // GET, HEAD, PUT, POST, DELETE, ...
    std::string url;            // absolute: http[s]://host[:port]/path?query, already percent-encoded
    Headers headers;            // added to libcurl's Host/Content-Length; "Name:" (no value) removes a default
    std::string body;           // sent as is when reader is empty (never for GET/HEAD)
    BodyReader reader;          // a streamed body instead of `body`
    std::optional<std::uint64_t> reader_size; // Content-Length of the streamed body; empty: chunked
    std::string unix_socket;                  // connect to this unix socket instead of the URL's host
    std::chrono::milliseconds timeout{0};     // the whole request, connect to last byte; 0: none
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::seconds low_speed_time{0}; // fail when slower than low_speed_bytes/s this long; 0: off
    std::uint64_t low_speed_bytes = 1;
    std::size_t max_body = std::size_t{16} << 20; // a longer response body fails the request
    bool ignore_cancel = false;                   // cleanup requests (abort an upload) that must still go out
};

struct Response {
    long status = 0;  // the final status code (1xx interim answers are skipped)
    Headers headers;  // every header field of the final answer, names lowercased, values trimmed
    std::string body; // at most Request::max_body bytes

    // The first value of a header (name in any case), or nullopt.
    std::optional<std::string> header(std::string_view name) const;
};

// Whether an answer with this status is worth sending again (RFC 9110 section 15.6, RFC 6585): 408, 429,
// 500, 502, 503, 504. Other statuses, 501 Not Implemented and 505 among them, are final. Pure.
bool retryable_status(long status) noexcept;

// Sends one request and reads the whole answer. Any HTTP status, 4xx and 5xx included, is a Response: the
// caller maps statuses to errors. Fails with
//   cancelled  when cancel::requested() turns true (checked at least once a second) unless ignore_cancel;
//   transient  when the connection cannot be made or breaks, or the deadline or the low-speed limit passes;
//   auth       when the unix socket refuses this user (EACCES);
//   failed     when the body exceeds max_body, the URL is malformed, or the reader fails with that kind.
// Errors carry `operation` and `object` as given (never the URL's query, which may hold a token).
// Thread-safe: each call uses its own connection.
Result<Response> perform(const Request& request, std::string_view operation, std::string_view object);

// A connection taken over after an HTTP upgrade (101 Switching Protocols, or Docker's 200 hijack): raw bytes
// both ways. One thread may read while another writes; shutdown() may be called from any thread.
class Upgraded {
public:
    virtual ~Upgraded() = default;
    // The status and headers of the answer that upgraded the connection.
    virtual const Response& response() const = 0;
    // Reads what is available (blocks until at least one byte, the peer's close, or cancellation): returns the
    // byte count, 0 at the peer's close; fails with cancelled, or transient on a broken connection.
    virtual Result<std::size_t> read(MutableBytes out) = 0;
    // Writes all of data; fails with cancelled, or failed on a closed connection (message names EPIPE).
    virtual Status write(Bytes data) = 0;
    // Half-closes our side: the peer reads its end of input.
    virtual void shutdown_write() noexcept = 0;
    // Closes both directions and wakes a blocked read or write (which then fail or return 0).
    virtual void shutdown() noexcept = 0;
};

struct UpgradeResult {
    std::unique_ptr<Upgraded> stream; // set when the answer was 101 or 200
    Response refused;                 // the whole answer otherwise (body up to max_body)
};

// Sends `request` (string body only, over libcurl's CURLOPT_CONNECT_ONLY connection) and reads the answer's
// head. A 101 or 200 answer hands the connection over as an Upgraded stream; any other answer is read whole
// (Content-Length, or up to the close) into `refused`. Fails like perform(); also failed when the answer's
// head exceeds 64 KiB. Thread-safe: each call uses its own connection.
Result<UpgradeResult> upgrade(const Request& request, std::string_view operation, std::string_view object);

} // namespace dbkeep::http
