#include "engine/postgres/restore.hpp"

#include "core/url.hpp"
#include "engine/postgres/tools.hpp"
#include "observe/log.hpp"

#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace dbkeep::engine::pg {
namespace {

constexpr std::size_t k_chunk = 1 << 20;

// A private temp copy of the dump (for pg_restore --jobs, which needs to seek): a folder of its own made by
// mkdtemp (mode 0700) holding one file created with O_EXCL | O_NOFOLLOW, mode 0600, so that no other local
// user can read the (decrypted) dump and nothing planted in the temp folder is written through. Both are
// removed when the object goes, on every path.
class PrivateTemp {
public:
    PrivateTemp() = default;
    ~PrivateTemp() { remove(); }
    PrivateTemp(const PrivateTemp&) = delete;
    PrivateTemp& operator=(const PrivateTemp&) = delete;

    // Creates the folder in `parent` and the file in it, open for writing.
    Status create(const std::filesystem::path& parent)
    {
        std::string pattern = (parent / "dbkeep-restore-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            return fail(ErrorKind::failed, "create a private temp folder in", parent.string(), errno_message(errno),
                        "set TMPDIR to a writable folder with room for the whole dump");
        }
        m_dir = pattern;
        m_file = m_dir / "dump.pgdump";
        m_fd = ::open(m_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (m_fd < 0) {
            return fail(ErrorKind::failed, "create temp file", m_file.string(), errno_message(errno));
        }
        return {};
    }

    // Copies in to the file and closes it.
    Status write_all(stream::Source& in)
    {
        std::vector<std::uint8_t> buf(k_chunk);
        for (;;) {
            auto n = in.read(buf);
            if (!n) {
                return std::unexpected(n.error());
            }
            if (*n == 0) {
                break;
            }
            for (std::size_t done = 0; done < *n;) {
                ssize_t w = ::write(m_fd, buf.data() + done, *n - done);
                if (w < 0 && errno == EINTR) {
                    continue;
                }
                if (w < 0) {
                    return fail(ErrorKind::failed, "write temp file", m_file.string(), errno_message(errno),
                                "set TMPDIR to a folder with room for the whole dump");
                }
                done += static_cast<std::size_t>(w);
            }
        }
        if (::close(std::exchange(m_fd, -1)) != 0) {
            return fail(ErrorKind::failed, "write temp file", m_file.string(), errno_message(errno));
        }
        return {};
    }

    const std::filesystem::path& file() const { return m_file; }

    void remove() noexcept
    {
        if (m_fd >= 0) {
            ::close(std::exchange(m_fd, -1));
        }
        if (!m_dir.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(m_dir, ec);
            if (ec) {
                observe::warn("cannot remove the temp folder", {{"folder", m_dir.string()}, {"error", ec.message()}});
            }
            m_dir.clear();
        }
    }

private:
    std::filesystem::path m_dir, m_file;
    int m_fd = -1;
};

// Runs pg_restore (cmd), feeding it from in unless in is null, and judges its exit.
Status run_restore(runner::Runner& runner, const Target& target, const runner::Command& cmd, stream::Source* in)
{
    auto proc = runner.start(cmd);
    if (!proc) {
        return std::unexpected(proc.error());
    }
    // Drain pg_restore's stdout in the background so it can never block on a full pipe.
    std::thread drain([&] {
        std::uint8_t sink_buf[4096];
        for (;;) {
            auto n = (*proc)->out().read(sink_buf);
            if (!n || *n == 0) {
                break;
            }
        }
    });
    Status feed;
    if (in != nullptr) {
        std::vector<std::uint8_t> buf(k_chunk);
        for (;;) {
            auto n = in->read(buf);
            if (!n) {
                feed = std::unexpected(n.error());
                break;
            }
            if (*n == 0) {
                break;
            }
            if (auto st = (*proc)->in()->write(Bytes(buf.data(), *n)); !st) {
                feed = st;
                break;
            }
        }
        if (feed) {
            feed = (*proc)->in()->finish();
        } else {
            (*proc)->in()->abort();
            if (feed.error().kind != ErrorKind::failed) {
                (*proc)->kill(); // input was corrupt or cancelled: pg_restore must not commit anything more
            }
        }
    }
    auto status = (*proc)->wait();
    drain.join();
    if (!status) {
        return std::unexpected(status.error());
    }
    if (!status->ok()) {
        std::string err = tool_message((*proc)->error_output());
        if (!feed && feed.error().kind != ErrorKind::failed) {
            return std::unexpected(feed.error());
        }
        return fail(ErrorKind::failed, "run pg_restore for", target.name,
                    "pg_restore " + status->describe() + (err.empty() ? "" : ": " + err));
    }
    if (!feed) {
        return std::unexpected(feed.error());
    }
    return {};
}

} // namespace

Status restore_database(runner::Runner& runner, const Target& target, stream::Source& in, const RestoreOptions& options)
{
    auto url = parse_url(options.to_url);
    if (!url || (url->scheme != "postgres" && url->scheme != "postgresql") || url->path.empty()) {
        return fail(ErrorKind::config, "restore", target.name,
                    "--to must be a PostgreSQL URL with a database, e.g. postgres://user@host:5432/newdb");
    }
    std::string password = !url->password.empty() ? url->password : options.password;
    std::string what = redact_url(options.to_url);
    auto params = connect_params(target, url->host, url->port, url->user, url->path, password);
    params.what = what;
    if (auto it = url->query.find("sslmode"); it != url->query.end()) {
        params.keywords["sslmode"] = it->second;
    }
    int server_major = 0;
    // Create the database when it does not exist yet.
    auto conn = open_session(runner, target, params);
    if (!conn && conn.error().kind == ErrorKind::not_found) {
        auto admin_params = params;
        admin_params.keywords["dbname"] = "postgres";
        auto admin = open_session(runner, target, admin_params);
        if (!admin) {
            return std::unexpected(admin.error());
        }
        observe::info("creating database", {{"database", url->path}});
        if (auto st = (*admin)->exec("CREATE DATABASE " + pg::quote_ident(url->path)); !st) {
            return wrap(st.error(), "create database for restore");
        }
        conn = open_session(runner, target, params);
    }
    if (!conn) {
        return std::unexpected(conn.error());
    }
    server_major = (*conn)->server_version_num() / 10000;
    conn->reset();

    auto tool = find_tool(runner, target, "pg_restore", target.postgres.pg_restore_path, server_major);
    if (!tool) {
        return std::unexpected(tool.error());
    }
    runner::Command cmd;
    cmd.inherit = libpq_environment();
    cmd.argv = {tool->path, "--exit-on-error", "--no-password", "--dbname=" + pg::conninfo(params.keywords)};
    if (!password.empty()) {
        cmd.env["PGPASSWORD"] = password;
    }

    PrivateTemp temp;
    if (options.jobs > 1) {
        // Parallel restore needs a seekable file: decompress to a private temp file first.
        std::error_code ec;
        auto parent = options.temp_dir.empty() ? std::filesystem::temp_directory_path(ec) : options.temp_dir;
        if (parent.empty()) {
            parent = "/tmp";
        }
        if (auto st = temp.create(parent); !st) {
            return st;
        }
        observe::info("parallel restore: writing the dump to a private temp file first",
                      {{"file", temp.file().string()}, {"jobs", std::to_string(options.jobs)}});
        if (auto st = temp.write_all(in); !st) {
            return st;
        }
        cmd.argv.push_back("--jobs=" + std::to_string(options.jobs));
        cmd.argv.push_back(temp.file().string());
    } else {
        cmd.with_stdin = true;
    }
    auto result = run_restore(runner, target, cmd, options.jobs > 1 ? nullptr : &in);
    temp.remove();
    return result;
}

} // namespace dbkeep::engine::pg
