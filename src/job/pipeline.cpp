#include "job/pipeline.hpp"

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "runner/docker/docker.hpp"
#include "runner/ecs.hpp"
#include "runner/local.hpp"
#include "runner/prefix.hpp"
#include "storage/storage.hpp"
#include "stream/age.hpp"
#include "stream/sha256.hpp"
#include "stream/zstd.hpp"

#include <optional>

namespace dbkeep::job {
namespace {

// counter -> zstd -> [age] -> sha256 -> object
class StandardWritePipeline final : public WritePipeline {
public:
    explicit StandardWritePipeline(stream::Sink& object) : m_hash(object) {}

    // Assembles the stages above the hash; recipients empty and no passphrase: no encryption.
    Status build(const config::TargetConfig& target, const stream::AgeRecipients* recipients)
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
        m_zstd = stream::make_zstd_compressor(
            *below_zstd, {.level = target.compression_level, .workers = target.compression_workers, .adaptive = true});
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

// Checks size and SHA-256 of the stored object against the manifest when the stream ends.
class VerifiedObjectSource final : public stream::Source {
public:
    VerifiedObjectSource(std::unique_ptr<stream::Source> object, const catalog::Manifest& m)
        : m_object(std::move(object)), m_hash(*m_object), m_manifest(m)
    {
    }
    Result<std::size_t> read(MutableBytes out) override
    {
        auto n = m_hash.read(out);
        if (!n || *n != 0) {
            return n;
        }
        const std::string what = "backup " + m_manifest.id + " of " + m_manifest.target;
        if (m_hash.bytes() != m_manifest.stored_bytes) {
            return fail(ErrorKind::corruption, "verify", what,
                        "object has " + std::to_string(m_hash.bytes()) + " bytes, the manifest says " +
                            std::to_string(m_manifest.stored_bytes));
        }
        if (m_hash.hex_digest() != m_manifest.sha256) {
            return fail(ErrorKind::corruption, "verify", what,
                        "SHA-256 mismatch: object " + m_hash.hex_digest() + ", manifest " + m_manifest.sha256);
        }
        return 0;
    }

private:
    std::unique_ptr<stream::Source> m_object;
    stream::HashingSource m_hash;
    catalog::Manifest m_manifest;
};

// object -> verify (size, sha256) -> [age] -> zstd
class BackupSource final : public stream::Source {
public:
    BackupSource(std::unique_ptr<stream::Source> verified, std::optional<stream::AgeIdentities> identities)
        : m_verified(std::move(verified))
    {
        if (identities) {
            m_age = stream::make_age_decryptor(*m_verified, std::move(*identities));
        }
        m_zstd = stream::make_zstd_decompressor(m_age ? *m_age : *m_verified);
    }
    Result<std::size_t> read(MutableBytes out) override { return m_zstd->read(out); }

private:
    std::unique_ptr<stream::Source> m_verified;
    std::unique_ptr<stream::Source> m_age;
    std::unique_ptr<stream::Source> m_zstd;
};

} // namespace

Result<std::unique_ptr<WritePipeline>> make_write_pipeline(stream::Sink& object, const config::TargetConfig& target)
{
    auto pipeline = std::make_unique<StandardWritePipeline>(object);
    if (!target.encryption.enabled()) {
        if (auto st = pipeline->build(target, nullptr); !st) {
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
    if (auto st = pipeline->build(target, &recipients); !st) {
        return wrap(st.error(), "set up encryption for " + target.name);
    }
    return pipeline;
}

Result<std::unique_ptr<stream::Source>> open_backup(storage::Storage& storage, const catalog::Manifest& manifest,
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
    auto object = storage.open_reader(manifest.object_key);
    if (!object) {
        return std::unexpected(object.error());
    }
    auto verified = std::make_unique<VerifiedObjectSource>(std::move(*object), manifest);
    return std::make_unique<BackupSource>(std::move(verified), std::move(identities));
}

Result<std::unique_ptr<runner::Runner>> open_runner(const config::TargetConfig& target)
{
    const auto& r = target.runner;
    if (r.type == "local") {
        return runner::make_local_runner();
    }
    if (r.type == "command") {
        std::string desc = "command";
        for (const auto& a : r.argv) {
            desc += " " + a;
        }
        return runner::make_prefix_runner(r.argv, false, desc);
    }
    if (r.type == "ssh") {
        return runner::make_prefix_runner(runner::ssh_prefix(r), true,
                                          "ssh " + (r.user.empty() ? "" : r.user + "@") + r.host);
    }
    if (r.type == "kubectl") {
        return runner::make_prefix_runner(runner::kubectl_prefix(r), false,
                                          "kubectl pod " + (r.namespace_.empty() ? "" : r.namespace_ + "/") + r.pod);
    }
    if (r.type == "ecs") {
        return runner::make_ecs_runner(runner::ecs_options(r));
    }
    if (r.type == "docker") {
        return runner::make_docker_runner({.host = r.host, .container = r.container, .user = r.user});
    }
    return fail(ErrorKind::config, "open runner for", target.name,
                "runner type '" + target.runner.type + "' is not supported yet");
}

EngineHandle::EngineHandle() = default;
EngineHandle::EngineHandle(EngineHandle&&) noexcept = default;
EngineHandle::~EngineHandle()
{
    engine.reset(); // before the runner it refers to
}

Result<EngineHandle> open_engine(const config::TargetConfig& target)
{
    EngineHandle h;
    auto runner = open_runner(target);
    if (!runner) {
        return std::unexpected(runner.error());
    }
    h.runner = std::move(*runner);
    auto engine = engine::make_engine(target, *h.runner);
    if (!engine) {
        return std::unexpected(engine.error());
    }
    h.engine = std::move(*engine);
    return h;
}

} // namespace dbkeep::job
