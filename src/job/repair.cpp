#include "job/repair.hpp"
#include "job/context.hpp"

#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "config/config.hpp"
#include "core/cancel.hpp"
#include "core/time.hpp"
#include "engine/engine.hpp"
#include "job/open.hpp"
#include "observe/log.hpp"
#include "storage/storage.hpp"
#include "stream/age/age.hpp"
#include "stream/sha256.hpp"
#include "stream/zstd.hpp"

#include <algorithm>

namespace dbkeep::job {
namespace {

// Counts the raw bytes the engine reads and stops the read when cancellation is requested.
class RawCountingSource final : public stream::Source {
public:
    explicit RawCountingSource(stream::Source& inner) : m_inner(inner) {}
    Result<std::size_t> read(MutableBytes out) override
    {
        if (cancel::requested()) {
            return fail_cancelled("read", "orphan");
        }
        auto n = m_inner.read(out);
        if (n) {
            m_bytes += *n;
        }
        return n;
    }
    std::uint64_t bytes() const noexcept { return m_bytes; }

private:
    stream::Source& m_inner;
    std::uint64_t m_bytes = 0;
};

// The age identities to try on an encrypted orphan, as open_backup gathers them.
Result<stream::AgeIdentities> identities_for(const ReadOptions& options, const std::string& key)
{
    stream::AgeIdentities ids;
    for (const auto& file : options.identity_files) {
        auto read = stream::read_identity_file(file);
        if (!read) {
            return std::unexpected(read.error());
        }
        ids.x25519.insert(ids.x25519.end(), read->begin(), read->end());
    }
    ids.passphrase = Secret(options.passphrase);
    if (ids.x25519.empty() && ids.passphrase.empty()) {
        return fail(ErrorKind::config, "read", key, "the object is encrypted (.age) and no identity was given",
                    "pass --identity FILE or set DBKEEP_IDENTITY_FILE (or configure the target's passphrase)");
    }
    return ids;
}

// The recipients the target is configured with now (public keys only).
std::vector<std::string> configured_recipients(const config::TargetConfig& target)
{
    std::vector<std::string> out = target.encryption.recipients;
    if (!target.encryption.recipients_file.empty()) {
        if (auto more = stream::read_recipients_file(target.encryption.recipients_file)) {
            out.insert(out.end(), more->begin(), more->end());
        }
    }
    return out;
}

// Reads one orphan whole and builds its manifest; writes nothing.
Result<catalog::Manifest> rebuild(const config::TargetConfig& target, storage::Storage& storage, engine::Engine& engine,
                                  const std::string& runner, const std::string& key, const OrphanName& name,
                                  const RepairOptions& options)
{
    std::optional<stream::AgeIdentities> identities;
    if (name.encrypted) {
        auto ids = identities_for(options.read, key);
        if (!ids) {
            return std::unexpected(ids.error());
        }
        identities = std::move(*ids);
    }
    auto object = storage.open_reader(key);
    if (!object) {
        return std::unexpected(object.error());
    }
    stream::HashingSource hashed(**object);
    std::unique_ptr<stream::Source> decrypted;
    if (identities) {
        decrypted = stream::make_age_decryptor(hashed, std::move(*identities));
    }
    auto raw = stream::make_zstd_decompressor(decrypted ? *decrypted : static_cast<stream::Source&>(hashed));
    RawCountingSource counted(*raw);
    auto info = engine.inspect(counted);
    if (!info) {
        return std::unexpected(info.error());
    }
    // The decompressor read its input to the end, so the digest is final; drained anyway should a stage
    // above the hash stop early.
    std::vector<std::uint8_t> buf(1 << 16);
    for (;;) {
        auto n = hashed.read(buf);
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            break;
        }
    }

    const auto started = catalog::backup_time(name.id);
    const auto now = options.now ? options.now() : std::chrono::system_clock::now();
    catalog::Manifest m;
    m.id = name.id;
    m.target = target.name;
    m.engine = target.engine_name();
    m.server_version = info->server_version;
    m.tool = info->tool;
    m.tool_version = info->tool_version;
    // The id holds the start time (to the second); when the backup finished is not recorded anywhere else.
    m.started_at = format_rfc3339(*started);
    m.finished_at = m.started_at;
    m.started_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(started->time_since_epoch()).count();
    m.finished_unix_ms = m.started_unix_ms;
    m.object_key = key;
    m.raw_bytes = counted.bytes();
    m.stored_bytes = hashed.bytes();
    m.sha256 = hashed.hex_digest();
    m.compression = "zstd";
    m.compression_level = target.compression_level; // a zstd frame does not record its level
    m.encryption = name.encrypted ? "age" : "";
    if (name.encrypted) {
        // The age header does not name its X25519 recipients (a stanza holds an ephemeral share and the wrapped
        // file key, nothing that identifies the recipient's public key), so these are the recipients the target
        // is configured with now, noted as such in details.
        m.encryption_recipients = configured_recipients(target);
        m.details["recipients_source"] = "the target's configuration when the manifest was repaired";
    }
    m.runner = runner;
    m.dbkeep_version = DBKEEP_VERSION;
    m.trigger = catalog::Trigger::scheduled;
    m.stats = std::move(info->stats);
    for (auto& [k, v] : info->details) {
        m.details[k] = std::move(v);
    }
    m.details["repaired"] = format_rfc3339(now);

    // The checks list_backups applies, so that what is written is listed as a backup.
    auto expected = catalog::expected_object_key(m);
    if (!expected || *expected != key) {
        return fail(ErrorKind::corruption, "repair", key,
                    "the rebuilt manifest names an object key other than its own" +
                        (expected ? " (" + *expected + ")" : std::string()));
    }
    if (auto parsed = catalog::parse_manifest(catalog::to_json(m), key); !parsed || *parsed != m) {
        return fail(ErrorKind::failed, "repair", key, "the rebuilt manifest does not read back as written");
    }
    return m;
}

// Writes m's manifest unless one exists: create_if_absent never overwrites, and the stat before it also protects
// a store whose conditional create is not exact (`check` says which).
Status commit(storage::Storage& storage, const std::string& key, const catalog::Manifest& m)
{
    const std::string manifest_key = catalog::manifest_key(m.target, m.id);
    auto existing = storage.stat(manifest_key);
    if (!existing && existing.error().kind != ErrorKind::not_found) {
        return std::unexpected(existing.error());
    }
    bool created = false;
    if (!existing) {
        auto made = storage.create_if_absent(manifest_key, catalog::to_json(m));
        if (!made) {
            return std::unexpected(made.error());
        }
        created = *made;
    }
    if (!created) {
        return fail(ErrorKind::conflict, "repair", key, "a manifest appeared at " + manifest_key + ": left alone");
    }
    return {};
}

} // namespace

Result<OrphanName> parse_orphan_key(const std::string& target, const std::string& format, const std::string& key)
{
    auto id = catalog::id_from_object_key(key);
    if (!id) {
        return fail(ErrorKind::corruption, "repair", key, "not named like a backup object (<id>." + format + ".zst)");
    }
    for (bool encrypted : {false, true}) {
        if (key == catalog::object_key(target, *id, format, encrypted)) {
            return OrphanName{*id, encrypted};
        }
    }
    if (key.find(*id + ".part-") != std::string::npos) {
        return fail(ErrorKind::corruption, "repair", key,
                    "a part of a parallel dump whose manifest is lost (or of a whole server's backup): the backup "
                    "cannot be rebuilt from its parts (what each holds is only in the manifest): left alone",
                    "`dbkeep prune " + target + " --orphans` deletes it, with the backup's other orphaned objects");
    }
    return fail(ErrorKind::corruption, "repair", key,
                "not a key this target writes (expected " + catalog::object_key(target, *id, format, false) +
                    "[.age]): left alone",
                "if it belongs elsewhere, move it there; `dbkeep prune " + target + " --orphans` deletes it");
}

Result<std::vector<RepairResult>> run_repair(const config::TargetConfig& target, storage::Storage& storage,
                                             const RepairOptions& options)
{
    const std::string op = "repair " + target.name;
    auto listing = catalog::list_backups(storage, target.name);
    if (!listing) {
        return wrap_once(listing.error(), op);
    }
    std::vector<RepairResult> results;
    if (listing->orphans.empty()) {
        return results;
    }
    // Reading a dump needs no database: the engine is built only for its format and its inspect().
    auto handle = open_engine(target);
    if (!handle) {
        return wrap_once(handle.error(), op);
    }
    const std::string format = handle->engine->format();
    const std::string runner = handle->runner->describe();
    auto orphans = listing->orphans;
    std::sort(orphans.begin(), orphans.end());
    for (const auto& key : orphans) {
        if (cancel::requested()) {
            return fail_cancelled(op, "");
        }
        RepairResult r{key, std::nullopt, std::nullopt, false};
        auto name = parse_orphan_key(target.name, format, key);
        if (!name) {
            r.error = name.error();
            results.push_back(std::move(r));
            continue;
        }
        // The data object of a parallel dump: without its parts (whose tables and ranges only the lost
        // manifest named) a rebuilt manifest would describe a backup missing its big tables' rows.
        const std::string parts_prefix = catalog::backup_folder(target.name, name->id) + name->id + ".part-";
        if (std::any_of(listing->keys.begin(), listing->keys.end(),
                        [&](const std::string& k) { return k.starts_with(parts_prefix); })) {
            r.error = Error{ErrorKind::corruption, "repair", key,
                            "the data object of a parallel dump whose manifest is lost (or a whole server's globals): "
                            "without the manifest its parts cannot be put back, and alone it lacks their rows: "
                            "left alone",
                            "restore what it holds by hand with pg_restore or psql if needed (docs/format.md); "
                            "`dbkeep prune " +
                                target.name + " --orphans` deletes it and its parts"};
            results.push_back(std::move(r));
            continue;
        }
        auto m = rebuild(target, storage, *handle->engine, runner, key, *name, options);
        if (cancel::requested()) {
            return fail_cancelled(op, "");
        }
        if (!m) {
            r.error = m.error();
            observe::warn("orphan not repaired",
                          {{"target", target.name}, {"key", key}, {"error", m.error().to_string()}});
            results.push_back(std::move(r));
            continue;
        }
        r.manifest = *m;
        if (!options.dry_run && options.before_commit) {
            if (auto ours = options.before_commit(); !ours) {
                return wrap_once(ours.error(), op); // the lease is lost: commit nothing more
            }
        }
        if (!options.dry_run) {
            if (auto st = commit(storage, key, *m); !st) {
                r.error = st.error();
                r.manifest.reset();
            } else {
                r.written = true;
                observe::info("orphan repaired", {{"target", target.name}, {"key", key}, {"id", m->id}});
            }
        }
        results.push_back(std::move(r));
    }
    return results;
}

} // namespace dbkeep::job
