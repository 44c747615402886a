// The Docker Engine API's answers are input to validate: JSON whose fields have the wrong types (a string
// "Running", a numeric "Version") reads as their defaults, never as an exception that ends the process. Against a
// loopback stand-in (a real dockerd does not send such answers). And each way of not reaching the engine has
// its own hint: an address form dbkeep does not speak, no daemon at the address, a socket this user may not open.
#include "runner/docker/docker.hpp"
#include "support/http_stand_in.hpp"
#include "support/temp_dir.hpp"

#include <cstring>
#include <filesystem>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

constexpr const char* k_engine = R"PY(
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, body):
        self.send_response(200); self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body.encode())
    def do_GET(self):
        if self.path.endswith('/version'):
            return self.reply('{"Version": 3, "ApiVersion": ["1.41"], "Components": [{"Name": 7}]}')
        if self.path.endswith('/containers/db/json'):
            return self.reply('{"State": {"Running": "yes", "Paused": 1, "Status": 5}, "Config": {"Image": [1]}}')
        self.send_response(404); self.send_header('Content-Length', '2'); self.end_headers(); self.wfile.write(b'{}')
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
)PY";

} // namespace

TEST(DockerApi, FieldsOfTheWrongTypeAreTheirDefaultsNotACrash)
{
    if (auto reason = HttpStandIn::skip_reason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    TempDir dir;
    HttpStandIn engine(dir.path(), "engine.py", k_engine);
    runner::DockerOptions options;
    options.host = "tcp://" + engine.url().substr(std::string("http://").size());
    options.container = "db";
    auto state = runner::inspect_container(options);
    ASSERT_TRUE(state) << state.error().to_string();
    EXPECT_TRUE(state->exists);
    EXPECT_FALSE(state->running) << "\"Running\": \"yes\" is not true";
    EXPECT_EQ(state->status, "");
    EXPECT_EQ(state->image, "");
    EXPECT_EQ(state->engine, "Docker ");
    EXPECT_EQ(state->api_version, "");
}

// An address dbkeep cannot speak to (the docker CLI's ssh://) is a config error that says which forms work.
TEST(DockerApi, AnUnsupportedAddressNamesTheFormsThatWork)
{
    runner::DockerOptions options;
    options.host = "ssh://admin@db-host";
    options.container = "db";
    auto state = runner::inspect_container(options);
    ASSERT_FALSE(state);
    EXPECT_EQ(state.error().kind, ErrorKind::config) << state.error().to_string();
    EXPECT_NE(state.error().hint.find("use unix:///path/to/docker.sock or tcp://host:port"), std::string::npos)
        << state.error().hint;
}

// No daemon at the address: over a socket path the hint asks whether the daemon runs (and where the runner's
// host: points); over tcp whether it listens there.
TEST(DockerApi, NoDaemonAtTheAddressAsksWhetherItRuns)
{
    TempDir dir;
    runner::DockerOptions options;
    options.container = "db";
    options.host = "unix://" + (dir.path() / "docker.sock").string();
    auto socket = runner::inspect_container(options);
    ASSERT_FALSE(socket);
    EXPECT_EQ(socket.error().kind, ErrorKind::transient) << socket.error().to_string();
    EXPECT_NE(socket.error().hint.find("is the Docker (or podman system service) daemon running?"), std::string::npos)
        << socket.error().to_string();
    options.host = "tcp://127.0.0.1:" + std::to_string(free_port());
    auto tcp = runner::inspect_container(options);
    ASSERT_FALSE(tcp);
    EXPECT_EQ(tcp.error().kind, ErrorKind::transient) << tcp.error().to_string();
    EXPECT_NE(tcp.error().hint.find("is the daemon listening there?"), std::string::npos) << tcp.error().to_string();
}

// A user outside the docker group: the engine's socket (root's, mode 0600, as dockerd makes it without a docker
// group) refuses the connection with EACCES, and the hint names the group. Root passes any permission check, so
// the request is made from a child process that has become nobody.
TEST(DockerApi, ASocketThisUserMayNotOpenNamesTheDockerGroup)
{
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root to make the request as another user (nobody)";
    }
    TempDir dir;
    std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                                 std::filesystem::perms::group_exec |
                                                 std::filesystem::perms::others_read |
                                                 std::filesystem::perms::others_exec);
    const auto path = dir.path() / "docker.sock";
    const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    ASSERT_EQ(::listen(listener, 4), 0);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::close(pipe_fds[0]);
        std::string report;
        if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
            ::setresuid(65534, 65534, 65534) != 0) {
            report = "could not become nobody";
        } else {
            runner::DockerOptions options;
            options.host = "unix://" + path.string();
            options.container = "db";
            auto state = runner::inspect_container(options);
            report = state ? "connected" : std::string(to_string(state.error().kind)) + "\n" + state.error().hint;
        }
        (void)!::write(pipe_fds[1], report.data(), report.size());
        ::_exit(0);
    }
    ::close(pipe_fds[1]);
    std::string report;
    char buf[4096];
    for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) {
        report.append(buf, static_cast<std::size_t>(n));
    }
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(listener);
    EXPECT_EQ(report.substr(0, report.find('\n')), "auth") << report;
    EXPECT_NE(report.find("run dbkeep as a user in the docker group, or as root"), std::string::npos) << report;
}
