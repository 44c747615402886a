#include "runner/ecs.hpp"

#include "core/cancel.hpp"
#include "core/hex.hpp"
#include "observe/log.hpp"
#include "runner/local.hpp"
#include "runner/prefix.hpp"
#include "stream/sha256.hpp"

#include <nlohmann/json.hpp>
#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace dbkeep::runner {
namespace fs = std::filesystem;

std::string ecs_cli_hint(const std::string& err)
{
    const auto has = [&](const char* part) { return err.find(part) != std::string::npos; };
    if (has("Unable to locate credentials") || has("NoCredentialProviders")) {
        return "give the AWS CLI credentials here (aws configure, AWS_PROFILE, or an instance or task role)";
    }
    if (has("ExpiredToken") || has("security token included in the request is expired")) {
        return "the credentials' session token has expired: refresh them";
    }
    if (has("AccessDenied") || has("not authorized to perform")) {
        return "allow dbkeep's role ecs:ListTasks and ecs:DescribeTasks";
    }
    if (has("ClusterNotFoundException")) {
        return "check the runner's cluster name and region";
    }
    if (has("ServiceNotFoundException")) {
        return "check the runner's service name (and cluster)";
    }
    return "check the cluster and service names, the region, and that dbkeep's role may call ecs:ListTasks and "
           "ecs:DescribeTasks";
}
namespace {

// What the runner does with its options: the launcher argv and the timeouts.
struct EcsLaunch {
    std::vector<std::string> launcher; // argv the remote command is appended to (as one sh -c string for aws)
    bool launcher_takes_one_string = false;
    std::string shared_dir;        // as dbkeep sees it
    std::string remote_shared_dir; // as the container sees it
    std::chrono::seconds idle_timeout{900};
    std::chrono::seconds start_timeout{120}; // launcher exit to the first sign of life (data or status)
    std::string description;
};

using Clock = std::chrono::steady_clock;
constexpr std::size_t k_stderr_keep = 64 * 1024;
constexpr auto k_poll = std::chrono::milliseconds(200);

// $1: the staging folder as the container sees it; the rest: the command. Detaches at once.
constexpr const char* k_remote_script = R"SH(d="$1"; shift
[ -d "$d" ] || exit 90
: > "$d/started"
if [ -f "$d/env" ]; then
  while IFS= read -r l && [ -n "$l" ]; do n="${l%%=*}"; v="$(printf '%b_' "${l#*=}")"; export "$n=${v%_}"; done < "$d/env"
  rm -f "$d/env"
fi
(
  trap '' HUP
  { sh -c 'echo $$ > "$0/pid"; exec "$@"' "$d" "$@" 2> "$d/stderr"; echo $? > "$d/rc"; } | tee "$d/data" | sha256sum > "$d/sum"
  printf '%s %s %s\n' "$(cat "$d/rc" 2>/dev/null || echo 255)" "$(wc -c < "$d/data" | tr -d ' ')" "$(cut -c1-64 "$d/sum")" > "$d/status.tmp" && mv "$d/status.tmp" "$d/status"
) < /dev/null > /dev/null 2>&1 &
(
  trap '' HUP
  p=""
  while [ -d "$d" ] && [ ! -e "$d/status" ]; do
    [ -z "$p" ] && [ -s "$d/pid" ] && p=$(cat "$d/pid")
    [ -e "$d/cancel" ] && break
    sleep 1
  done
  if [ -n "$p" ] && [ ! -e "$d/status" ]; then kill -TERM "$p" 2>/dev/null; sleep 5; kill -KILL "$p" 2>/dev/null; fi
) < /dev/null > /dev/null 2>&1 &
exit 0)SH";

std::string job_name()
{
    return "dbkeep-" + std::to_string(::time(nullptr)) + "-" + random_hex(6);
}

// Opens `name` in the staging folder `dir` without following a symbolic link at either level (the container
// writes into that folder and could plant one pointing at any file dbkeep can read or write). Reads accept
// only a regular file. Returns the descriptor, or -1 with errno set (ELOOP / ENOTDIR for a link).
int open_staged(const fs::path& dir, const char* name, int flags, mode_t mode = 0600)
{
    const int dirfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0) {
        return -1;
    }
    const int fd = ::openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
    const int saved = errno;
    ::close(dirfd);
    struct stat st {};
    if (fd >= 0 && (flags & O_ACCMODE) == O_RDONLY && (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        ::close(fd);
        errno = EINVAL;
        return -1;
    }
    errno = saved;
    return fd;
}

std::optional<std::string> read_small(const fs::path& dir, const char* name, std::size_t max = 1 << 20)
{
    const int fd = open_staged(dir, name, O_RDONLY);
    if (fd < 0) {
        return std::nullopt;
    }
    std::string s;
    char buf[65536];
    while (s.size() < max) {
        const ssize_t n = ::read(fd, buf, std::min(sizeof buf, max - s.size()));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        s.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return s;
}

// Writes a small marker file (cancel) into a staging folder, never through a link.
void write_marker(const fs::path& dir, const char* name, std::string_view text)
{
    const int fd = open_staged(dir, name, O_WRONLY | O_CREAT | O_TRUNC);
    if (fd >= 0) {
        (void)!::write(fd, text.data(), text.size());
        ::close(fd);
    }
}

struct RemoteStatus {
    int code = -1;
    std::uint64_t bytes = 0;
    std::string sha256;
};

std::optional<RemoteStatus> parse_status(const std::string& text)
{
    RemoteStatus s;
    char sha[80] = {};
    unsigned long long bytes = 0;
    int n = std::sscanf(text.c_str(), "%d %llu %70s", &s.code, &bytes, sha);
    if (n < 2) {
        return std::nullopt;
    }
    s.bytes = bytes;
    s.sha256 = n == 3 ? sha : "";
    return s;
}

class EcsProcess;

class EcsSource final : public stream::Source {
public:
    explicit EcsSource(EcsProcess& p) : m_p(p) {}
    Result<std::size_t> read(MutableBytes out) override;

private:
    EcsProcess& m_p;
};

class EcsProcess final : public Process {
public:
    EcsProcess(fs::path dir, const EcsLaunch& o, std::string what)
        : m_dir(std::move(dir)), m_opts(o), m_what(std::move(what)), m_follow(*this), m_out(m_follow)
    {
        m_started = Clock::now();
        m_progress = m_started;
    }

    ~EcsProcess() override
    {
        if (!m_waited && !m_killed) {
            kill();
        }
        if (m_fd >= 0) {
            ::close(m_fd);
        }
        std::error_code ec;
        fs::remove_all(m_dir, ec);
        if (ec) {
            observe::warn("cannot remove the staging folder", {{"folder", m_dir.string()}, {"error", ec.message()}});
        }
    }

    stream::Source& out() override { return m_out; }
    stream::Sink* in() override { return nullptr; }

    Result<std::size_t> read_data(MutableBytes out)
    {
        for (;;) {
            if (m_eof) {
                return 0;
            }
            if (cancel::requested()) {
                kill();
                return fail_cancelled("follow the output of", m_what);
            }
            if (m_killed) {
                return fail(ErrorKind::cancelled, "follow the output of", m_what, "the command was stopped");
            }
            // Re-open at every poll: on NFS (EFS) a fresh open sees what other clients wrote (close-to-open).
            if (m_fd < 0 || m_reopen) {
                if (m_fd >= 0) {
                    ::close(m_fd);
                }
                m_fd = open_staged(m_dir, "data", O_RDONLY);
                m_reopen = false;
                if (const int e = errno; m_fd < 0 && e != ENOENT) {
                    return fail(ErrorKind::failed, "follow the output of", m_what,
                                "the staging file " + (m_dir / "data").string() +
                                    " is a symbolic link or not a regular file (" + errno_message(e) +
                                    "): not followed",
                                "something other than dbkeep's staging script writes into the shared folder");
                }
                if (m_fd >= 0 && m_offset > 0 && ::lseek(m_fd, static_cast<off_t>(m_offset), SEEK_SET) < 0) {
                    return fail(ErrorKind::failed, "follow the output of", m_what, errno_message(errno));
                }
            }
            if (m_fd >= 0) {
                ssize_t n = ::read(m_fd, out.data(), out.size());
                if (n < 0 && errno != EINTR) {
                    return fail(ErrorKind::failed, "follow the output of", m_what, errno_message(errno));
                }
                if (n > 0) {
                    m_offset += static_cast<std::uint64_t>(n);
                    m_progress = Clock::now();
                    return static_cast<std::size_t>(n);
                }
            }
            // At the end of what is there: finished (status written after the data was complete)?
            if (!m_status) {
                if (auto text = read_small(m_dir, "status", 4096)) {
                    m_status = parse_status(*text);
                    if (!m_status) {
                        return fail(ErrorKind::failed, "follow the output of", m_what, "unreadable status file");
                    }
                    m_reopen = true;
                    continue; // read what arrived between the last read and the status
                }
            } else if (m_offset >= m_status->bytes || m_fd < 0 || ++m_polls_after_status > 50) {
                m_eof = true;
                return 0;
            }
            const auto now = Clock::now();
            const bool alive = fs::exists(m_dir / "started") || m_fd >= 0;
            if (!alive && now - m_started > m_opts.start_timeout) {
                return fail(ErrorKind::failed, "run", m_what,
                            "the command did not start within " + std::to_string(m_opts.start_timeout.count()) +
                                " s: nothing appeared in " + m_dir.string(),
                            "check that the launcher works and that remote_shared_dir is the same volume as "
                            "shared_dir inside the container");
            }
            if (alive && now - m_progress > m_opts.idle_timeout) {
                return fail(ErrorKind::failed, "run", m_what,
                            "no new output and no status for " + std::to_string(m_opts.idle_timeout.count()) +
                                " s after " + std::to_string(m_offset) +
                                " bytes: the command stopped without reporting (killed, or the container stopped?)",
                            "see the container's logs; raise the runner's timeout if the database needs longer "
                            "to start its dump");
            }
            std::this_thread::sleep_for(k_poll);
            m_reopen = true;
        }
    }

    Result<ExitStatus> wait() override
    {
        if (m_waited) {
            return m_result;
        }
        std::uint8_t buf[65536];
        while (!m_eof && !m_killed) {
            auto n = m_out.read(buf);
            if (!n) {
                m_error_output = read_stderr();
                return std::unexpected(n.error());
            }
        }
        m_waited = true;
        m_error_output = read_stderr();
        if (m_killed || !m_status) {
            m_result = ExitStatus{.code = -1, .signal = SIGTERM};
            return m_result;
        }
        const std::string& ours = m_out.hex_digest();
        m_result = ExitStatus{.code = m_status->code, .signal = 0};
        if (m_status->code == 0 &&
            (m_status->bytes != m_offset || (m_status->sha256.size() == 64 && m_status->sha256 != ours))) {
            return fail(ErrorKind::corruption, "follow the output of", m_what,
                        "read " + std::to_string(m_offset) + " bytes (sha256 " + ours.substr(0, 12) +
                            "...) but the command wrote " + std::to_string(m_status->bytes) + " bytes (sha256 " +
                            m_status->sha256.substr(0, 12) + "...)",
                        "the shared folder lost or changed data: check the volume");
        }
        return m_result;
    }

    std::string error_output() const override { return m_error_output; }

    void kill() noexcept override
    {
        if (m_killed) {
            return;
        }
        m_killed = true;
        if (!m_status) {
            // The watchdog inside the container sees this (or the folder going away) and stops the command.
            write_marker(m_dir, "cancel", "cancel\n");
        }
    }

private:
    std::string read_stderr() const
    {
        auto err = read_small(m_dir, "stderr", 4 << 20).value_or("");
        if (err.size() > k_stderr_keep) {
            err.erase(0, err.size() - k_stderr_keep);
        }
        return err;
    }

    fs::path m_dir;
    EcsLaunch m_opts;
    std::string m_what;
    EcsSource m_follow;
    stream::HashingSource m_out; // what the caller reads: the followed file, hashed on the way
    int m_fd = -1;
    bool m_reopen = false;
    std::uint64_t m_offset = 0;
    int m_polls_after_status = 0;
    std::optional<RemoteStatus> m_status;
    Clock::time_point m_started, m_progress;
    bool m_eof = false, m_killed = false, m_waited = false;
    ExitStatus m_result;
    std::string m_error_output;
};

Result<std::size_t> EcsSource::read(MutableBytes out)
{
    return m_p.read_data(out);
}

// What the task is looked up by, for messages: "service prod/web".
std::string lookup_name(const EcsOptions& c)
{
    return (c.service.empty() ? "task family " + c.cluster + "/" + c.family : "service " + c.cluster + "/" + c.service);
}

// Runs `aws ecs <args> --output json` (with the configured region and endpoint) and parses its answer as a
// JSON object. Errors name the call and what came back.
Result<nlohmann::json> aws_ecs(const EcsOptions& c, std::vector<std::string> args, const std::string& what)
{
    Command cmd;
    cmd.argv = {"aws", "ecs"};
    cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
    cmd.argv.insert(cmd.argv.end(), {"--output", "json"});
    if (!c.region.empty()) {
        cmd.argv.insert(cmd.argv.end(), {"--region", c.region});
    }
    if (!c.endpoint.empty()) {
        cmd.argv.insert(cmd.argv.end(), {"--endpoint-url", c.endpoint});
    }
    cmd.inherit = launcher_environment();
    auto local = make_local_runner();
    auto out = run_capture(*local, cmd, 16 << 20);
    const std::string op = "find the running task of";
    if (!out) {
        return fail(out.error().kind, op, what, "aws ecs " + args[0] + ": " + out.error().message,
                    out.error().kind == ErrorKind::not_found ? "install the AWS CLI here (it also runs ECS Exec)"
                                                             : out.error().hint);
    }
    if (!out->status.ok()) {
        std::string err = out->err.substr(0, 600);
        while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) {
            err.pop_back();
        }
        err.erase(0, std::min(err.size(), err.find_first_not_of("\r\n")));
        return fail(ErrorKind::failed, op, what,
                    "aws ecs " + args[0] + " " + out->status.describe() + (err.empty() ? "" : ": " + err),
                    ecs_cli_hint(err));
    }
    auto j = nlohmann::json::parse(out->out, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return fail(ErrorKind::failed, op, what,
                    "aws ecs " + args[0] + " gave no JSON object" +
                        (out->out.empty() ? " (empty output)" : ": " + out->out.substr(0, 200)),
                    "check the endpoint (region, endpoint) points at ECS");
    }
    return j;
}

// A RUNNING task from describe-tasks: its ARN and start time (epoch seconds from the API, or an ISO 8601
// string from a CLI configured so; compared within their kind).
struct RunningTask {
    std::string arn;
    double started = 0;
    std::string started_text;
};

} // namespace

Result<std::string> resolve_ecs_task(const EcsOptions& c)
{
    if (c.service.empty() && c.family.empty()) {
        if (c.task.empty()) {
            return fail(ErrorKind::config, "find the task of", "ecs runner", "no service, family or task given",
                        "set the runner's service (or family, or task)");
        }
        return c.task;
    }
    const std::string what = lookup_name(c);
    std::vector<std::string> list{"list-tasks", "--cluster", c.cluster, "--desired-status", "RUNNING"};
    if (!c.service.empty()) {
        list.insert(list.end(), {"--service-name", c.service});
    } else {
        list.insert(list.end(), {"--family", c.family});
    }
    auto listed = aws_ecs(c, list, what);
    if (!listed) {
        return std::unexpected(listed.error());
    }
    const auto arns = listed->find("taskArns");
    if (arns == listed->end() || !arns->is_array() ||
        !std::all_of(arns->begin(), arns->end(), [](const nlohmann::json& a) { return a.is_string(); })) {
        return fail(ErrorKind::failed, "find the running task of", what,
                    "the ListTasks answer has no list of task ARNs (taskArns): " + listed->dump().substr(0, 200),
                    "check the endpoint points at ECS");
    }
    if (arns->empty()) {
        return fail(ErrorKind::failed, "find the running task of", what, "no task of it is running in the cluster",
                    "start the service (desired count at least 1) or check the cluster, service or family name");
    }
    if (arns->size() > 100) {
        return fail(ErrorKind::config, "find the running task of", what,
                    std::to_string(arns->size()) + " tasks run; one database container is expected",
                    "name the database's own service or family");
    }
    std::vector<std::string> describe{"describe-tasks", "--cluster", c.cluster, "--tasks"};
    for (const auto& a : *arns) {
        describe.push_back(a.get<std::string>());
    }
    auto described = aws_ecs(c, describe, what);
    if (!described) {
        return std::unexpected(described.error());
    }
    const auto tasks = described->find("tasks");
    if (tasks == described->end() || !tasks->is_array()) {
        return fail(ErrorKind::failed, "find the running task of", what,
                    "the DescribeTasks answer has no list of tasks: " + described->dump().substr(0, 200),
                    "check the endpoint points at ECS");
    }
    std::vector<RunningTask> running;
    std::size_t starting = 0, without_container = 0;
    for (const auto& t : *tasks) {
        if (!t.is_object()) {
            return fail(ErrorKind::failed, "find the running task of", what,
                        "a task in the DescribeTasks answer is not an object: " + t.dump().substr(0, 200),
                        "check the endpoint points at ECS");
        }
        const auto arn = t.find("taskArn");
        const auto status = t.find("lastStatus");
        if (arn == t.end() || !arn->is_string() || status == t.end() || !status->is_string()) {
            return fail(ErrorKind::failed, "find the running task of", what,
                        "a task in the DescribeTasks answer lacks taskArn or lastStatus: " + t.dump().substr(0, 200),
                        "check the endpoint points at ECS");
        }
        if (status->get<std::string>() != "RUNNING") {
            ++starting;
            continue;
        }
        if (const auto containers = t.find("containers"); containers != t.end() && containers->is_array()) {
            const bool has = std::any_of(containers->begin(), containers->end(), [&](const nlohmann::json& k) {
                return k.is_object() && k.contains("name") && k["name"].is_string() &&
                       k["name"].get<std::string>() == c.container;
            });
            if (!has) {
                ++without_container;
                continue;
            }
        }
        RunningTask r{.arn = arn->get<std::string>()};
        if (const auto at = t.find("startedAt"); at != t.end()) {
            if (at->is_number()) {
                r.started = at->get<double>();
            } else if (at->is_string()) {
                r.started_text = at->get<std::string>();
            }
        }
        running.push_back(std::move(r));
    }
    if (running.empty()) {
        std::string why = "no task of it is RUNNING";
        if (starting > 0) {
            why += " (" + std::to_string(starting) + " still starting or stopping)";
        }
        if (without_container > 0) {
            why += " (" + std::to_string(without_container) + " without a container named '" + c.container + "')";
        }
        return fail(ErrorKind::failed, "find the running task of", what, why,
                    starting > 0 ? "retry once the task is RUNNING"
                                 : "check the runner's container name and that the service runs");
    }
    // The newest first; the ARN breaks ties so the choice never depends on the order of the answer.
    std::sort(running.begin(), running.end(), [](const RunningTask& a, const RunningTask& b) {
        if (a.started != b.started) {
            return a.started > b.started;
        }
        if (a.started_text != b.started_text) {
            return a.started_text > b.started_text;
        }
        return a.arn > b.arn;
    });
    if (running.size() > 1) {
        observe::info("several tasks run; using the one started last",
                      {{"runner", what}, {"task", running.front().arn}, {"running", std::to_string(running.size())}});
    } else {
        observe::debug("found the running task", {{"runner", what}, {"task", running.front().arn}});
    }
    return running.front().arn;
}

namespace {

EcsLaunch ecs_launch(const EcsOptions& c);

class EcsRunner final : public Runner {
public:
    explicit EcsRunner(EcsOptions c)
        : m_config(std::move(c)), m_opts(ecs_launch(m_config)), m_local(make_local_runner()),
          m_resolved(!m_config.argv.empty() || (m_config.service.empty() && m_config.family.empty()))
    {
    }

    Result<std::unique_ptr<Process>> start(const Command& command) override
    {
        if (command.argv.empty()) {
            return fail(ErrorKind::config, "start process", "", "empty command");
        }
        if (command.with_stdin) {
            return fail(ErrorKind::config, "run " + command.argv[0] + " through", m_opts.description,
                        "the ecs runner launches commands detached and cannot feed them input",
                        "restore through a docker, kubectl, ssh or local runner, or restore --output a file");
        }
        if (!m_resolved) {
            // Once per run: the task id changes on every deploy, the run's commands all go to the same task.
            auto task = resolve_ecs_task(m_config);
            if (!task) {
                return std::unexpected(task.error());
            }
            m_config.task = *task;
            m_opts = ecs_launch(m_config);
            m_resolved = true;
        }
        if (!m_cleaned) {
            m_cleaned = true;
            if (auto n = clean_stale_ecs_staging(m_opts.shared_dir, std::chrono::hours(24)); n > 0) {
                observe::info("removed stale staging folders",
                              {{"folder", m_opts.shared_dir}, {"count", std::to_string(n)}});
            }
        }
        const std::string job = job_name();
        const fs::path local = fs::path(m_opts.shared_dir) / job;
        std::error_code ec;
        if (!fs::is_directory(m_opts.shared_dir, ec)) {
            return fail(ErrorKind::config, "use the shared folder", m_opts.shared_dir, "not a folder here",
                        "mount the volume shared with the container (EFS) and set the runner's shared_dir");
        }
        if (::mkdir(local.c_str(), 0700) != 0) {
            return fail(errno == EACCES ? ErrorKind::auth : ErrorKind::failed, "create staging folder", local.string(),
                        errno_message(errno));
        }
        if (!command.env.empty()) {
            int fd = open_staged(local, "env", O_WRONLY | O_CREAT | O_EXCL);
            std::string text = env_preamble(command.env);
            bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
            if (fd >= 0) {
                ::close(fd);
            }
            if (!ok) {
                fs::remove_all(local, ec);
                return fail(ErrorKind::failed, "write the environment file in", local.string(), "write failed");
            }
        }
        const std::string remote = m_opts.remote_shared_dir + "/" + job;
        std::vector<std::string> tail{"sh", "-c", k_remote_script, "sh", remote};
        tail.insert(tail.end(), command.argv.begin(), command.argv.end());
        Command launch;
        launch.argv = m_opts.launcher;
        launch.inherit = launcher_environment(); // aws ecs execute-command needs AWS_*; custom launchers more
        if (m_opts.launcher_takes_one_string) {
            std::string line;
            for (const auto& w : tail) {
                line += (line.empty() ? "" : " ") + shell_quote(w);
            }
            launch.argv.push_back(line);
        } else {
            launch.argv.insert(launch.argv.end(), tail.begin(), tail.end());
        }
        observe::debug("launching detached command",
                       {{"runner", m_opts.description}, {"command", command.argv[0]}, {"staging", local.string()}});
        auto out = run_capture(*m_local, launch, 1 << 20);
        if (!out || !out->status.ok()) {
            std::string why = out ? "the launcher " + out->status.describe() : out.error().message;
            std::string err = out ? out->err + out->out : "";
            if (auto nl = err.find('\n'); nl != std::string::npos && nl + 1 < err.size()) {
                err = err.substr(0, 400);
            }
            fs::remove_all(local, ec);
            return fail(ErrorKind::failed, "launch " + command.argv[0] + " through", m_opts.description,
                        why + (err.empty() ? "" : ": " + err),
                        "check the launcher (for ECS Exec: the task's enableExecuteCommand, the task role's "
                        "ssmmessages permissions, the VPC endpoints, and the session-manager-plugin here)");
        }
        return std::make_unique<EcsProcess>(local, m_opts, command.argv[0] + " through " + m_opts.description);
    }

    std::string describe() const override { return m_opts.description; }
    bool interactive() const noexcept override { return false; }

    // One round of the protocol proves the launcher and that both sides see and write the shared folder.
    std::vector<Finding> probe() override
    {
        auto probe = run_capture(*this, {.argv = {"sh", "-c", "echo dbkeep-probe"}}, 1024);
        if (!probe || !probe->status.ok() || probe->out != "dbkeep-probe\n") {
            std::string why = !probe ? probe.error().message
                                     : probe->status.describe() + ": " + probe->err.substr(0, probe->err.find('\n'));
            std::string remedy = !probe && !probe.error().hint.empty()
                                     ? probe.error().hint
                                     : "check the launcher, shared_dir and remote_shared_dir";
            return {failed("runner.ecs", describe() + ": " + why, remedy)};
        }
        return {pass("runner.ecs", "launched a command through " + describe() + " and read its output and status in " +
                                       m_opts.shared_dir + " (both sides can write there)")};
    }

private:
    EcsOptions m_config;
    EcsLaunch m_opts;
    std::unique_ptr<Runner> m_local;
    bool m_resolved = true;
    bool m_cleaned = false;
};

EcsLaunch ecs_launch(const EcsOptions& c)
{
    EcsLaunch o;
    o.shared_dir = c.shared_dir;
    o.remote_shared_dir = c.remote_shared_dir.empty() ? c.shared_dir : c.remote_shared_dir;
    while (o.remote_shared_dir.size() > 1 && o.remote_shared_dir.ends_with('/')) {
        o.remote_shared_dir.pop_back();
    }
    if (c.timeout.count() > 0) {
        o.idle_timeout = c.timeout;
        o.start_timeout = std::min(o.start_timeout, c.timeout);
    }
    if (!c.argv.empty()) {
        o.launcher = c.argv;
        o.description = "ecs launcher " + c.argv[0];
        for (std::size_t i = 1; i < c.argv.size() && i < 4; ++i) {
            o.description += " " + c.argv[i];
        }
    } else {
        // AWS ECS Exec: one interactive session whose command is a single string.
        o.launcher = {"aws",  "ecs",         "execute-command", "--cluster",     c.cluster,  "--task",
                      c.task, "--container", c.container,       "--interactive", "--command"};
        o.launcher_takes_one_string = true;
        if (!c.service.empty() || !c.family.empty()) {
            o.description = "ecs " + lookup_name(c);
            if (!c.task.empty()) {
                o.description += " task " + c.task.substr(c.task.rfind('/') + 1);
            }
        } else {
            o.description = "ecs task " + c.cluster + "/" + c.task;
        }
        o.description += " container " + c.container;
        if (!c.region.empty()) {
            o.launcher.insert(o.launcher.begin() + 1, {"--region", c.region});
        }
        if (!c.endpoint.empty()) {
            o.launcher.insert(o.launcher.begin() + 1, {"--endpoint-url", c.endpoint});
        }
    }
    return o;
}

} // namespace

std::unique_ptr<Runner> make_ecs_runner(const EcsOptions& options)
{
    return std::make_unique<EcsRunner>(options);
}

std::size_t clean_stale_ecs_staging(const std::string& shared_dir, std::chrono::seconds max_age)
{
    std::size_t removed = 0;
    std::error_code ec;
    const auto now = fs::file_time_type::clock::now();
    for (const auto& e : fs::directory_iterator(shared_dir, ec)) {
        const auto name = e.path().filename().string();
        // A symbolic link named like a staging folder is not one of ours: never followed, written or removed.
        if (!name.starts_with("dbkeep-") || !e.is_directory(ec) || e.is_symlink(ec)) {
            continue;
        }
        // The newest sign of life: the folder itself or its growing data file.
        auto newest = fs::last_write_time(e.path(), ec);
        if (auto t = fs::last_write_time(e.path() / "data", ec); !ec && t > newest) {
            newest = t;
        }
        if (now - newest < max_age) {
            continue;
        }
        write_marker(e.path(), "cancel", "stale\n");
        fs::remove_all(e.path(), ec);
        if (!ec) {
            ++removed;
        }
    }
    return removed;
}

} // namespace dbkeep::runner
