#include "engine/postgres/restore.hpp"

#include "core/url.hpp"
#include "engine/postgres/tools.hpp"
#include "observe/log.hpp"

#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>
#include <vector>

namespace dbkeep::engine::pg {
namespace {

constexpr std::size_t k_chunk = 1 << 20;

// Copies in to a new file at path (for pg_restore --jobs, which needs to seek).
Status write_temp(stream::Source& in, const std::filesystem::path& path)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) {
        return fail(ErrorKind::failed, "write temp file", path.string(), "cannot create it");
    }
    std::vector<std::uint8_t> buf(k_chunk);
    for (;;) {
        auto n = in.read(buf);
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            break;
        }
        f.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(*n));
        if (!f) {
            return fail(ErrorKind::failed, "write temp file", path.string(), "write failed (disk full?)");
        }
    }
    f.close();
    return {};
}

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
        std::string err = first_line((*proc)->error_output());
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
    cmd.argv = {tool->path, "--exit-on-error", "--no-password", "--dbname=" + pg::conninfo(params.keywords)};
    if (!password.empty()) {
        cmd.env["PGPASSWORD"] = password;
    }

    std::filesystem::path temp_file;
    if (options.jobs > 1) {
        // Parallel restore needs a seekable file: decompress to a temp file first.
        auto dir = options.temp_dir.empty() ? std::filesystem::temp_directory_path() : options.temp_dir;
        temp_file = dir / ("dbkeep-restore-" + std::to_string(::getpid()) + ".pgdump");
        observe::info("parallel restore: writing the dump to a temp file first",
                      {{"file", temp_file.string()}, {"jobs", std::to_string(options.jobs)}});
        auto st = write_temp(in, temp_file);
        if (!st) {
            std::filesystem::remove(temp_file);
            return st;
        }
        cmd.argv.push_back("--jobs=" + std::to_string(options.jobs));
        cmd.argv.push_back(temp_file.string());
    } else {
        cmd.with_stdin = true;
    }
    auto result = run_restore(runner, target, cmd, options.jobs > 1 ? nullptr : &in);
    if (!temp_file.empty()) {
        std::error_code ec;
        std::filesystem::remove(temp_file, ec);
    }
    return result;
}

} // namespace dbkeep::engine::pg
