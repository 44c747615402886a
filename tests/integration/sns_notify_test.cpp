// SNS notifications. SNS itself cannot run here: a loopback stand-in (Debian's python3 with python3-botocore)
// checks each Publish request's SigV4 signature by signing the same request with botocore itself and
// records it. The credentials come from dbkeep's chain (the environment here), as they would from the ECS
// task role. A backup of a real redis-server, through the binary.
#include "support/json_lines.hpp"
#include "support/process.hpp"
#include "support/redis_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

using namespace dbkeep::test;

namespace {

const std::string k_sns_stand_in = R"PY(
import datetime, json, sys, types, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
port, log = int(sys.argv[1]), sys.argv[2]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        stamp = datetime.datetime.strptime(self.headers.get("X-Amz-Date", "19700101T000000Z"), "%Y%m%dT%H%M%SZ")
        class At(datetime.datetime):
            @classmethod
            def utcnow(cls): return stamp
        shim = types.ModuleType("datetime"); shim.__dict__.update(datetime.__dict__); shim.datetime = At
        botocore.auth.datetime = shim
        request = AWSRequest(method="POST", url="http://127.0.0.1:%d%s" % (port, self.path), data=body,
                             headers={"Content-Type": self.headers.get("Content-Type", ""), "Host": self.headers.get("Host")})
        botocore.auth.SigV4Auth(Credentials("AKIDSNSTEST", "sns-Secret-Key-77"), "sns", "eu-west-3").add_auth(request)
        ok = request.headers["Authorization"] == self.headers.get("Authorization")
        with open(log, "a") as f:
            f.write(json.dumps({"ok": ok, "form": dict(urllib.parse.parse_qsl(body.decode())),
                                "authorization": self.headers.get("Authorization", "")}) + "\n")
        answer = (b"<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>"
                  if ok else b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>")
        self.send_response(200 if ok else 403)
        self.send_header("Content-Length", str(len(answer))); self.end_headers(); self.wfile.write(answer)
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
)PY";

class SnsNotify : public RedisTest {
protected:
    void SetUp() override
    {
        RedisTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        if (sh("/usr/bin/python3 -c 'import botocore'").exit_code != 0) {
            GTEST_SKIP() << "Debian's python3-botocore is not installed";
        }
        const auto dir = m_work.dir();
        write_file(dir / "sns.py", k_sns_stand_in);
        m_port = free_port();
        m_stand_in = std::make_unique<Background>(
            std::vector<std::string>{"/usr/bin/python3", (dir / "sns.py").string(), std::to_string(m_port),
                                     (dir / "published.jsonl").string()},
            RunOptions{}, (dir / "sns.log").string());
        ASSERT_TRUE(wait_until([&] {
            return sh("curl -s -o /dev/null http://127.0.0.1:" + std::to_string(m_port) + "/").exit_code == 0;
        })) << read_file(dir / "sns.log");
        m_work.env["AWS_ACCESS_KEY_ID"] = "AKIDSNSTEST";
        m_work.env["AWS_SECRET_ACCESS_KEY"] = "sns-Secret-Key-77";
        m_work.env["AWS_EC2_METADATA_DISABLED"] = "true";
    }

    std::vector<nlohmann::json> published() const { return read_json_lines(m_work.dir() / "published.jsonl"); }

    int m_port = 0;
    std::unique_ptr<Background> m_stand_in;
};

} // namespace

TEST_F(SnsNotify, AFailedBackupIsPublishedSignedWithTheCredentialChain)
{
    write_config("redis://:Target-Pw-123@127.0.0.1:" + std::to_string(free_port()),
                 "    notify:\n      - type: sns\n        topic_arn: arn:aws:sns:eu-west-3:123456789012:backups\n"
                 "        endpoint: http://127.0.0.1:" +
                     std::to_string(m_port) + "/\n");
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 1) << b.err;
    auto got = published();
    ASSERT_EQ(got.size(), 1u) << b.err << read_file(m_work.dir() / "sns.log");
    EXPECT_TRUE(got[0]["ok"].get<bool>()) << "botocore computes the same SigV4 signature: " << got[0].dump();
    const auto& form = got[0]["form"];
    EXPECT_EQ(form["Action"], "Publish");
    EXPECT_EQ(form["TopicArn"], "arn:aws:sns:eu-west-3:123456789012:backups");
    EXPECT_NE(form["Subject"].get<std::string>().find("cache: backup FAILED"), std::string::npos) << form.dump();
    EXPECT_NE(form["Message"].get<std::string>().find("127.0.0.1"), std::string::npos) << form.dump();
    EXPECT_EQ(got[0].dump().find("Target-Pw-123"), std::string::npos);
    EXPECT_EQ(b.err.find("sns-Secret-Key-77"), std::string::npos) << b.err;
}

TEST_F(SnsNotify, AWrongSecretIsRefusedAndNeitherFailsNorStallsTheBackup)
{
    auto redis = std::make_unique<RedisServer>();
    write_config(redis->url(), "    notify:\n      - type: sns\n        topic_arn: arn:aws:sns:eu-west-3:1:b\n"
                               "        events: [success]\n        endpoint: http://127.0.0.1:" +
                                   std::to_string(m_port) + "/\n");
    m_work.env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret";
    auto b = dbkeep({"backup", "cache"});
    EXPECT_EQ(b.exit_code, 0) << b.err;
    EXPECT_NE(b.err.find("notification not delivered"), std::string::npos) << b.err;
    auto got = published();
    ASSERT_EQ(got.size(), 1u) << "a 403 is final, not retried";
    EXPECT_FALSE(got[0]["ok"].get<bool>());
}
