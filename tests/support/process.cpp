#include "support/process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace dbkeep::test {
namespace {
std::vector<std::string> build_env(const std::map<std::string, std::string>& extra)
{
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos) {
            env[kv.substr(0, eq)] = kv.substr(eq + 1);
        }
    }
    for (const auto& [k, v] : extra) {
        if (v == "\x01unset") {
            env.erase(k);
        } else {
            env[k] = v;
        }
    }
    std::vector<std::string> out;
    for (const auto& [k, v] : env) {
        out.push_back(k + "=" + v);
    }
    return out;
}

pid_t spawn(const std::vector<std::string>& argv, const RunOptions& options, int in_fd, int out_fd, int err_fd)
{
    auto envs = build_env(options.env);
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) {
        cargv.push_back(const_cast<char*>(a.c_str()));
    }
    cargv.push_back(nullptr);
    for (const auto& e : envs) {
        cenv.push_back(const_cast<char*>(e.c_str()));
    }
    cenv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
        throw std::runtime_error("fork failed");
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(in_fd, 0);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) {
            _exit(126);
        }
        environ = cenv.data();
        execvp(cargv[0], cargv.data());
        _exit(127);
    }
    return pid;
}
} // namespace

RunResult run(const std::vector<std::string>& argv, const RunOptions& options)
{
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
        throw std::runtime_error("pipe failed");
    }
    pid_t pid = spawn(argv, options, in[0], out[1], err[1]);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    std::thread writer([fd = in[1], input = options.input] {
        std::size_t off = 0;
        while (off < input.size()) {
            ssize_t n = ::write(fd, input.data() + off, input.size() - off);
            if (n <= 0) {
                break;
            }
            off += static_cast<std::size_t>(n);
        }
        close(fd);
    });
    RunResult r;
    auto deadline = std::chrono::steady_clock::now() + options.timeout;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    char buf[65536];
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            r.timed_out = true;
            kill(-pid, SIGKILL);
            break;
        }
        int pr = poll(fds, 2, static_cast<int>(std::min<long>(left.count(), 1000)));
        if (pr < 0 && errno != EINTR) {
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
                if (n <= 0) {
                    close(fds[i].fd);
                    fds[i].fd = -1;
                    --open_fds;
                } else {
                    (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
                }
            }
        }
    }
    for (auto& f : fds) {
        if (f.fd >= 0) {
            close(f.fd);
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    writer.join();
    if (WIFEXITED(status)) {
        r.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        r.signal = WTERMSIG(status);
    }
    return r;
}

RunResult sh(const std::string& script, const RunOptions& options)
{
    return run({"/bin/sh", "-c", script}, options);
}

std::string dbkeep_binary()
{
    return DBKEEP_BINARY;
}

RunResult run_dbkeep(const std::vector<std::string>& args, const RunOptions& options)
{
    std::vector<std::string> argv{dbkeep_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, options);
}

Background::Background(const std::vector<std::string>& argv, const RunOptions& options, const std::string& log_path)
{
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    m_pid = spawn(argv, options, devnull, log, log);
    close(devnull);
    close(log);
}

Background::~Background()
{
    if (!m_reaped && m_pid > 0) {
        kill(-m_pid, SIGKILL);
        waitpid(m_pid, nullptr, 0);
    }
}

void Background::signal(int sig)
{
    if (!m_reaped) {
        kill(m_pid, sig);
    }
}

bool Background::running()
{
    if (m_reaped) {
        return false;
    }
    pid_t r = waitpid(m_pid, &m_status, WNOHANG);
    if (r == m_pid) {
        m_reaped = true;
        return false;
    }
    return true;
}

int Background::wait(std::chrono::seconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return WIFEXITED(m_status) ? WEXITSTATUS(m_status) : -1;
}

bool have_program(const std::string& name)
{
    if (name.find('/') != std::string::npos) {
        return access(name.c_str(), X_OK) == 0;
    }
    const char* path = std::getenv("PATH");
    std::string p = path ? path : "/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= p.size()) {
        auto end = p.find(':', start);
        if (end == std::string::npos) {
            end = p.size();
        }
        std::string candidate = p.substr(start, end - start) + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0) {
            return true;
        }
        start = end + 1;
    }
    return false;
}

} // namespace dbkeep::test
