#include "job/pipeline.hpp"

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "storage/storage.hpp"
#include "stream/age/age.hpp"
#include "stream/counting.hpp"
#include "stream/sha256.hpp"
#include "stream/zstd.hpp"

#include <optional>
#include <utility>
#include <vector>

namespace dbkeep::job {
namespace {

// counter -> zstd -> [age] -> sha256 -> object
class StandardWritePipeline final : public WritePipeline {
public:
    explicit StandardWritePipeline(stream::Sink& object) : m_hash(object) {}

    // Assembles the stages above the hash; recipients empty and no passphrase: no encryption.
    Status build(const config::TargetConfig& target, const stream::AgeRecipients* recipients, int zstd_workers)
    {
        stream::Sink* below_zstd = &m_hash;
        if (recipients != nullptr) {
            auto age = stream::make_age_encryptor(m_hash, *recipients);
            if (!age) {
                return std::unexpected(age.error());
            }
            m_age = std::move(*age);
            m_recipients = recipients->x25519;
            below_zstd = m_age.get();
        }
        m_zstd = stream::make_zstd_compressor(*below_zstd,
                                              {.level = target.compression_level,
                                               .workers = zstd_workers < 0 ? target.compression_workers : zstd_workers,
                                               .adaptive = true});
        m_count = std::make_unique<stream::CountingSink>(*m_zstd);
        return {};
    }
    stream::Sink& head() override { return *m_count; }
    std::uint64_t raw_bytes() const override { return m_count->bytes(); }
    std::uint64_t stored_bytes() const override { return m_hash.bytes(); }
    std::string sha256() const override { return m_hash.hex_digest(); }
    std::vector<std::string> recipients() const override { return m_recipients; }

private:
    stream::HashingSink m_hash;
    std::vector<std::string> m_recipients;
    std::unique_ptr<stream::Sink> m_age;
    std::unique_ptr<stream::Sink> m_zstd;
    std::unique_ptr<stream::CountingSink> m_count;
};

// What a stored object must be: its size and SHA-256 as the manifest records them, and its name for messages.
struct Expected {
    std::string what; // "backup <id> of <target>", "part 3 of backup <id> of <target>"
    std::uint64_t stored_bytes = 0;
    std::string sha256;
};

// Checks size and SHA-256 of the stored object against the manifest when the stream ends.
class VerifiedObjectSource final : public stream::Source {
public:
    VerifiedObjectSource(std::unique_ptr<stream::Source> object, Expected expected)
        : m_object(std::move(object)), m_hash(*m_object), m_expected(std::move(expected))
    {
    }
    Result<std::size_t> read(MutableBytes out) override
    {
        auto n = m_hash.read(out);
        if (!n || *n != 0) {
            return n;
        }
        if (m_hash.bytes() != m_expected.stored_bytes) {
            return fail(ErrorKind::corruption, "verify", m_expected.what,
                        "object has " + std::to_string(m_hash.bytes()) + " bytes, the manifest says " +
                            std::to_string(m_expected.stored_bytes));
        }
        if (m_hash.hex_digest() != m_expected.sha256) {
            return fail(ErrorKind::corruption, "verify", m_expected.what,
                        "SHA-256 mismatch: object " + m_hash.hex_digest() + ", manifest " + m_expected.sha256);
        }
        return 0;
    }

private:
    std::unique_ptr<stream::Source> m_object;
    stream::HashingSource m_hash;
    Expected m_expected;
};

// object -> verify (size, sha256) -> [age] -> zstd
class BackupSource final : public stream::Source {
public:
    BackupSource(std::unique_ptr<stream::Source> verified, std::optional<stream::AgeIdentities> identities,
                 std::string what)
        : m_verified(std::move(verified)), m_what(std::move(what))
    {
        if (identities) {
            m_age = stream::make_age_decryptor(*m_verified, std::move(*identities));
        }
        m_zstd = stream::make_zstd_decompressor(m_age ? *m_age : *m_verified);
    }
    // A stage's error that names no object (zstd's "Restored data doesn't match checksum") names this one.
    Result<std::size_t> read(MutableBytes out) override
    {
        auto n = m_zstd->read(out);
        if (!n && n.error().object.empty()) {
            auto e = n.error();
            e.object = m_what;
            return std::unexpected(std::move(e));
        }
        return n;
    }

private:
    std::unique_ptr<stream::Source> m_verified;
    std::string m_what;
    std::unique_ptr<stream::Source> m_age;
    std::unique_ptr<stream::Source> m_zstd;
};

} // namespace

Result<std::unique_ptr<WritePipeline>> make_write_pipeline(stream::Sink& object, const config::TargetConfig& target,
                                                           int zstd_workers)
{
    auto pipeline = std::make_unique<StandardWritePipeline>(object);
    if (!target.encryption.enabled()) {
        if (auto st = pipeline->build(target, nullptr, zstd_workers); !st) {
            return std::unexpected(st.error());
        }
        return pipeline;
    }
    stream::AgeRecipients recipients;
    recipients.x25519 = target.encryption.recipients;
    if (!target.encryption.recipients_file.empty()) {
        auto more = stream::read_recipients_file(target.encryption.recipients_file);
        if (!more) {
            return std::unexpected(more.error());
        }
        recipients.x25519.insert(recipients.x25519.end(), more->begin(), more->end());
    }
    recipients.passphrase = target.encryption.passphrase;
    if (auto st = pipeline->build(target, &recipients, zstd_workers); !st) {
        return wrap(st.error(), "set up encryption for " + target.name);
    }
    return pipeline;
}

namespace {

Result<std::unique_ptr<stream::Source>> open_object(storage::Storage& storage, const catalog::Manifest& manifest,
                                                    const std::string& key, Expected expected,
                                                    const ReadOptions& options)
{
    std::optional<stream::AgeIdentities> identities;
    if (manifest.encryption == "age") {
        identities.emplace();
        for (const auto& file : options.identity_files) {
            auto ids = stream::read_identity_file(file);
            if (!ids) {
                return std::unexpected(ids.error());
            }
            identities->x25519.insert(identities->x25519.end(), ids->begin(), ids->end());
        }
        identities->passphrase = Secret(options.passphrase);
        if (identities->x25519.empty() && identities->passphrase.empty()) {
            return fail(ErrorKind::config, "read backup", manifest.id, "the backup is encrypted",
                        "pass --identity FILE or set DBKEEP_IDENTITY_FILE (or the target's passphrase)");
        }
    } else if (!manifest.encryption.empty()) {
        return fail(ErrorKind::corruption, "read backup", manifest.id,
                    "unknown encryption '" + manifest.encryption + "'");
    }
    auto object = storage.open_reader(key);
    if (!object) {
        return std::unexpected(object.error());
    }
    std::string what = expected.what;
    auto verified = std::make_unique<VerifiedObjectSource>(std::move(*object), std::move(expected));
    return std::make_unique<BackupSource>(std::move(verified), std::move(identities), std::move(what));
}

} // namespace

namespace {

// The key and the Expected of the data object (part_index empty) or of part *part_index; not_found past the parts.
Result<std::pair<std::string, Expected>> object_of(const catalog::Manifest& manifest,
                                                   std::optional<std::size_t> part_index)
{
    if (!part_index) {
        return std::pair{manifest.object_key, Expected{"backup " + manifest.id + " of " + manifest.target,
                                                       manifest.stored_bytes, manifest.sha256}};
    }
    const std::size_t index = *part_index;
    if (index >= manifest.parts.size()) {
        return fail(ErrorKind::not_found, "read backup", manifest.id,
                    "it has no part " + std::to_string(index + 1) + " (it has " +
                        std::to_string(manifest.parts.size()) + ")");
    }
    const auto& part = manifest.parts[index];
    return std::pair{
        part.key, Expected{"part " + std::to_string(index + 1) + " of backup " + manifest.id + " of " + manifest.target,
                           part.stored_bytes, part.sha256}};
}

} // namespace

Result<std::unique_ptr<stream::Source>> open_backup(storage::Storage& storage, const catalog::Manifest& manifest,
                                                    const ReadOptions& options)
{
    auto object = object_of(manifest, std::nullopt);
    return open_object(storage, manifest, object->first, std::move(object->second), options);
}

Result<std::unique_ptr<stream::Source>> open_backup_part(storage::Storage& storage, const catalog::Manifest& manifest,
                                                         std::size_t index, const ReadOptions& options)
{
    auto object = object_of(manifest, index);
    if (!object) {
        return std::unexpected(object.error());
    }
    return open_object(storage, manifest, object->first, std::move(object->second), options);
}

Status check_stored_object(storage::Storage& storage, const catalog::Manifest& manifest,
                           std::optional<std::size_t> part_index)
{
    auto what = object_of(manifest, part_index);
    if (!what) {
        return std::unexpected(what.error());
    }
    auto object = storage.open_reader(what->first);
    if (!object) {
        return std::unexpected(object.error());
    }
    VerifiedObjectSource verified(std::move(*object), std::move(what->second));
    if (auto read = stream::drain(verified); !read) {
        return std::unexpected(read.error());
    }
    return {};
}

} // namespace dbkeep::job
