#include "core/child.hpp"

#include "core/cancel.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <string_view>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace dbkeep::child {
namespace {

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

std::string within(std::chrono::milliseconds deadline)
{
    return "did not finish within " + (deadline.count() % 1000 == 0 ? std::to_string(deadline.count() / 1000) + " s"
                                                                    : std::to_string(deadline.count()) + " ms");
}

void close_all(std::initializer_list<int> fds)
{
    for (int fd : fds) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

// SIGTERM to the group, SIGKILL after a grace period, then reap. Returns the wait status.
int kill_and_reap(pid_t pid)
{
    ::kill(-pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 50; ++i) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            ::kill(-pid, SIGKILL);
            return status;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(-pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

} // namespace

std::vector<std::string> environment(const Spec& spec, const char* const* parent)
{
    std::vector<std::string> out;
    for (const char* const* e = parent; e && *e; ++e) {
        const std::string_view kv = *e;
        const auto eq = kv.find('=');
        if (eq == std::string_view::npos || eq == 0) {
            continue;
        }
        const std::string_view name = kv.substr(0, eq);
        if (spec.env.contains(std::string(name))) {
            continue;
        }
        const auto allowed = [name](std::string_view pattern) { return matches(name, pattern); };
        if (std::ranges::any_of(k_base_environment, allowed) || std::ranges::any_of(spec.inherit, allowed)) {
            out.emplace_back(kv);
        }
    }
    for (const auto& [k, v] : spec.env) {
        out.push_back(k + "=" + v);
    }
    return out;
}

Result<Started> spawn(const Spec& spec)
{
    if (spec.argv.empty()) {
        return fail(ErrorKind::config, "start process", "", "empty command");
    }
    const std::string& what = spec.argv[0];
    int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, exec_err[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
        (spec.with_stdin && ::pipe2(in, O_CLOEXEC) != 0) || ::pipe2(exec_err, O_CLOEXEC) != 0) {
        const int e = errno;
        close_all({out[0], out[1], err[0], err[1], in[0], in[1], exec_err[0], exec_err[1]});
        return fail(ErrorKind::failed, "start", what, errno_message(e));
    }
    // Build argv and environment before fork: nothing but async-signal-safe calls after it.
    std::vector<std::string> env_strings = environment(spec, environ);
    std::vector<char*> argv, envp;
    for (const auto& a : spec.argv) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    for (auto& e : env_strings) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    // A larger pipe for a dump stream: fewer wake-ups between the tool and the compressor.
    ::fcntl(out[0], F_SETPIPE_SZ, 1 << 20);

    const pid_t pid = ::fork();
    if (pid < 0) {
        const int e = errno;
        close_all({out[0], out[1], err[0], err[1], in[0], in[1], exec_err[0], exec_err[1]});
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
        // A thread that blocks SIGINT/SIGTERM (the lease renewer) must not hand that mask to the program.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        // Own process group, so a kill reaches a shell's children (pg_dump under a wrapper script).
        ::setpgid(0, 0);
        const int input = spec.with_stdin ? in[0] : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (input >= 0 && ::dup2(input, 0) == 0 && ::dup2(out[1], 1) == 1 && ::dup2(err[1], 2) == 2) {
            ::execvpe(argv[0], argv.data(), envp.data());
        }
        const int e = errno;
        (void)!::write(exec_err[1], &e, sizeof e);
        ::_exit(127);
    }
    close_all({exec_err[1], out[1], err[1], in[0]});
    int child_errno = 0;
    ssize_t n;
    do {
        n = ::read(exec_err[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    ::close(exec_err[0]);
    if (n == sizeof child_errno) {
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        close_all({out[0], err[0], in[1]});
        return fail(child_errno == ENOENT ? ErrorKind::not_found : ErrorKind::failed, "start", what,
                    errno_message(child_errno));
    }
    return Started{pid, out[0], err[0], in[1]};
}

Result<Captured> run(const Spec& spec, const Limits& limits, const std::string& what)
{
    Spec plain = spec;
    plain.with_stdin = false;
    auto started = spawn(plain);
    if (!started) {
        return std::unexpected(started.error());
    }
    const auto deadline = std::chrono::steady_clock::now() + limits.deadline;
    Captured result;
    int fds[2] = {started->out_fd, started->err_fd};
    std::string problem;
    ErrorKind kind = ErrorKind::failed;
    char buf[8192];
    while ((fds[0] >= 0 || fds[1] >= 0) && problem.empty()) {
        if (cancel::requested()) {
            kind = ErrorKind::cancelled;
            problem = k_cancelled_message;
            break;
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            kind = ErrorKind::transient;
            problem = within(limits.deadline);
            break;
        }
        pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
        const int pr = ::poll(p, 2, static_cast<int>(std::min<long long>(left.count(), 200)));
        if (pr < 0 && errno != EINTR) {
            problem = "read its output: " + errno_message(errno);
            break;
        }
        for (int i = 0; i < 2 && pr > 0; ++i) {
            if (fds[i] < 0 || p[i].revents == 0) {
                continue;
            }
            const ssize_t got = ::read(fds[i], buf, sizeof buf);
            if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
                continue;
            }
            if (got <= 0) {
                ::close(fds[i]);
                fds[i] = -1;
                continue;
            }
            std::string& into = i == 0 ? result.out : result.err;
            into.append(buf, static_cast<std::size_t>(got));
            if (i == 0 && result.out.size() > limits.max_output) {
                problem = "printed more than " + std::to_string(limits.max_output) + " bytes";
                result.out.resize(limits.max_output);
            }
            if (i == 1 && result.err.size() > 2 * limits.max_error_output) {
                result.err.erase(0, result.err.size() - limits.max_error_output);
            }
        }
    }
    close_all({fds[0], fds[1]});
    if (result.err.size() > limits.max_error_output) {
        result.err.erase(0, result.err.size() - limits.max_error_output);
    }
    int status = 0;
    if (!problem.empty()) {
        (void)kill_and_reap(started->pid);
        return fail(kind, "run", what, problem);
    }
    // Both pipes closed: the child exited or closed them; wait for it within what is left of the deadline.
    for (;;) {
        const pid_t r = ::waitpid(started->pid, &status, WNOHANG);
        if (r == started->pid) {
            break;
        }
        if (r < 0 && errno != EINTR) {
            return fail(ErrorKind::failed, "wait for", what, errno_message(errno));
        }
        if (cancel::requested() || std::chrono::steady_clock::now() >= deadline) {
            (void)kill_and_reap(started->pid);
            return cancel::requested() ? fail_cancelled("run", what)
                                       : fail(ErrorKind::transient, "run", what, within(limits.deadline));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return result;
}

} // namespace dbkeep::child
