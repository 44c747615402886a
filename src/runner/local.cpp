#include "runner/local.hpp"

#include "core/cancel.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <poll.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace dbkeep::runner {
namespace {

constexpr std::size_t k_stderr_keep = 64 * 1024;

// What every child may see of dbkeep's environment: where programs and home are, who runs them, locale and
// time zone, temp folder, CA certificates, proxies. No secrets.
constexpr std::string_view k_base_environment[] = {
    "PATH",       "HOME",        "USER",     "LOGNAME",    "SHELL",         "TMPDIR",
    "TZ",         "LANG",        "LANGUAGE", "LC_*",       "SSL_CERT_FILE", "SSL_CERT_DIR",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",   "NO_PROXY"};

bool matches(std::string_view name, std::string_view pattern)
{
    return pattern.ends_with('*') ? name.starts_with(pattern.substr(0, pattern.size() - 1)) : name == pattern;
}

class FdSource final : public stream::Source {
public:
    explicit FdSource(int fd, std::string what) : m_fd(fd), m_what(std::move(what)) {}
    ~FdSource() override { close_fd(); }
    void close_fd() noexcept
    {
        if (m_fd >= 0) {
            ::close(m_fd);
            m_fd = -1;
        }
    }

    Result<std::size_t> read(MutableBytes out) override
    {
        if (m_fd < 0) {
            return 0;
        }
        for (;;) {
            if (cancel::requested()) {
                return fail_cancelled("read output of", m_what);
            }
            pollfd p{m_fd, POLLIN, 0};
            int pr = ::poll(&p, 1, 200);
            if (pr < 0 && errno != EINTR) {
                return fail(ErrorKind::failed, "read output of", m_what, errno_message(errno));
            }
            if (pr <= 0) {
                continue;
            }
            ssize_t n = ::read(m_fd, out.data(), out.size());
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    continue;
                }
                return fail(ErrorKind::failed, "read output of", m_what, errno_message(errno));
            }
            return static_cast<std::size_t>(n);
        }
    }

private:
    int m_fd;
    std::string m_what;
};

class FdSink final : public stream::Sink {
public:
    FdSink(int fd, std::string what) : m_fd(fd), m_what(std::move(what)) {}
    ~FdSink() override { abort(); }

    Status write(Bytes data) override
    {
        std::size_t off = 0;
        while (off < data.size()) {
            if (m_fd < 0) {
                return fail(ErrorKind::failed, "write input of", m_what, "input already closed");
            }
            if (cancel::requested()) {
                return fail_cancelled("write input of", m_what);
            }
            pollfd p{m_fd, POLLOUT, 0};
            int pr = ::poll(&p, 1, 200);
            if (pr <= 0) {
                continue;
            }
            ssize_t n = ::write(m_fd, data.data() + off, data.size() - off);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    continue;
                }
                return fail(ErrorKind::failed, "write input of", m_what,
                            errno == EPIPE ? "the process closed its input (it probably failed)"
                                           : errno_message(errno));
            }
            off += static_cast<std::size_t>(n);
        }
        return {};
    }
    Status finish() override
    {
        abort();
        return {};
    }
    void abort() noexcept override
    {
        if (m_fd >= 0) {
            ::close(m_fd);
            m_fd = -1;
        }
    }

private:
    int m_fd;
    std::string m_what;
};

class LocalProcess final : public Process {
public:
    LocalProcess(pid_t pid, int out_fd, int in_fd, int err_fd, std::string what)
        : m_pid(pid), m_what(what), m_out(out_fd, what),
          m_in(in_fd >= 0 ? std::make_unique<FdSink>(in_fd, what) : nullptr)
    {
        m_err_thread = std::thread([this, err_fd] { drain_stderr(err_fd); });
    }

    ~LocalProcess() override
    {
        if (m_in) {
            m_in->abort();
        }
        m_out.close_fd();
        if (!reaped()) {
            kill();
            (void)wait();
        }
        m_stop_err.store(true);
        if (m_err_thread.joinable()) {
            m_err_thread.join();
        }
    }

    stream::Source& out() override { return m_out; }
    stream::Sink* in() override { return m_in.get(); }

    Result<ExitStatus> wait() override
    {
        std::lock_guard lock(m_wait_mutex);
        if (!m_reaped) {
            int status = 0;
            for (;;) {
                pid_t r = ::waitpid(m_pid, &status, 0);
                if (r == m_pid) {
                    break;
                }
                if (r < 0 && errno != EINTR) {
                    return fail(ErrorKind::failed, "wait for", m_what, errno_message(errno));
                }
                // EINTR from a signal: keep waiting; cancellation kills the child through kill().
                if (cancel::requested()) {
                    ::kill(-m_pid, SIGTERM);
                }
            }
            m_status.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            m_status.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
            m_reaped = true;
        }
        if (m_err_thread.joinable()) {
            m_stop_err.store(true);
            m_err_thread.join();
        }
        return m_status;
    }

    std::string error_output() const override
    {
        std::lock_guard lock(m_err_mutex);
        return m_err;
    }

    void kill() noexcept override
    {
        if (reaped()) {
            ::kill(-m_pid, SIGKILL); // leftovers of the group (children of a wrapper script)
            return;
        }
        ::kill(-m_pid, SIGTERM);
        // Give it a moment to exit, then SIGKILL.
        for (int i = 0; i < 50; ++i) {
            int status = 0;
            pid_t r = ::waitpid(m_pid, &status, WNOHANG);
            if (r == m_pid) {
                std::lock_guard lock(m_wait_mutex);
                m_status.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                m_status.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
                m_reaped = true;
                ::kill(-m_pid, SIGKILL);
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ::kill(-m_pid, SIGKILL);
    }

private:
    bool reaped()
    {
        std::lock_guard lock(m_wait_mutex);
        return m_reaped;
    }

    void drain_stderr(int fd)
    {
        char buf[8192];
        for (;;) {
            pollfd p{fd, POLLIN, 0};
            int pr = ::poll(&p, 1, 100);
            if (pr == 0) {
                // A grandchild may hold stderr open after the process exited: stop waiting for EOF then.
                if (m_stop_err.load()) {
                    break;
                }
                continue;
            }
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            std::lock_guard lock(m_err_mutex);
            m_err.append(buf, static_cast<std::size_t>(n));
            if (m_err.size() > 2 * k_stderr_keep) {
                m_err.erase(0, m_err.size() - k_stderr_keep);
            }
        }
        ::close(fd);
        std::lock_guard lock(m_err_mutex);
        if (m_err.size() > k_stderr_keep) {
            m_err.erase(0, m_err.size() - k_stderr_keep);
        }
    }

    pid_t m_pid;
    std::string m_what;
    FdSource m_out;
    std::unique_ptr<FdSink> m_in;
    std::thread m_err_thread;
    std::atomic<bool> m_stop_err{false};
    mutable std::mutex m_err_mutex;
    std::string m_err;
    std::mutex m_wait_mutex;
    bool m_reaped = false;
    ExitStatus m_status;
};

class LocalRunner final : public Runner {
public:
    Result<std::unique_ptr<Process>> start(const Command& command) override
    {
        if (command.argv.empty()) {
            return fail(ErrorKind::config, "start process", "", "empty command");
        }
        const std::string what = command.argv[0];
        int out[2], err[2], in[2] = {-1, -1};
        if (::pipe2(out, O_CLOEXEC) != 0) {
            return fail(ErrorKind::failed, "start", what, errno_message(errno));
        }
        if (::pipe2(err, O_CLOEXEC) != 0) {
            int e = errno;
            ::close(out[0]);
            ::close(out[1]);
            return fail(ErrorKind::failed, "start", what, errno_message(e));
        }
        if (command.with_stdin && ::pipe2(in, O_CLOEXEC) != 0) {
            int e = errno;
            for (int fd : {out[0], out[1], err[0], err[1]}) {
                ::close(fd);
            }
            return fail(ErrorKind::failed, "start", what, errno_message(e));
        }
        // Build argv and environment before fork: nothing but async-signal-safe calls after it.
        std::vector<std::string> env_strings = child_environment(command, environ);
        std::vector<char*> argv, envp;
        for (const auto& a : command.argv) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        for (auto& e : env_strings) {
            envp.push_back(e.data());
        }
        envp.push_back(nullptr);
        // A larger pipe for the dump stream: fewer wake-ups between the tool and the compressor.
        ::fcntl(out[0], F_SETPIPE_SZ, 1 << 20);
        int exec_err[2];
        if (::pipe2(exec_err, O_CLOEXEC) != 0) {
            return fail(ErrorKind::failed, "start", what, errno_message(errno));
        }

        pid_t pid = ::fork();
        if (pid < 0) {
            int e = errno;
            return fail(ErrorKind::failed, "start", what, errno_message(e));
        }
        if (pid == 0) {
            // Child: default signal dispositions, stdio wired to the pipes.
            struct sigaction sa = {};
            sa.sa_handler = SIG_DFL;
            sigemptyset(&sa.sa_mask);
            ::sigaction(SIGINT, &sa, nullptr);
            ::sigaction(SIGTERM, &sa, nullptr);
            ::sigaction(SIGPIPE, &sa, nullptr);
            // Own process group, so kill() reaches a shell's children (pg_dump under a wrapper script).
            ::setpgid(0, 0);
            int devnull = -1;
            if (command.with_stdin) {
                ::dup2(in[0], 0);
            } else {
                devnull = ::open("/dev/null", O_RDONLY);
                ::dup2(devnull, 0);
            }
            ::dup2(out[1], 1);
            ::dup2(err[1], 2);
            ::execvpe(argv[0], argv.data(), envp.data());
            int e = errno;
            (void)!::write(exec_err[1], &e, sizeof e);
            ::_exit(127);
        }
        ::close(exec_err[1]);
        ::close(out[1]);
        ::close(err[1]);
        if (command.with_stdin) {
            ::close(in[0]);
        }
        int child_errno = 0;
        ssize_t n;
        do {
            n = ::read(exec_err[0], &child_errno, sizeof child_errno);
        } while (n < 0 && errno == EINTR);
        ::close(exec_err[0]);
        if (n == sizeof child_errno) {
            ::waitpid(pid, nullptr, 0);
            ::close(out[0]);
            ::close(err[0]);
            if (command.with_stdin) {
                ::close(in[1]);
            }
            return fail(child_errno == ENOENT ? ErrorKind::not_found : ErrorKind::failed, "start", what,
                        errno_message(child_errno));
        }
        return std::make_unique<LocalProcess>(pid, out[0], command.with_stdin ? in[1] : -1, err[0], what);
    }

    std::string describe() const override { return "local"; }
    bool local() const noexcept override { return true; }
    std::vector<Finding> probe() override { return {}; }
};

} // namespace

std::vector<std::string> child_environment(const Command& command, const char* const* parent)
{
    std::vector<std::string> out;
    for (const char* const* e = parent; e && *e; ++e) {
        const std::string_view kv = *e;
        const auto eq = kv.find('=');
        if (eq == std::string_view::npos || eq == 0) {
            continue;
        }
        const std::string_view name = kv.substr(0, eq);
        if (command.env.contains(std::string(name))) {
            continue;
        }
        const auto allowed = [name](std::string_view pattern) { return matches(name, pattern); };
        if (std::ranges::any_of(k_base_environment, allowed) || std::ranges::any_of(command.inherit, allowed)) {
            out.emplace_back(kv);
        }
    }
    for (const auto& [k, v] : command.env) {
        out.push_back(k + "=" + v);
    }
    return out;
}

std::unique_ptr<Runner> make_local_runner()
{
    return std::make_unique<LocalRunner>();
}

} // namespace dbkeep::runner
