// The Docker Engine API's answers are input to validate: JSON whose fields have the wrong types (a string
// "Running", a numeric "Version") reads as their defaults, never as an exception that ends the process. Against a
// loopback stand-in (a real dockerd does not send such answers).
#include "runner/docker/docker.hpp"
#include "support/http_stand_in.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

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
