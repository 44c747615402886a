// The stages between an engine and storage, assembled for a target: counter -> zstd -> [age] -> sha256 ->
// object writer; and the reverse for reading a backup back.
#pragma once

#include "catalog/manifest.hpp"
#include "stream/sink.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::config {
struct TargetConfig;
}
namespace dbkeep::storage {
class Storage;
}

namespace dbkeep::job {

class WritePipeline {
public:
    virtual ~WritePipeline() = default;
    // Where the engine writes the raw dump. finish()/abort() on it reach the object writer.
    virtual stream::Sink& head() = 0;
    virtual std::uint64_t raw_bytes() const = 0;
    virtual std::uint64_t stored_bytes() const = 0;
    virtual std::string sha256() const = 0; // after finish()
    virtual std::vector<std::string> recipients() const = 0;
};

// The pipeline into `object` for target: its compression level and encryption. zstd_workers < 0 uses the
// target's compression_workers; 0 compresses in the writing thread, 1 in one thread beside it (a parallel dump's
// parts). Fails when the encryption's recipients cannot be read.
Result<std::unique_ptr<WritePipeline>> make_write_pipeline(stream::Sink& object, const config::TargetConfig& target,
                                                           int zstd_workers = -1);

struct ReadOptions {
    std::vector<std::string> identity_files; // age identities for encrypted backups
    std::string passphrase;                  // age passphrase, when the backup used one
};

// A Source of the raw dump of a stored backup: the object is read, its SHA-256 and size checked against the
// manifest when the stream ends (a mismatch is a corruption error naming the backup), decrypted and
// decompressed.
Result<std::unique_ptr<stream::Source>> open_backup(storage::Storage& storage, const catalog::Manifest& manifest,
                                                    const ReadOptions& options);

// The same for part `index` (0-based) of manifest.parts, checked against that part's size and SHA-256. Fails with
// ErrorKind::not_found for an index past the parts. Thread-safe as far as storage's open_reader is.
Result<std::unique_ptr<stream::Source>> open_backup_part(storage::Storage& storage, const catalog::Manifest& manifest,
                                                         std::size_t index, const ReadOptions& options);

// Reads the stored object of the data object (part_index empty) or of part *part_index as it is in storage, without
// decrypting or decompressing it, and checks its size and SHA-256 against the manifest: the cause to name when
// reading it through open_backup failed in a later stage (zstd, age). Fails with ErrorKind::corruption on a
// mismatch ("SHA-256 mismatch" in the message), ErrorKind::not_found for a part index past the parts, or as storage
// fails.
Status check_stored_object(storage::Storage& storage, const catalog::Manifest& manifest,
                           std::optional<std::size_t> part_index);

} // namespace dbkeep::job
