// The docker runner: a command runs as an exec in the container, attached through the hijacked connection of
// its start (Docker Engine API v1.41, "Exec > Start an exec instance"), whose stdout/stderr arrive as
// 8-byte-framed multiplexed streams ("Attach to a container > Stream format") demultiplexed here.
#include "runner/docker/api.hpp"
#include "runner/docker/docker.hpp"

#include "core/cancel.hpp"
#include "core/hex.hpp"
#include "core/percent.hpp"
#include "observe/log.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace dbkeep::runner {
namespace {

// The engine's JSON, read field by field for its type: a field of another type (a string "Running", a numeric
// "Version") is its default, never nlohmann's type_error.
bool flag(const nlohmann::json& j, const char* key)
{
    auto it = j.find(key);
    return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string text(const nlohmann::json& j, const char* key, const std::string& fallback = {})
{
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using docker::Api;
using docker::api_message;

constexpr std::size_t k_stderr_keep = 64 * 1024;
constexpr std::size_t k_read_size = 256 * 1024;
// Output that arrives while wait() waits for a caller who reads it is kept for that caller up to this much.
constexpr std::size_t k_keep_unread = std::size_t{8} << 20;

std::string resolve_host(const DockerOptions& o)
{
    if (!o.host.empty()) {
        return o.host;
    }
    if (const char* env = std::getenv("DOCKER_HOST"); env && *env) {
        return env;
    }
    return "unix:///var/run/docker.sock";
}

// Signals every process whose environment carries the token: TERM, then KILL after a second.
constexpr const char* k_kill_script =
    "t=\"DBKEEP_EXEC_TOKEN=$1\"; for s in TERM KILL; do for d in /proc/[0-9]*; do p=${d#/proc/}; "
    "[ \"$p\" = \"$$\" ] && continue; if tr '\\0' '\\n' < \"$d/environ\" 2>/dev/null | grep -qx \"$t\"; then "
    "kill -s $s \"$p\" 2>/dev/null; fi; done; [ $s = TERM ] && sleep 1; done; exit 0";

// Runs the kill script in the container. Cleanup: it still goes out after SIGINT/SIGTERM.
void kill_by_token(const DockerOptions& o, const Api& api, const std::string& token) noexcept
{
    try {
        Command k{.argv = {"sh", "-c", k_kill_script, "sh", token}};
        auto id = docker::create_exec(api, o, k, false, "", true);
        if (!id) {
            observe::warn("cannot stop the command in the container",
                          {{"container", o.container}, {"error", id.error().message}});
            return;
        }
        auto r = api.call("POST", "/exec/" + *id + "/start", R"({"Detach":true,"Tty":false})", true);
        if (!r || (r->status != 200 && r->status != 204)) {
            observe::warn("cannot stop the command in the container", {{"container", o.container}});
        }
        // Wait (briefly) until the killer has done its work: a TERM round, a second, a KILL round.
        const auto until = Clock::now() + std::chrono::seconds(5);
        while (Clock::now() < until) {
            auto s = api.call("GET", "/exec/" + *id + "/json", {}, true);
            if (!s || s->status != 200) {
                break;
            }
            auto j = json::parse(s->body, nullptr, false);
            if (!j.is_object() || !flag(j, "Running")) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    } catch (...) {
    }
}

class DockerProcess;

class DockerOut final : public stream::Source {
public:
    explicit DockerOut(DockerProcess& p) : m_p(p) {}
    Result<std::size_t> read(MutableBytes out) override;

private:
    DockerProcess& m_p;
};

class DockerIn final : public stream::Sink {
public:
    explicit DockerIn(DockerProcess& p) : m_p(p) {}
    Status write(Bytes data) override;
    Status finish() override;
    void abort() noexcept override;

private:
    DockerProcess& m_p;
};

class DockerProcess final : public Process {
public:
    DockerProcess(DockerOptions o, Api api, std::string exec_id, std::string token,
                  std::unique_ptr<http::Upgraded> stream, bool with_stdin, std::string what)
        : m_opts(std::move(o)), m_api(std::move(api)), m_id(std::move(exec_id)), m_token(std::move(token)),
          m_stream(std::move(stream)), m_what(std::move(what)), m_out(*this),
          m_in(with_stdin ? std::make_unique<DockerIn>(*this) : nullptr)
    {
    }

    ~DockerProcess() override
    {
        if (!m_eof.load() && !m_killed.load()) {
            kill();
        }
    }

    stream::Source& out() override { return m_out; }
    stream::Sink* in() override { return m_in.get(); }

    Result<ExitStatus> wait() override
    {
        std::lock_guard lock(m_wait_mutex);
        if (m_waited) {
            return m_status;
        }
        if (m_reader.load()) {
            // A caller reads the output (perhaps in another thread, perhaps done with it): what it has not read
            // is its own, so what arrives is kept for it up to k_keep_unread, never thrown away (a local process's
            // waitpid() takes none of the pipe either). Past that the reader is gone: drained below.
            while (!m_eof.load() && !m_killed.load()) {
                std::lock_guard read_lock(m_read_mutex);
                if (m_eof.load() || m_buf.size() - m_pos > k_keep_unread) {
                    break;
                }
                auto n = fill();
                if (!n) {
                    if (n.error().kind == ErrorKind::cancelled) {
                        kill();
                        return std::unexpected(n.error());
                    }
                    break;
                }
                if (*n == 0) {
                    end_of_stream();
                }
            }
        }
        // Output nobody read: drain it (keeping stderr) so the stream ends.
        std::uint8_t buf[65536];
        while (!m_eof.load() && !m_killed.load()) {
            auto n = read_stdout(buf);
            if (!n) {
                if (n.error().kind == ErrorKind::cancelled) {
                    kill();
                    return std::unexpected(n.error());
                }
                break;
            }
        }
        // The stream ends a moment before the engine records the exit code.
        const auto until = Clock::now() + std::chrono::seconds(30);
        for (;;) {
            auto r = m_api.call("GET", "/exec/" + m_id + "/json");
            if (!r) {
                return wrap(r.error(), "read the exit status in container " + m_opts.container);
            }
            if (r->status != 200) {
                return fail(ErrorKind::failed, "read the exit status in container", m_opts.container, api_message(*r));
            }
            auto j = json::parse(r->body, nullptr, false);
            if (!j.is_object()) {
                return fail(ErrorKind::failed, "read the exit status in container", m_opts.container,
                            "invalid answer from the engine");
            }
            if (!flag(j, "Running") || Clock::now() > until) {
                int code = j.contains("ExitCode") && j["ExitCode"].is_number_integer() ? j["ExitCode"].get<int>() : -1;
                // The engine reports a process killed by signal N as 128 + N, like a shell.
                if (m_killed_early.load()) {
                    // Stopped by kill() before its output ended: a killed command, whatever its shell returned.
                    m_status = ExitStatus{.code = -1, .signal = code > 128 && code < 128 + 32 ? code - 128 : SIGTERM};
                } else if (flag(j, "Running")) {
                    m_status = ExitStatus{.code = -1, .signal = SIGKILL};
                } else {
                    m_status = ExitStatus{.code = code, .signal = 0};
                }
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        m_waited = true;
        m_stream->shutdown();
        return m_status;
    }

    std::string error_output() const override
    {
        std::lock_guard lock(m_err_mutex);
        return m_err;
    }

    void kill() noexcept override
    {
        if (m_killed.exchange(true)) {
            return;
        }
        if (!m_eof.load()) {
            m_killed_early.store(true);
            kill_by_token(m_opts, m_api, m_token);
        }
        // Wake any reader or writer blocked on the stream.
        m_stream->shutdown();
    }

    // The engine ends the stream when the command has exited, and then reads no more of its input: a writer
    // blocked on a full socket would wait for ever (a local pipe would fail with EPIPE). Closing the connection
    // wakes it, and its write fails as a closed input. Called with m_read_mutex held.
    void end_of_stream() noexcept
    {
        m_eof.store(true);
        m_stream->shutdown();
    }

    // out().read(): from then on the output belongs to that reader, and wait() leaves it to it.
    Result<std::size_t> read_for_caller(MutableBytes out)
    {
        m_reader.store(true);
        auto n = read_stdout(out);
        if (!n) {
            m_reader.store(false); // the reader stops here: wait() drains what is left
        }
        return n;
    }

    // Demultiplexes the stream: stderr frames are kept, stdout frames returned.
    Result<std::size_t> read_stdout(MutableBytes out)
    {
        std::lock_guard lock(m_read_mutex);
        // Gathers stdout across the frames already received (dockerd frames are at most 32 KiB); blocks only
        // when nothing is there yet.
        std::size_t filled = 0;
        for (;;) {
            const std::size_t pending = m_buf.size() - m_pos;
            if (m_frame_left > 0 && pending > 0) {
                std::size_t room = out.size() - filled;
                std::size_t n = std::min({m_frame_left, pending, m_frame_stream == 1 ? room : std::size_t(-1)});
                const char* data = m_buf.data() + m_pos;
                if (m_frame_stream == 1) {
                    std::memcpy(out.data() + filled, data, n);
                    filled += n;
                } else {
                    keep_stderr(std::string_view(data, n));
                }
                m_pos += n;
                m_frame_left -= n;
                if (filled == out.size()) {
                    return filled;
                }
                continue;
            }
            if (m_frame_left == 0 && pending >= 8) {
                const auto* h = reinterpret_cast<const unsigned char*>(m_buf.data() + m_pos);
                m_frame_stream = h[0];
                m_frame_left = (std::size_t(h[4]) << 24) | (std::size_t(h[5]) << 16) | (std::size_t(h[6]) << 8) |
                               std::size_t(h[7]);
                if (h[0] > 3 || h[1] != 0 || h[2] != 0 || h[3] != 0) {
                    return fail(ErrorKind::failed, "read output of", m_what, "invalid stream frame from the engine");
                }
                m_pos += 8;
                continue;
            }
            if (filled > 0) {
                return filled;
            }
            if (m_eof.load()) {
                if (m_frame_left > 0 || m_buf.size() > m_pos) {
                    return fail(ErrorKind::transient, "read output of", m_what,
                                "the engine closed the stream in the middle of a frame");
                }
                return 0;
            }
            if (m_killed.load()) {
                return fail(ErrorKind::cancelled, "read output of", m_what, "the command was stopped");
            }
            auto n = fill();
            if (!n) {
                if (m_killed.load() && n.error().kind != ErrorKind::cancelled) {
                    return fail(ErrorKind::cancelled, "read output of", m_what, "the command was stopped");
                }
                if (n.error().kind == ErrorKind::cancelled) {
                    return fail_cancelled("read output of", m_what);
                }
                return std::unexpected(n.error());
            }
            if (*n == 0) {
                end_of_stream(); // the loop's end-of-stream check returns 0, or fails on a cut frame
            }
        }
    }

    Status write_stdin(Bytes data)
    {
        if (m_stdin_closed) {
            return fail(ErrorKind::failed, "write input of", m_what, "input already closed");
        }
        if (m_killed.load()) {
            return fail(ErrorKind::cancelled, "write input of", m_what, "the command was stopped");
        }
        // Writes run beside reads on the same connection: only the stream is shared, never the read buffer.
        if (auto st = m_stream->write(data); !st) {
            if (m_killed.load()) {
                return fail(ErrorKind::cancelled, "write input of", m_what, "the command was stopped");
            }
            if (st.error().kind == ErrorKind::cancelled) {
                return st;
            }
            return fail(ErrorKind::failed, "write input of", m_what,
                        "the command closed its input (it probably failed): " + st.error().message);
        }
        return {};
    }

    void close_stdin() noexcept
    {
        if (!m_stdin_closed) {
            m_stdin_closed = true;
            m_stream->shutdown_write(); // the engine closes the command's stdin
        }
    }

private:
    // Reads more of the stream into the buffer; 0 at the engine's close.
    Result<std::size_t> fill()
    {
        if (m_pos > 0 && m_pos == m_buf.size()) {
            m_buf.clear();
            m_pos = 0;
        } else if (m_pos > (1 << 20)) {
            m_buf.erase(0, m_pos);
            m_pos = 0;
        }
        const std::size_t old = m_buf.size();
        m_buf.resize(old + k_read_size);
        auto n = m_stream->read(MutableBytes(reinterpret_cast<std::uint8_t*>(m_buf.data()) + old, k_read_size));
        m_buf.resize(old + (n ? *n : 0));
        return n;
    }

    void keep_stderr(std::string_view s)
    {
        std::lock_guard lock(m_err_mutex);
        m_err.append(s);
        if (m_err.size() > 2 * k_stderr_keep) {
            m_err.erase(0, m_err.size() - k_stderr_keep);
        }
    }

    DockerOptions m_opts;
    Api m_api;
    std::string m_id, m_token;
    std::unique_ptr<http::Upgraded> m_stream;
    std::string m_what;
    DockerOut m_out;
    std::unique_ptr<DockerIn> m_in;
    std::mutex m_read_mutex, m_wait_mutex;
    mutable std::mutex m_err_mutex;
    std::string m_err;
    std::string m_buf; // received, not yet demultiplexed from m_pos on
    std::size_t m_pos = 0;
    std::size_t m_frame_left = 0;
    int m_frame_stream = 0;
    std::atomic<bool> m_eof{false}, m_killed{false}, m_killed_early{false}, m_reader{false};
    bool m_stdin_closed = false;
    bool m_waited = false;
    ExitStatus m_status;
};

Result<std::size_t> DockerOut::read(MutableBytes out)
{
    return m_p.read_for_caller(out);
}

Status DockerIn::write(Bytes data)
{
    return m_p.write_stdin(data);
}

Status DockerIn::finish()
{
    m_p.close_stdin();
    return {};
}

void DockerIn::abort() noexcept
{
    m_p.close_stdin();
}

class DockerRunner final : public Runner {
public:
    explicit DockerRunner(DockerOptions o) : m_opts(std::move(o)), m_api(resolve_host(m_opts)) {}

    Result<std::unique_ptr<Process>> start(const Command& command) override
    {
        if (command.argv.empty()) {
            return fail(ErrorKind::config, "start process", "", "empty command");
        }
        const std::string token = random_hex(12);
        auto id = docker::create_exec(m_api, m_opts, command, true, token);
        if (!id) {
            return std::unexpected(id.error());
        }
        auto attached = m_api.attach("/exec/" + *id + "/start", R"({"Detach":false,"Tty":false})");
        if (!attached) {
            return std::unexpected(attached.error());
        }
        if (!attached->stream) {
            const auto& r = attached->refused;
            return fail(r.status == 404 ? ErrorKind::not_found : ErrorKind::failed,
                        "start " + command.argv[0] + " in container", m_opts.container, api_message(r));
        }
        auto proc =
            std::make_unique<DockerProcess>(m_opts, m_api, *id, token, std::move(attached->stream), command.with_stdin,
                                            command.argv[0] + " in container " + m_opts.container);
        if (!command.with_stdin) {
            // Nothing to send: half-close so the engine sees no input will come.
            proc->close_stdin();
        }
        return proc;
    }

    std::string describe() const override { return "docker container " + m_opts.container; }

    // The engine answers and the container exists and runs (no command is needed to know that).
    std::vector<Finding> probe() override
    {
        std::vector<Finding> out;
        const std::string endpoint = docker_endpoint(m_opts);
        auto state = inspect_container(m_opts);
        if (!state) {
            out.push_back(failed(
                "runner.docker", "cannot reach the engine at " + endpoint + ": " + state.error().message,
                !state.error().hint.empty()                  ? state.error().hint
                : state.error().kind == ErrorKind::transient ? "start dockerd (or podman system service) or fix host:"
                                                             : std::string()));
            return out;
        }
        out.push_back(pass("runner.docker", (state->engine.empty() ? std::string("engine") : state->engine) + " (API " +
                                                state->api_version + ") at " + endpoint));
        const auto& name = m_opts.container;
        if (!state->exists) {
            out.push_back(failed("runner.container", "no container named " + name,
                                 "fix the runner's container: (docker ps -a lists them)"));
        } else if (!state->running) {
            out.push_back(
                failed("runner.container", "container " + name + " is " + state->status, "docker start " + name));
        } else {
            out.push_back(
                pass("runner.container", "container " + name + " is running" +
                                             (state->image.empty() ? std::string() : " (image " + state->image + ")")));
        }
        return out;
    }

private:
    DockerOptions m_opts;
    Api m_api;
};

} // namespace

std::unique_ptr<Runner> make_docker_runner(DockerOptions options)
{
    return std::make_unique<DockerRunner>(std::move(options));
}

std::string docker_endpoint(const DockerOptions& options)
{
    return resolve_host(options);
}

Result<ContainerState> inspect_container(const DockerOptions& options)
{
    const Api api(resolve_host(options));
    ContainerState state;
    auto v = api.call("GET", "/version");
    if (!v) {
        return std::unexpected(v.error());
    }
    if (v->status == 200) {
        auto j = json::parse(v->body, nullptr, false);
        if (j.is_object()) {
            std::string name = "Docker";
            if (j.contains("Components") && j["Components"].is_array() && !j["Components"].empty() &&
                j["Components"][0].is_object()) {
                name = text(j["Components"][0], "Name", "Docker");
            }
            state.engine = name + " " + text(j, "Version");
            state.api_version = text(j, "ApiVersion");
        }
    }
    auto r = api.call("GET", "/containers/" + percent_encode(options.container) + "/json");
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->status == 404) {
        return state;
    }
    if (r->status != 200) {
        return fail(ErrorKind::failed, "inspect container", options.container, api_message(*r));
    }
    auto j = json::parse(r->body, nullptr, false);
    if (!j.is_object()) {
        return fail(ErrorKind::failed, "inspect container", options.container, "invalid answer from the engine");
    }
    state.exists = true;
    if (j.contains("State") && j["State"].is_object()) {
        state.running = flag(j["State"], "Running") && !flag(j["State"], "Paused");
        state.status = text(j["State"], "Status");
    }
    if (j.contains("Config") && j["Config"].is_object()) {
        state.image = text(j["Config"], "Image");
    }
    return state;
}

} // namespace dbkeep::runner
