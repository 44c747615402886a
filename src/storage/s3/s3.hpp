// S3-compatible object storage (AWS S3, MinIO, R2, B2, Ceph, Wasabi) behind the Storage interface (the S3 REST
// API, signed with AWS Signature Version 4). Keys are relative to the configured prefix. Writers stream: a
// small object is one PUT; a larger one becomes a multipart upload whose parts upload `concurrency` at a time
// while the next part fills (memory: parts in flight x part size), and which is aborted on any failure,
// SIGINT or SIGTERM. The plug-in owns its options; config/ fills them from the YAML file.
#pragma once

#include "core/secret.hpp"
#include "storage/storage.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace dbkeep::storage {

// How a bucket is addressed: https://endpoint/bucket/key (path) or https://bucket.endpoint/key (virtual
// hosted); automatic is path style for a custom endpoint (MinIO, Ceph, s3rver) and virtual hosted for AWS.
enum class PathStyle { automatic, path, virtual_hosted };

// Server-side encryption requested on every object (x-amz-server-side-encryption).
enum class ServerSideEncryption { none, aes256, kms };

struct S3Options {
    std::string bucket;
    std::string prefix; // no leading or trailing '/'
    std::string region = "us-east-1";
    // False when `region` is only the default (neither the file nor AWS_REGION/AWS_DEFAULT_REGION named one):
    // then a bucket that answers 301 with its region (x-amz-bucket-region) is followed there, once, with a
    // warning; a region that was given is never overridden (the 301 is a config error naming the region).
    bool region_given = true;
    std::string endpoint; // scheme://host[:port], no path; empty: AWS, https://s3.<region>.amazonaws.com
    PathStyle path_style = PathStyle::automatic;           // `path_style: auto | true | false` in the file
    std::string storage_class;                             // empty: the bucket's default
    ServerSideEncryption sse = ServerSideEncryption::none; // `server_side_encryption: AES256 | aws:kms`
    std::string sse_kms_key_id;                            // with aws:kms: the key; empty: the account's default key
    std::uint64_t part_size = 16ull << 20;                 // bytes per multipart part, 5 MiB..5 GiB
    int concurrency = 4;                                   // parts uploading at once, 1..64
    std::chrono::seconds stall_timeout{60}; // a transfer that moves no byte this long is aborted and retried
    std::string access_key_id;              // explicit credentials, only through ${ENV} in the file
    Secret secret_access_key;
    Secret session_token;
    std::string profile; // AWS profile name, else AWS_PROFILE or "default"
    // Tests only: sign (and judge the server's Date) as if this machine's clock were off by this much.
    std::chrono::seconds clock_offset{0};
};

// Why `endpoint` cannot address an S3 service ("must start with http:// or https://", "must not have a path"),
// or nullopt when it can (and for "", meaning AWS). An endpoint is scheme://host[:port] with an optional
// trailing '/'. Pure; thread-safe.
std::optional<std::string> s3_endpoint_problem(const std::string& endpoint);

// A Storage over the bucket and prefix. Makes no request: a wrong endpoint, bucket or credential shows on
// the first call (ErrorKind::auth for rejected credentials, not_found for a missing bucket, transient for an
// unreachable endpoint after the retries). Does not fail today; the Result leaves room for eager checks.
// The Storage is thread-safe as the interface states.
Result<std::unique_ptr<Storage>> make_s3_storage(const S3Options& options);

// Seconds this machine's clock is ahead of (positive) or behind (negative) the server's `Date` header
// (RFC 9110 section 6.6.1), read from whatever the server answers to a HEAD of the bucket, a 403
// RequestTimeTooSkewed included: SigV4 fails past 15 minutes of skew. Fails with the request's error
// (transient, cancelled, ...) when no answer came, or failed when the answer has no readable Date.
// Thread-safe.
Result<long> s3_clock_skew(const S3Options& options);

} // namespace dbkeep::storage
