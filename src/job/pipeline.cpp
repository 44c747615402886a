#include "job/pipeline.hpp"

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "runner/local.hpp"
#include "storage/storage.hpp"
#include "stream/sha256.hpp"
#include "stream/zstd.hpp"

namespace dbkeep::job {
namespace {

class StandardWritePipeline final : public WritePipeline {
public:
    StandardWritePipeline(stream::Sink& object, const config::TargetConfig& target)
        : m_hash(object),
          m_zstd(stream::make_zstd_compressor(m_hash, {.level = target.compression_level,
                                                        .workers = target.compression_workers,
                                                        .adaptive = true})),
          m_count(*m_zstd)
    {
    }
    stream::Sink& head() override { return m_count; }
    std::uint64_t raw_bytes() const override { return m_count.bytes(); }
    std::uint64_t stored_bytes() const override { return m_hash.bytes(); }
    std::string sha256() const override { return m_hash.hex_digest(); }
    std::vector<std::string> recipients() const override { return {}; }

private:
    stream::HashingSink m_hash;
    std::unique_ptr<stream::Sink> m_zstd;
    stream::CountingSink m_count;
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

class BackupSource final : public stream::Source {
public:
    explicit BackupSource(std::unique_ptr<stream::Source> verified)
        : m_verified(std::move(verified)), m_zstd(stream::make_zstd_decompressor(*m_verified))
    {
    }
    Result<std::size_t> read(MutableBytes out) override { return m_zstd->read(out); }

private:
    std::unique_ptr<stream::Source> m_verified;
    std::unique_ptr<stream::Source> m_zstd;
};

} // namespace

Result<std::unique_ptr<WritePipeline>> make_write_pipeline(stream::Sink& object, const config::TargetConfig& target)
{
    if (target.encryption.enabled()) {
        return fail(ErrorKind::config, "set up encryption for", target.name, "encryption is not available in this build");
    }
    return std::make_unique<StandardWritePipeline>(object, target);
}

Result<std::unique_ptr<stream::Source>> open_backup(storage::Storage& storage, const catalog::Manifest& manifest,
                                                    const ReadOptions&)
{
    if (!manifest.encryption.empty()) {
        return fail(ErrorKind::config, "read backup", manifest.id, "encrypted backups are not supported in this build");
    }
    auto object = storage.open_reader(manifest.object_key);
    if (!object) {
        return std::unexpected(object.error());
    }
    auto verified = std::make_unique<VerifiedObjectSource>(std::move(*object), manifest);
    return std::make_unique<BackupSource>(std::move(verified));
}

Result<std::unique_ptr<runner::Runner>> open_runner(const config::TargetConfig& target)
{
    if (target.runner.type == "local") {
        return runner::make_local_runner();
    }
    return fail(ErrorKind::config, "open runner for", target.name, "runner type '" + target.runner.type + "' is not supported yet");
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
