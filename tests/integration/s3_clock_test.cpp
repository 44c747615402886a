// The storage.clock probe of `dbkeep check` with this machine's clock faked off by a signing offset: the
// server refuses with a 403, and the skew is read from that refusal's Date header, which is the case the
// probe exists for. s3rver does not check skew for SigV4 headers (its parseDate takes an Invalid Date of
// X-Amz-Date's basic format for a valid one), so it refuses here through a wrong secret; a loopback stand-in
// answers 403 RequestTimeTooSkewed past 15 minutes as AWS S3 does.
#include "config/config.hpp"
#include "job/open.hpp"
#include "storage/s3/s3.hpp"
#include "support/process.hpp"
#include "support/s3_server.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <cstdlib>
#include <gtest/gtest.h>
#include <thread>

using namespace dbkeep;
using namespace dbkeep::test;
using namespace std::chrono_literals;

namespace {

// AWS S3's answer to a request signed more than 15 minutes off: 403 RequestTimeTooSkewed, with a Date header
// like every answer (http.server adds it).
constexpr const char* k_skew_checking_s3 = R"PY(
import http.server, sys, datetime
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, body=True):
        t = datetime.datetime.strptime(self.headers.get('X-Amz-Date', ''), '%Y%m%dT%H%M%SZ').replace(tzinfo=datetime.timezone.utc)
        skew = abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
        n = int(self.headers.get('Content-Length') or 0)
        if n: self.rfile.read(n)
        if skew > 900:
            doc = b'<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>'
            self.send_response(403)
        else:
            doc = b''
            self.send_response(200)
        self.send_header('Content-Length', str(len(doc)))
        self.end_headers()
        if body: self.wfile.write(doc)
    def do_HEAD(self): self.answer(False)
    def do_GET(self): self.answer()
    def do_PUT(self): self.answer()
    def do_POST(self): self.answer()
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
)PY";

class S3Clock : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (auto reason = S3Server::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        m_s3 = std::make_unique<S3Server>();
    }

    storage::S3Options options(std::chrono::seconds offset) const
    {
        storage::S3Options o;
        o.bucket = m_s3->bucket();
        o.endpoint = m_s3->endpoint();
        o.access_key_id = S3Server::k_key;
        o.secret_access_key = Secret(S3Server::k_secret);
        o.clock_offset = offset;
        return o;
    }

    std::unique_ptr<S3Server> m_s3;
};

} // namespace

TEST_F(S3Clock, SkewIsReadFromTheDateOfARefusal)
{
    auto in_sync = storage::s3_clock_skew(options(0s));
    ASSERT_TRUE(in_sync) << in_sync.error().to_string();
    EXPECT_LE(std::labs(*in_sync), 5);

    // s3rver refuses a wrong secret with 403 SignatureDoesNotMatch: its Date still tells the skew.
    auto refused = options(30min);
    refused.secret_access_key = Secret("wrong");
    auto ahead = storage::s3_clock_skew(refused);
    ASSERT_TRUE(ahead) << ahead.error().to_string();
    EXPECT_NEAR(*ahead, 1800, 5);
    refused.clock_offset = -20min;
    auto behind = storage::s3_clock_skew(refused);
    ASSERT_TRUE(behind) << behind.error().to_string();
    EXPECT_NEAR(*behind, -1200, 5);
}

TEST_F(S3Clock, CheckProbeReportsTheSkewOfARequestTimeTooSkewedRefusal)
{
    if (!have_program("python3")) {
        GTEST_SKIP() << "python3 not installed";
    }
    TempDir dir;
    write_file(dir / "s3.py", k_skew_checking_s3);
    const int port = free_port();
    Background server({"python3", (dir / "s3.py").string(), std::to_string(port)});
    const std::string endpoint = "http://127.0.0.1:" + std::to_string(port);
    for (int i = 0; i < 100 && run({"curl", "-s", "-o", "/dev/null", endpoint}).exit_code != 0; ++i) {
        std::this_thread::sleep_for(50ms);
    }
    auto direct = options(30min);
    direct.endpoint = endpoint;
    auto storage = storage::make_s3_storage(direct);
    ASSERT_TRUE(storage);
    auto st = storage::put_object(**storage, "k", "v");
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind, ErrorKind::auth);
    EXPECT_NE(st.error().message.find("RequestTimeTooSkewed"), std::string::npos) << st.error().to_string();

    ::setenv("S3_TEST_SECRET", S3Server::k_secret, 1);
    auto config = config::load_from_string("storages:\n  s3: { type: s3, bucket: b, endpoint: \"" + endpoint +
                                               "\", access_key_id: S3RVER, secret_access_key: \"${S3_TEST_SECRET}\" }\n"
                                               "targets:\n  db: { engine: postgres, storage: s3 }\n",
                                           "dbkeep.yaml", "/tmp");
    ASSERT_TRUE(config) << config.error().message;
    auto& s3 = std::get<storage::S3Options>(config->storages.at("s3").options);
    // The storage's own probe, as `dbkeep check` runs it through job/open.
    auto check_storage = [&] {
        auto opened = job::open_storage(config->storages.at("s3"));
        EXPECT_TRUE(opened) << opened.error().to_string();
        return opened ? (*opened)->probe("db/") : std::vector<Finding>{};
    };
    s3.clock_offset = 30min;
    auto findings = check_storage();
    auto clock =
        std::find_if(findings.begin(), findings.end(), [](const Finding& f) { return f.probe == "storage.clock"; });
    ASSERT_NE(clock, findings.end()) << "no storage.clock finding";
    EXPECT_EQ(clock->outcome, Outcome::fail) << clock->finding;
    EXPECT_NE(clock->finding.find("this clock is 18"), std::string::npos) << clock->finding;
    EXPECT_NE(clock->remedy.find("NTP"), std::string::npos) << clock->remedy;

    s3.clock_offset = 0s;
    auto healthy = check_storage();
    clock = std::find_if(healthy.begin(), healthy.end(), [](const Finding& f) { return f.probe == "storage.clock"; });
    ASSERT_NE(clock, healthy.end());
    EXPECT_EQ(clock->outcome, Outcome::pass) << clock->finding;
}
