// S3-compatible object storage (AWS S3, MinIO, R2, B2, Ceph, Wasabi) behind the Storage interface. Keys are
// relative to the configured prefix. Writers stream: a small object is one PUT; a larger one becomes a
// multipart upload whose parts upload `concurrency` at a time while the next part fills (memory: parts in
// flight x part size), and which is aborted on any failure, SIGINT or SIGTERM.
#pragma once

#include "storage/storage.hpp"

namespace dbkeep::config {
struct S3StorageConfig;
}

namespace dbkeep::storage {

Result<std::unique_ptr<Storage>> make_s3_storage(const config::S3StorageConfig& config);

// Seconds this machine's clock is ahead of (positive) or behind the server's `Date` header. SigV4 fails past
// 15 minutes of skew.
Result<long> s3_clock_skew(const config::S3StorageConfig& config);

} // namespace dbkeep::storage
