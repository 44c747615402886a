// Signed requests to one S3 bucket: addressing (path or virtual-hosted style), SigV4 signing with the
// credential chain, retries of transient failures through with_retry, and the mapping of S3 error answers
// (the S3 API's error codes) to ErrorKinds. read.cpp, write.cpp and storage.cpp build on it.
#pragma once

#include "core/http.hpp"
#include "storage/s3/credentials.hpp"
#include "storage/s3/s3.hpp"
#include "storage/s3/sigv4.hpp"

#include <mutex>
#include <string>

namespace dbkeep::storage::s3 {

struct Call {
    std::string method;    // GET, HEAD, PUT, POST, DELETE
    std::string key;       // full object key (prefix included); "" for the bucket
    sigv4::Pairs query;    // raw names and values
    sigv4::Pairs headers;  // extra headers, signed
    std::string_view body; // sent whole; not owned: the caller keeps it alive until call() returns
    std::string operation; // for errors: "upload part", "list objects"
    bool cleanup = false;  // still sent after SIGINT/SIGTERM (aborting a multipart upload)
    // The answer may come slower than k_min_transfer_rate for long (CompleteMultipartUpload: S3 sends whitespace
    // every few seconds while it assembles the parts); only a full stall of stall_timeout fails it.
    bool slow_answer = false;
};

// Below this rate (bytes a second) for stall_timeout, a transfer is as stalled as one that sends nothing: a
// server trickling 2 bytes a second would otherwise hold a request for hours. It fails and is retried.
inline constexpr std::uint64_t k_min_transfer_rate = 1024;

class Client {
public:
    explicit Client(const S3Options& options);

    // Sends the call, retrying transient failures (connection errors, timeouts, 500, 502, 503, 504, 429,
    // SlowDown, RequestTimeout) up to 6 attempts with backoff; a 501 (a feature the store lacks) is final. Returns the
    // answer only for a 2xx status; otherwise not_found (404), conflict (412, 409 ConditionalRequestConflict), auth
    // (401, 403; the hint names the credential source or the IAM permissions), transient (after the last retry),
    // cancelled, or failed. Thread-safe.
    Result<http::Response> call(const Call& call);

    // Like call() but any HTTP answer, error statuses included, comes back as a Response (with all its
    // headers); fails only when no answer came (transient after the retries, cancelled, or auth/failed from
    // the credential chain). Thread-safe.
    Result<http::Response> exchange(const Call& call);

    // prefix + "/" + key (or key without a prefix), and back.
    std::string full_key(const std::string& key) const;
    std::string relative_key(const std::string& full) const;

    // The time this machine believes it is (the system clock plus the test-only clock offset).
    std::chrono::system_clock::time_point now() const;

    const S3Options& options() const noexcept { return m_options; }
    CredentialProvider& credentials() noexcept { return m_credentials; }

private:
    Result<http::Response> once(const Call& call);
    Error to_error(const Call& call, const http::Response& response);

    // Follows a 301 to the bucket's region when the region was not given (S3Options::region_given); true
    // when it switched (the call is then worth repeating once).
    bool follow_region(const http::Response& response);
    // The region and host requests go to now (both change when follow_region switches).
    std::pair<std::string, std::string> region_and_host() const;

    S3Options m_options;
    CredentialProvider m_credentials;
    std::string m_scheme;
    mutable std::mutex m_region_mutex; // guards m_region and m_host
    std::string m_region, m_host;
    bool m_path_style = true;
};

// The headers that apply S3Options to a new object (storage class, server-side encryption).
sigv4::Pairs put_headers(const S3Options& options);

// base64 of the MD5 of body, for Content-MD5 (RFC 1864). Pure; thread-safe.
std::string content_md5(std::string_view body);

// Whether an error from call() is the store's "501 Not Implemented": the request is valid S3 but this
// S3-compatible server lacks the feature (s3rver and some others lack ListMultipartUploads). Pure.
bool not_implemented(const Error& error) noexcept;

// The hint for an S3 error answer (other than a region redirect), chosen by the cause S3 names in its error
// Code, never by the HTTP status alone: NoSuchBucket names `bucket`; SignatureDoesNotMatch the secret key,
// InvalidAccessKeyId the key id, ExpiredToken / InvalidToken / TokenRefreshRequired the session token (each
// with `credential_source`); RequestTimeTooSkewed the clock; AccessDenied (or a 401/403 without a Code, as a
// HEAD answer has no body) the IAM permission `operation` (a Call::operation) needs. Empty for any other
// answer (NoSuchKey, 5xx, ...): a hint that does not fit the cause is worse than none. Pure.
std::string error_hint(long status, const std::string& code, const std::string& operation, const std::string& bucket,
                       const std::string& credential_source);

} // namespace dbkeep::storage::s3
