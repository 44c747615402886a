#include "runner/local.hpp"

#include "core/cancel.hpp"
#include "core/child.hpp"

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

namespace dbkeep::runner {
namespace {

constexpr std::size_t k_stderr_keep = 64 * 1024;

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
        auto started = child::spawn(
            {.argv = command.argv, .env = command.env, .inherit = command.inherit, .with_stdin = command.with_stdin});
        if (!started) {
            return std::unexpected(started.error());
        }
        return std::make_unique<LocalProcess>(started->pid, started->out_fd, started->in_fd, started->err_fd,
                                              command.argv[0]);
    }

    std::string describe() const override { return "local"; }
    bool local() const noexcept override { return true; }
    std::vector<Finding> probe() override { return {}; }
};

} // namespace

std::unique_ptr<Runner> make_local_runner()
{
    return std::make_unique<LocalRunner>();
}

} // namespace dbkeep::runner
