#include "job/restore.hpp"

#include "catalog/catalog.hpp"
#include "config/config.hpp"
#include "core/cancel.hpp"
#include "engine/engine.hpp"
#include "observe/log.hpp"
#include "runner/runner.hpp"
#include "storage/storage.hpp"

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
        return fail(ErrorKind::config, "write", output.string(), "the file exists", "remove it or choose another --output");
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

Result<catalog::Manifest> run_restore(const config::TargetConfig& target, storage::Storage& storage,
                                      const RestoreRequest& request)
{
    const std::string op = "restore " + target.name;
    auto manifest = catalog::find_backup(storage, target.name, request.selector);
    if (!manifest) {
        return wrap(manifest.error(), op);
    }
    observe::info("restore started", {{"target", target.name}, {"id", manifest->id}});
    auto src = open_backup(storage, *manifest, request.read);
    if (!src) {
        return wrap(src.error(), op);
    }
    if (!request.output.empty()) {
        if (auto st = restore_to_file(**src, request.output); !st) {
            return wrap(st.error(), op);
        }
    } else {
        auto handle = open_engine(target);
        if (!handle) {
            return wrap(handle.error(), op);
        }
        engine::RestoreOptions opts;
        opts.to_url = request.to_url;
        opts.password = request.password;
        opts.jobs = request.jobs;
        opts.flush = request.flush;
        if (auto st = handle->engine->restore(**src, opts); !st) {
            return wrap(st.error(), op + " from backup " + manifest->id);
        }
    }
    observe::info("restore complete", {{"target", target.name}, {"id", manifest->id}});
    return *manifest;
}

Result<std::vector<VerifyResult>> run_verify(const config::TargetConfig& target, storage::Storage& storage,
                                             const VerifyRequest& request)
{
    std::vector<catalog::Manifest> selected;
    if (request.selector.empty()) {
        auto listing = catalog::list_backups(storage, target.name);
        if (!listing) {
            return std::unexpected(listing.error());
        }
        selected = listing->backups;
    } else {
        auto m = catalog::find_backup(storage, target.name, request.selector);
        if (!m) {
            return std::unexpected(m.error());
        }
        selected.push_back(*m);
    }
    std::vector<VerifyResult> results;
    std::vector<std::uint8_t> buf(1 << 20);
    for (const auto& m : selected) {
        VerifyResult r{m, std::nullopt};
        auto src = open_backup(storage, m, request.read);
        if (!src) {
            r.error = src.error();
        } else {
            std::uint64_t raw = 0;
            for (;;) {
                auto n = (*src)->read(buf);
                if (!n) {
                    r.error = n.error();
                    break;
                }
                if (*n == 0) {
                    break;
                }
                raw += *n;
            }
            if (!r.error && m.raw_bytes != 0 && raw != m.raw_bytes) {
                r.error = Error{ErrorKind::corruption, "verify", "backup " + m.id,
                                "decompressed to " + std::to_string(raw) + " bytes, the manifest says " +
                                    std::to_string(m.raw_bytes)};
            }
        }
        if (cancel::requested()) {
            return fail(ErrorKind::cancelled, "verify", target.name, "cancelled by signal");
        }
        results.push_back(std::move(r));
    }
    return results;
}

} // namespace dbkeep::job
