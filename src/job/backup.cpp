#include "job/backup.hpp"
#include "core/time.hpp"

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
#include <sys/resource.h>

namespace dbkeep::job {

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
        return wrap(handle.error(), op);
    }
    auto& engine = *handle->engine;
    const bool encrypted = target.encryption.enabled();
    const std::string key = catalog::object_key(target.name, id, engine.format(), encrypted);
    observe::info("backup started", {{"target", target.name}, {"id", id}, {"storage", storage.describe()}});

    auto writer = storage.open_writer(key);
    if (!writer) {
        return wrap(writer.error(), op);
    }
    auto pipeline = make_write_pipeline(**writer, target);
    if (!pipeline) {
        (*writer)->abort();
        return wrap(pipeline.error(), op);
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
    auto info = engine.dump((*pipeline)->head());
    progress.reset();
    if (!info) {
        (*pipeline)->head().abort();
        return wrap(info.error(), op);
    }
    if (cancel::requested()) {
        (*pipeline)->head().abort();
        return fail_cancelled(op, "");
    }
    if (auto st = (*pipeline)->head().finish(); !st) {
        (*pipeline)->head().abort();
        return wrap(st.error(), op);
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

    // The commit point. A backup whose manifest could not be written does not exist: remove its object.
    if (options.before_commit) {
        if (auto st = options.before_commit(); !st) {
            const cancel::Shield cleanup;
            (void)storage.remove({key});
            return wrap(st.error(), op + ": not committed");
        }
    }
    if (auto st = storage::put_object(storage, catalog::manifest_key(target.name, id), catalog::to_json(m)); !st) {
        (void)storage.remove({key});
        return wrap(st.error(), op + ": write manifest");
    }
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_steady).count();
    struct rusage usage {};
    ::getrusage(RUSAGE_SELF, &usage);
    observe::info("backup complete", {{"target", target.name},
                                      {"id", id},
                                      {"raw_bytes", std::to_string(m.raw_bytes)},
                                      {"stored_bytes", std::to_string(m.stored_bytes)},
                                      {"seconds", std::to_string(secs)},
                                      {"peak_rss_kib", std::to_string(usage.ru_maxrss)}});
    return m;
}

} // namespace dbkeep::job
