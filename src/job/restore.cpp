#include "job/restore.hpp"
#include "job/context.hpp"

#include <atomic>

#include "catalog/catalog.hpp"
#include "config/config.hpp"
#include "core/cancel.hpp"
#include "engine/engine.hpp"
#include "job/open.hpp"
#include "observe/log.hpp"
#include "observe/progress.hpp"
#include "runner/ecs.hpp"
#include "runner/runner.hpp"
#include "storage/storage.hpp"
#include "stream/counting.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <random>
#include <unistd.h>
#include <vector>

namespace dbkeep::job {
namespace {

Status write_fd(int fd, Bytes data, const std::string& what)
{
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR && !cancel::requested()) {
                continue;
            }
            return fail(errno == EINTR ? ErrorKind::cancelled : ErrorKind::failed, "write", what, errno_message(errno));
        }
        off += static_cast<std::size_t>(n);
    }
    return {};
}

// Writes the dump to a temp file beside the output and renames it into place only when the whole stream
// was read and verified: a failed restore never leaves a plausible-looking file.
Status restore_to_file(stream::Source& src, const std::filesystem::path& output)
{
    if (output == "-") {
        std::vector<std::uint8_t> buf(1 << 20);
        for (;;) {
            auto n = src.read(buf);
            if (!n) {
                return std::unexpected(n.error());
            }
            if (*n == 0) {
                return {};
            }
            if (auto st = write_fd(1, Bytes(buf.data(), *n), "standard output"); !st) {
                return st;
            }
        }
    }
    std::error_code ec;
    if (std::filesystem::exists(output, ec)) {
        return fail(ErrorKind::config, "write", output.string(), "the file exists",
                    "remove it or choose another --output");
    }
    std::string temp = output.string() + ".dbkeep-partial-" + std::to_string(::getpid());
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return fail(ErrorKind::failed, "create", temp, errno_message(errno));
    }
    std::vector<std::uint8_t> buf(1 << 20);
    Status st;
    for (;;) {
        auto n = src.read(buf);
        if (!n) {
            st = std::unexpected(n.error());
            break;
        }
        if (*n == 0) {
            break;
        }
        if (st = write_fd(fd, Bytes(buf.data(), *n), output.string()); !st) {
            break;
        }
    }
    if (st && ::fsync(fd) != 0) {
        st = fail(ErrorKind::failed, "sync", output.string(), errno_message(errno));
    }
    ::close(fd);
    if (st && ::rename(temp.c_str(), output.c_str()) != 0) {
        st = fail(ErrorKind::failed, "rename", output.string(), errno_message(errno));
    }
    if (!st) {
        ::unlink(temp.c_str());
    }
    return st;
}

} // namespace

namespace {

std::string join_names(const std::vector<std::string>& names)
{
    std::string out;
    for (const auto& n : names) {
        out += (out.empty() ? "" : ",") + n;
    }
    return out;
}

} // namespace

std::string restored_part(const RestoreRequest& request)
{
    if (request.globals_only) {
        return "the globals";
    }
    if (!request.database.empty() && request.tables.empty() && request.schemas.empty()) {
        return "database " + request.database;
    }
    std::string out;
    for (const auto& t : request.tables) {
        out += (out.empty() ? "table " : ", table ") + t;
    }
    for (const auto& n : request.schemas) {
        out += (out.empty() ? "schema " : ", schema ") + n;
    }
    if (!out.empty() && !request.database.empty()) {
        out += " of database " + request.database;
    }
    return out;
}

Result<catalog::Manifest> run_restore(const config::TargetConfig& target, storage::Storage& storage,
                                      const RestoreRequest& request)
{
    const std::string op = "restore " + target.name;
    // Before reading anything: the ecs runner launches commands detached and cannot feed a restore its input.
    if (const auto* ecs = std::get_if<runner::EcsOptions>(&target.runner); ecs != nullptr && request.output.empty()) {
        return fail(ErrorKind::config, op, "",
                    "its runner is ecs, which launches commands detached and cannot feed them the backup",
                    "restore through a runner that can feed input: for the restore, give the target a docker, "
                    "kubectl or ssh runner, or runner: local with restore --to URL reaching the database from "
                    "here; or restore --output FILE and load that inside the container");
    }
    if (!request.tables.empty() || !request.schemas.empty()) {
        if (!std::holds_alternative<engine::PostgresOptions>(target.engine)) {
            return fail(ErrorKind::config, op, "",
                        "--table and --schema restore part of a PostgreSQL dump; this target's engine is " +
                            engine::engine_name(target.engine),
                        "restore the whole backup without --table/--schema");
        }
        if (!request.output.empty()) {
            return fail(ErrorKind::config, op, "",
                        "--table and --schema restore part of a dump into a database (--to); --output writes the "
                        "whole dump",
                        "write the dump with --output and pick from it with pg_restore -t/-n, or restore with --to");
        }
    }
    auto manifest = catalog::find_backup(storage, target.name, request.selector, std::chrono::system_clock::now());
    if (!manifest) {
        return wrap_once(manifest.error(), op);
    }
    observe::info("restore started", {{"target", target.name}, {"id", manifest->id}});
    auto opened = open_backup(storage, *manifest, request.read);
    if (!opened) {
        return wrap_once(opened.error(), op);
    }
    // The raw dump's bytes, counted for the progress report (the manifest's raw size gives the ETA).
    stream::CountingSource counted(**opened);
    stream::Source* src = &counted;
    const observe::Progress progress(observe::ProgressOptions{.what = "restore " + target.name,
                                                              .expected_bytes = manifest->raw_bytes,
                                                              .terminal = observe::Progress::stderr_is_terminal()},
                                     [&counted] { return counted.bytes(); });
    const auto layout = manifest->details.find("layout");
    const bool server = layout != manifest->details.end() && layout->second == "server";
    if (!server && (!request.database.empty() || request.globals_only)) {
        return fail(ErrorKind::config, op, "backup " + manifest->id,
                    "--database and --globals restore part of a whole-server backup (a postgres target with "
                    "databases:), and this backup is of one database");
    }
    if (server && !request.output.empty()) {
        // One object of a whole server as a plain file: the globals' SQL (psql), or one database's archive
        // (pg_restore).
        if (request.globals_only) {
            if (auto st = restore_to_file(*src, request.output); !st) {
                return wrap_once(st.error(), op);
            }
            return *manifest;
        }
        std::string names;
        for (std::size_t i = 0; i < manifest->parts.size(); ++i) {
            const auto& d = manifest->parts[i].details;
            auto db = d.find("database");
            if (db == d.end()) {
                continue;
            }
            names += (names.empty() ? "" : ", ") + db->second;
            if (db->second == request.database) {
                auto part = open_backup_part(storage, *manifest, i, request.read);
                if (!part) {
                    return wrap_once(part.error(), op);
                }
                if (auto st = restore_to_file(**part, request.output); !st) {
                    return wrap_once(st.error(), op);
                }
                return *manifest;
            }
        }
        return fail(ErrorKind::config, op, "backup " + manifest->id,
                    request.database.empty()
                        ? "it is a whole-server backup of several objects, and --output writes one file"
                        : "the backup has no database " + request.database + " (it has " + names + ")",
                    "with --output add --globals (the roles' SQL, for psql) or --database NAME (that database's "
                    "archive, for pg_restore); or restore it with --to URL");
    }
    if (!request.output.empty() && !manifest->parts.empty()) {
        return fail(ErrorKind::config, op, "backup " + manifest->id,
                    "it is a parallel dump of " + std::to_string(manifest->parts.size() + 1) +
                        " objects, and --output writes one file",
                    "restore it with --to URL, or load its objects with zstd, age, pg_restore and psql as "
                    "docs/format.md shows");
    }
    if (!request.output.empty()) {
        if (auto st = restore_to_file(*src, request.output); !st) {
            return wrap_once(st.error(), op);
        }
    } else {
        auto handle = open_engine(target);
        if (!handle) {
            return wrap_once(handle.error(), op);
        }
        engine::RestoreOptions opts;
        opts.to_url = request.to_url;
        opts.password = request.password;
        opts.jobs = request.jobs;
        opts.flush = request.flush;
        opts.merge = request.merge;
        opts.force = request.force;
        opts.clean = request.clean;
        opts.keep_failed = request.keep_failed;
        opts.no_owner = request.no_owner;
        opts.no_acl = request.no_acl;
        opts.role = request.role;
        opts.scratch = request.scratch;
        opts.database = request.database;
        opts.globals_only = request.globals_only;
        opts.no_roles = request.no_roles;
        opts.tables = request.tables;
        opts.schemas = request.schemas;
        opts.expected_stats = manifest->stats;
        opts.details = manifest->details;
        for (const auto& part : manifest->parts) {
            opts.parts.push_back(part.details);
        }
        opts.open_part = [&storage, m = *manifest, read = request.read](std::size_t index) {
            return open_backup_part(storage, m, index, read);
        };
        if (auto st = handle->engine->restore(*src, opts); !st) {
            return wrap_once(st.error(), op + " from backup " + manifest->id);
        }
    }
    // A partial restore says what it restored, not the whole backup's size.
    if (const std::string part = restored_part(request); part.empty()) {
        observe::info("restore complete", {{"target", target.name},
                                           {"id", manifest->id},
                                           {"restored", "the whole backup"},
                                           {"raw_bytes", std::to_string(catalog::total_raw_bytes(*manifest))}});
    } else {
        observe::info("restore complete", {{"target", target.name},
                                           {"id", manifest->id},
                                           {"restored", part},
                                           {"tables", join_names(request.tables)},
                                           {"schemas", join_names(request.schemas)}});
    }
    return *manifest;
}

namespace {

// Restores a backup into a scratch database and compares the live statistics with the manifest's.
std::optional<Error> test_restore(const config::TargetConfig& target, storage::Storage& storage,
                                  const catalog::Manifest& m, const VerifyRequest& request)
{
    RestoreRequest rr;
    rr.selector = m.id;
    rr.to_url = request.restore_to;
    rr.password = request.restore_password;
    // A second test restore of a backup replaces the keys of the first (Redis), as before --merge existed;
    // keys of anything else show up in the comparison below. A PostgreSQL scratch database is made afresh
    // each time (one dbkeep did not make is refused when it holds objects) and dropped afterwards.
    rr.merge = true;
    rr.scratch = true;
    rr.force = request.force;
    rr.no_owner = request.no_owner;
    rr.no_acl = request.no_acl;
    rr.role = request.role;
    rr.read = request.read;
    auto handle = open_engine(target);
    if (!handle) {
        return handle.error();
    }
    // What one test restore restores and what it must hold: the whole backup, or, for a whole-server backup
    // (details layout=server, statistics keyed "database/schema.table"), each database in turn.
    struct Unit {
        std::string database;
        std::map<std::string, std::int64_t> expected;
    };
    std::vector<Unit> units;
    if (auto layout = m.details.find("layout"); layout != m.details.end() && layout->second == "server") {
        for (const auto& part : m.parts) {
            auto db = part.details.find("database");
            if (db == part.details.end()) {
                continue;
            }
            Unit u{db->second, {}};
            const std::string prefix = db->second + "/";
            for (const auto& [name, n] : m.stats) {
                if (name.starts_with(prefix)) {
                    u.expected[name.substr(prefix.size())] = n;
                }
            }
            units.push_back(std::move(u));
        }
    } else {
        units.push_back(Unit{{}, m.stats});
    }
    for (const auto& unit : units) {
        rr.database = unit.database;
        const std::string what = unit.database.empty() ? "" : " (database " + unit.database + ")";
        auto restored = run_restore(target, storage, rr);
        std::optional<Error> dropped;
        auto drop = [&] {
            if (!request.keep) {
                if (auto st = handle->engine->drop_scratch(request.restore_to, request.restore_password); !st) {
                    dropped = st.error();
                }
            }
        };
        if (!restored) {
            drop();
            return restored.error();
        }
        auto live = handle->engine->stats(request.restore_to, request.restore_password);
        drop();
        if (!live) {
            return live.error();
        }
        if (dropped) {
            return dropped;
        }
        std::string diff;
        for (const auto& [name, expected] : unit.expected) {
            auto it = live->find(name);
            std::int64_t got = it == live->end() ? -1 : it->second;
            if (got != expected) {
                diff += (diff.empty() ? "" : ", ") + name + " " + std::to_string(expected) + " in the manifest, " +
                        (got < 0 ? std::string("missing") : std::to_string(got)) + " restored";
            }
        }
        for (const auto& [name, got] : *live) {
            if (!unit.expected.contains(name)) {
                diff += (diff.empty() ? "" : ", ") + name + " restored but not in the manifest";
            }
        }
        if (!diff.empty()) {
            return Error{ErrorKind::corruption, "test-restore", "backup " + m.id + what, "statistics differ: " + diff};
        }
        if (!unit.database.empty()) {
            observe::info("test restore of one database matches the manifest",
                          {{"target", target.name},
                           {"id", m.id},
                           {"database", unit.database},
                           {"compared", std::to_string(unit.expected.size())}});
        }
    }
    observe::info("test restore matches the manifest",
                  {{"target", target.name}, {"id", m.id}, {"compared", std::to_string(m.stats.size())}});
    return std::nullopt;
}

} // namespace

Result<std::vector<VerifyResult>> run_verify(const config::TargetConfig& target, storage::Storage& storage,
                                             const VerifyRequest& request)
{
    // verify takes an id and a time alike with --backup (it has no --at).
    const catalog::SelectorSyntax syntax{.command = "verify", .id_option = "--backup", .time_option = "--backup"};
    if (!request.restore_to.empty()) {
        auto m = catalog::find_backup(storage, target.name, request.selector.empty() ? "latest" : request.selector,
                                      std::chrono::system_clock::now(), syntax);
        if (!m) {
            return std::unexpected(m.error());
        }
        return std::vector<VerifyResult>{{*m, test_restore(target, storage, *m, request)}};
    }
    std::vector<catalog::Manifest> selected;
    if (request.selector.empty()) {
        auto listing = catalog::list_backups(storage, target.name);
        if (!listing) {
            return std::unexpected(listing.error());
        }
        selected = listing->backups;
    } else {
        auto m = catalog::find_backup(storage, target.name, request.selector, std::chrono::system_clock::now(), syntax);
        if (!m) {
            return std::unexpected(m.error());
        }
        selected.push_back(*m);
    }
    std::vector<VerifyResult> results;
    std::vector<std::uint8_t> buf(1 << 20);
    // Reads one object of m to its end (its size and SHA-256 checked there); the error, if any. raw_bytes 0: not
    // recorded.
    auto read_through = [&](Result<std::unique_ptr<stream::Source>> src, std::uint64_t raw_bytes,
                            const std::string& what) -> std::optional<Error> {
        if (!src) {
            return src.error();
        }
        std::uint64_t raw = 0;
        for (;;) {
            auto n = (*src)->read(buf);
            if (!n) {
                return n.error();
            }
            if (*n == 0) {
                break;
            }
            raw += *n;
        }
        if (raw_bytes != 0 && raw != raw_bytes) {
            return Error{ErrorKind::corruption, "verify", what,
                         "decompressed to " + std::to_string(raw) + " bytes, the manifest says " +
                             std::to_string(raw_bytes)};
        }
        return std::nullopt;
    };
    for (const auto& m : selected) {
        VerifyResult r{m, std::nullopt};
        r.error = read_through(open_backup(storage, m, request.read), m.raw_bytes, "backup " + m.id);
        for (std::size_t i = 0; !r.error && i < m.parts.size() && !cancel::requested(); ++i) {
            r.error = read_through(open_backup_part(storage, m, i, request.read), m.parts[i].raw_bytes,
                                   "part " + std::to_string(i + 1) + " of backup " + m.id);
        }
        if (cancel::requested()) {
            return fail_cancelled("verify", target.name);
        }
        results.push_back(std::move(r));
    }
    return results;
}

} // namespace dbkeep::job
