#include "job/backup.hpp"
#include "core/time.hpp"
#include "job/context.hpp"

#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "config/config.hpp"
#include "core/cancel.hpp"
#include "engine/engine.hpp"
#include "job/open.hpp"
#include "job/pipeline.hpp"
#include "observe/log.hpp"
#include "observe/progress.hpp"
#include "runner/runner.hpp"
#include "storage/storage.hpp"

#include <chrono>
#include <mutex>
#include <sys/resource.h>

namespace dbkeep::job {
namespace {

// The parts of one backup: each in its own pipeline (one zstd worker thread) and object, recorded in
// opening order once finished. Every finished part's object is removed again by remove_all() when the backup
// fails; a part destroyed unfinished aborts its upload.
class BackupParts final : public engine::PartWriter {
public:
    BackupParts(storage::Storage& storage, const config::TargetConfig& target, std::string id)
        : m_storage(storage), m_target(target), m_id(std::move(id))
    {
    }

    Result<std::unique_ptr<engine::PartSink>> open_part() override
    {
        std::size_t index = 0;
        {
            const std::lock_guard lock(m_mutex);
            if (m_parts.size() >= catalog::k_max_parts) {
                return fail(ErrorKind::failed, "open a part of backup", m_id,
                            "more than " + std::to_string(catalog::k_max_parts) + " parts");
            }
            index = m_parts.size();
            m_parts.emplace_back();
            m_state.push_back(State::open);
            m_parts[index].key = catalog::part_key(m_target.name, m_id, index + 1, m_target.encryption.enabled());
        }
        const std::string key = part_key_at(index);
        auto writer = m_storage.open_writer(key);
        if (!writer) {
            set_state(index, State::aborted);
            return std::unexpected(writer.error());
        }
        // One zstd worker: compression runs beside the thread that receives the part, so the server never waits
        // for it (in the receiving thread, the two would take turns).
        auto pipeline = make_write_pipeline(**writer, m_target, 1);
        if (!pipeline) {
            (*writer)->abort();
            set_state(index, State::aborted);
            return std::unexpected(pipeline.error());
        }
        return std::make_unique<Sink>(*this, index, std::move(*writer), std::move(*pipeline));
    }

    // The finished parts, in order; fails when one was opened and never finished.
    Result<std::vector<catalog::Part>> finished() const
    {
        const std::lock_guard lock(m_mutex);
        for (std::size_t i = 0; i < m_state.size(); ++i) {
            if (m_state[i] != State::finished) {
                return fail(ErrorKind::failed, "back up", m_target.name,
                            "part " + std::to_string(i + 1) + " of backup " + m_id + " was not completed");
            }
        }
        return m_parts;
    }

    // Removes every finished part's object (a failed backup's). Best effort: what cannot be removed is an orphan
    // that list reports and prune --orphans removes.
    void remove_all() noexcept
    {
        std::vector<std::string> keys;
        {
            const std::lock_guard lock(m_mutex);
            for (std::size_t i = 0; i < m_state.size(); ++i) {
                if (m_state[i] == State::finished) {
                    keys.push_back(m_parts[i].key);
                }
            }
        }
        if (!keys.empty()) {
            const cancel::Shield cleanup;
            if (auto st = m_storage.remove(keys); !st) {
                observe::warn("cannot remove the parts of a failed backup",
                              {{"target", m_target.name}, {"id", m_id}, {"error", st.error().to_string()}});
            }
        }
    }

private:
    enum class State { open, finished, aborted };

    class Sink final : public engine::PartSink {
    public:
        Sink(BackupParts& parts, std::size_t index, std::unique_ptr<storage::ObjectWriter> writer,
             std::unique_ptr<WritePipeline> pipeline)
            : m_parts(parts), m_index(index), m_writer(std::move(writer)), m_pipeline(std::move(pipeline))
        {
        }
        ~Sink() override { Sink::abort(); }
        Sink(const Sink&) = delete;
        Sink& operator=(const Sink&) = delete;

        Status write(Bytes data) override { return m_pipeline->head().write(data); }
        Status finish() override
        {
            if (auto st = m_pipeline->head().finish(); !st) {
                abort();
                return st;
            }
            catalog::Part done;
            done.raw_bytes = m_pipeline->raw_bytes();
            done.stored_bytes = m_pipeline->stored_bytes();
            done.sha256 = m_pipeline->sha256();
            done.details = std::move(m_details);
            m_parts.complete(m_index, std::move(done));
            m_done = true;
            return {};
        }
        void abort() noexcept override
        {
            if (!m_done) {
                m_done = true;
                m_pipeline->head().abort();
                m_parts.set_state(m_index, State::aborted);
            }
        }
        void set_detail(const std::string& key, const std::string& value) override { m_details[key] = value; }

    private:
        BackupParts& m_parts;
        std::size_t m_index;
        std::unique_ptr<storage::ObjectWriter> m_writer;
        std::unique_ptr<WritePipeline> m_pipeline;
        std::map<std::string, std::string> m_details;
        bool m_done = false;
    };

    std::string part_key_at(std::size_t index) const
    {
        const std::lock_guard lock(m_mutex);
        return m_parts[index].key;
    }
    void set_state(std::size_t index, State state)
    {
        const std::lock_guard lock(m_mutex);
        m_state[index] = state;
    }
    void complete(std::size_t index, catalog::Part part)
    {
        const std::lock_guard lock(m_mutex);
        part.key = m_parts[index].key;
        m_parts[index] = std::move(part);
        m_state[index] = State::finished;
    }

    storage::Storage& m_storage;
    const config::TargetConfig& m_target;
    const std::string m_id;
    mutable std::mutex m_mutex;
    std::vector<catalog::Part> m_parts;
    std::vector<State> m_state;
};

} // namespace

Result<catalog::Manifest> run_backup(const config::Config&, const config::TargetConfig& target,
                                     storage::Storage& storage, const BackupOptions& options)
{
    auto now = options.now ? options.now : [] { return std::chrono::system_clock::now(); };
    const auto started = now();
    const auto started_steady = std::chrono::steady_clock::now();
    const std::string id = catalog::make_backup_id(started, catalog::random_suffix());
    const std::string op = "back up " + target.name;

    auto handle = open_engine(target);
    if (!handle) {
        return wrap_once(handle.error(), op);
    }
    auto& engine = *handle->engine;
    const bool encrypted = target.encryption.enabled();
    const std::string key = catalog::object_key(target.name, id, engine.format(), encrypted);
    observe::info("backup started", {{"target", target.name}, {"id", id}, {"storage", storage.describe()}});

    auto writer = storage.open_writer(key);
    if (!writer) {
        return wrap_once(writer.error(), op);
    }
    auto pipeline = make_write_pipeline(**writer, target);
    if (!pipeline) {
        (*writer)->abort();
        return wrap_once(pipeline.error(), op);
    }
    // Progress: the previous backup's raw size gives the ETA.
    std::uint64_t expected = 0;
    if (auto newest = catalog::newest_backup(storage, target.name, started); newest && *newest) {
        expected = (*newest)->raw_bytes;
    }
    auto progress = std::make_unique<observe::Progress>(
        observe::ProgressOptions{.what = "backup " + target.name,
                                 .expected_bytes = expected,
                                 .terminal = observe::Progress::stderr_is_terminal()},
        [p = pipeline->get()] { return p->raw_bytes(); });
    BackupParts parts(storage, target, id);
    auto info = engine.dump_parts((*pipeline)->head(), parts);
    progress.reset();
    // A failed backup leaves no part behind (its own object is aborted, never completed).
    auto failed = [&](const Error& e) {
        (*pipeline)->head().abort();
        parts.remove_all();
        return wrap_once(e, op);
    };
    if (!info) {
        return failed(info.error());
    }
    if (cancel::requested()) {
        (*pipeline)->head().abort();
        parts.remove_all();
        return fail_cancelled(op, "");
    }
    auto finished_parts = parts.finished();
    if (!finished_parts) {
        return failed(finished_parts.error());
    }
    if (auto st = (*pipeline)->head().finish(); !st) {
        return failed(st.error());
    }
    const auto finished = now();
    catalog::Manifest m;
    m.id = id;
    m.target = target.name;
    m.engine = target.engine_name();
    m.server_version = info->server_version;
    m.tool = info->tool;
    m.tool_version = info->tool_version;
    m.started_at = format_rfc3339(started);
    m.finished_at = format_rfc3339(finished);
    m.started_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(started.time_since_epoch()).count();
    m.finished_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(finished.time_since_epoch()).count();
    m.object_key = key;
    m.raw_bytes = (*pipeline)->raw_bytes();
    m.stored_bytes = (*pipeline)->stored_bytes();
    m.sha256 = (*pipeline)->sha256();
    m.compression = "zstd";
    m.compression_level = target.compression_level;
    m.encryption = encrypted ? "age" : "";
    m.encryption_recipients = (*pipeline)->recipients();
    m.runner = handle->runner->describe();
    m.dbkeep_version = DBKEEP_VERSION;
    m.trigger = options.trigger;
    m.stats = std::move(info->stats);
    m.details = std::move(info->details);
    m.parts = std::move(*finished_parts);
    m.format = m.parts.empty() ? catalog::k_manifest_format_single : catalog::k_manifest_format;
    std::uint64_t part_raw = 0, part_stored = 0;
    for (const auto& p : m.parts) {
        part_raw += p.raw_bytes;
        part_stored += p.stored_bytes;
    }

    // The commit point. A backup whose manifest could not be written does not exist: remove its object.
    if (options.before_commit) {
        if (auto st = options.before_commit(); !st) {
            const cancel::Shield cleanup;
            (void)storage.remove(catalog::object_keys(m));
            return wrap_once(st.error(), op + ": not committed");
        }
    }
    if (auto st = storage::put_object(storage, catalog::manifest_key(target.name, id), catalog::to_json(m)); !st) {
        const cancel::Shield cleanup;
        (void)storage.remove(catalog::object_keys(m));
        return wrap_once(st.error(), op + ": write manifest");
    }
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_steady).count();
    struct rusage usage {};
    ::getrusage(RUSAGE_SELF, &usage);
    observe::info("backup complete", {{"target", target.name},
                                      {"id", id},
                                      {"raw_bytes", std::to_string(m.raw_bytes)},
                                      {"stored_bytes", std::to_string(m.stored_bytes)},
                                      {"parts", std::to_string(m.parts.size())},
                                      {"parts_raw_bytes", std::to_string(part_raw)},
                                      {"parts_stored_bytes", std::to_string(part_stored)},
                                      {"seconds", std::to_string(secs)},
                                      {"peak_rss_kib", std::to_string(usage.ru_maxrss)}});
    return m;
}

} // namespace dbkeep::job
