// Where backup objects live. One interface for every backend (local directory, S3); wrappers (retry,
// fault injection) implement the same interface around another Storage.
//
// Keys are '/'-separated relative paths without a leading '/', e.g. "orders/2026/11/20261125T000000Z-ab12.pgdump.zst".
// All methods are safe to call from several threads on one Storage; an ObjectWriter or a Source is used by
// one thread at a time.
#pragma once

#include "core/finding.hpp"
#include "stream/sink.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::storage {

struct ObjectInfo {
    std::string key;
    std::uint64_t size = 0;
    std::int64_t modified_unix = 0; // seconds since the epoch, UTC
};

// An object being written. write() streams data; finish() commits: only then does the object become
// visible under its key (local: rename of a temp file; S3: PUT or CompleteMultipartUpload). abort(), or
// destruction without finish(), removes every trace (temp file, multipart upload).
class ObjectWriter : public stream::Sink {};

struct ByteRange {
    std::uint64_t offset = 0;
    std::optional<std::uint64_t> length; // empty: to the end
};

// A write that never completed (local: a "<key>.tmp-<random>" file; S3: a multipart upload never completed
// or aborted). Never part of a backup.
struct IncompleteWrite {
    std::string key;                // the object it was meant to become
    std::string handle;             // the backend's name for it (local: the temp file's key)
    std::int64_t modified_unix = 0; // last written (local: mtime), seconds since the epoch
    std::uint64_t size = 0;
};

class Storage {
public:
    virtual ~Storage() = default;

    // A new object at key, replacing any existing one when committed.
    virtual Result<std::unique_ptr<ObjectWriter>> open_writer(const std::string& key) = 0;

    // Reads an object. A missing key fails with ErrorKind::not_found.
    virtual Result<std::unique_ptr<stream::Source>> open_reader(const std::string& key, ByteRange range = {}) = 0;

    // Size and time of one object; not_found when missing.
    virtual Result<ObjectInfo> stat(const std::string& key) = 0;

    // Every object whose key starts with prefix (a plain string prefix, not only folders), in key order.
    // Fails rather than returning a partial list.
    virtual Result<std::vector<ObjectInfo>> list(const std::string& prefix) = 0;

    // Removes the keys; a key that is already missing is not an error.
    virtual Status remove(const std::vector<std::string>& keys) = 0;

    // Writes a small object only if no object exists at key: returns true when created, false when one
    // already existed (the caller lost the race). Backends that cannot do this atomically say so through
    // supports_conditional_create().
    virtual Result<bool> create_if_absent(const std::string& key, const std::string& bytes) = 0;
    virtual bool supports_conditional_create() const = 0;

    // Incomplete writes whose key starts with prefix. The default (a backend that cannot find them) is none.
    virtual Result<std::vector<IncompleteWrite>> list_incomplete(const std::string& prefix)
    {
        (void)prefix;
        return std::vector<IncompleteWrite>{};
    }
    // Discards one incomplete write that list_incomplete returned; never touches a complete object. One
    // that is already gone is not an error.
    virtual Status discard_incomplete(const IncompleteWrite& write)
    {
        (void)write;
        return {};
    }

    // "local /mnt/efs/backups", "s3 s3://bucket/prefix": for messages, never containing a secret.
    virtual std::string describe() const = 0;

    // `dbkeep check`: what this backend needs, proven by doing it: write, read back, list and delete a small
    // object under key_prefix (a target's folder), plus what the backend alone knows (S3: the server's clock).
    // Never fails: problems are findings with a remedy that names this backend's fix. Leaves no object.
    virtual std::vector<Finding> probe(const std::string& key_prefix) = 0;
};

// What a backend tells the user to fix when one step of the round trip fails.
struct ProbeRemedies {
    std::string write, read, list, remove;
};

// The round trip behind every backend's probe(): write, read back, list and delete a probe object under
// key_prefix, then whether conditional create makes leases exact. Findings "storage.write", "storage.read",
// "storage.list", "storage.delete" (a failure's remedy is the storage error's hint when it has one, else the
// backend's when the error is a refusal (ErrorKind::auth), else none; a probe object read back wrong or not
// listed has no remedy), "storage" (all passed) and "storage.lease".
std::vector<Finding> probe_round_trip(Storage& storage, const std::string& key_prefix, const ProbeRemedies& remedies);

// Writes a small object in one go (manifests, leases).
Status put_object(Storage& storage, const std::string& key, const std::string& bytes);
// Reads a small object whole.
Result<std::string> get_object(Storage& storage, const std::string& key, std::size_t max_bytes = 64 << 20);

} // namespace dbkeep::storage
