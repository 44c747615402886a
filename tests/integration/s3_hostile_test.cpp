// An S3 endpoint that lies: a loopback stand-in (python3 http.server; no real S3 server misbehaves on demand)
// answers each bucket with one kind of broken listing. Every one must be an error, never a crash, a loop or
// "no backups"; and the multipart sweep lists and aborts a forgotten upload.
#include "storage/s3/s3.hpp"
#include "storage/storage.hpp"
#include "support/http_stand_in.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

// The bucket (first path segment) chooses the lie. Each request is appended to requests.log as "METHOD PATH".
const std::string k_liar = R"PY(
import os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requests.log")
def listing(contents, truncated=False, token=""):
    return ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name>' + contents +
            '<IsTruncated>' + ('true' if truncated else 'false') + '</IsTruncated>' +
            ('<NextContinuationToken>' + token + '</NextContinuationToken>' if token else '') + '</ListBucketResult>')
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def answer(self, code, body, extra=()):
        data = body.encode()
        self.send_response(code)
        for k, v in extra: self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(data)
    def do_HEAD(self):
        bucket = self.path.split("/")[1].split("?")[0]
        if bucket in ("badlength", "hugelength"):
            self.send_response(200)
            self.send_header("Content-Length", "12x" if bucket == "badlength" else "99999999999999999999999")
            self.end_headers()
            return
        self.answer(200, "")
    def do_DELETE(self):
        with open(LOG, "a") as f: f.write("DELETE " + self.path + "\n")
        self.answer(204, "")
    def do_GET(self):
        with open(LOG, "a") as f: f.write("GET " + self.path + "\n")
        bucket = self.path.split("/")[1].split("?")[0]
        if bucket == "trickle":
            # A listing sent 2 bytes a second: headers at once, then a body that never ends in time.
            import time
            self.send_response(200); self.send_header("Content-Length", "100000"); self.end_headers()
            try:
                for _ in range(100000):
                    self.wfile.write(b" "); self.wfile.flush(); time.sleep(0.5)
            except Exception:
                pass
            return
        if bucket == "badsize":
            return self.answer(200, listing("<Contents><Key>t/a</Key><Size>12x</Size></Contents>"))
        if bucket == "nokey":
            return self.answer(200, listing("<Contents><Size>12</Size></Contents>"))
        if bucket == "hugesize":
            return self.answer(200, listing("<Contents><Key>t/a</Key><Size>99999999999999999999999</Size></Contents>"))
        if bucket == "loop":
            return self.answer(200, listing("<Contents><Key>t/a</Key><Size>1</Size></Contents>", True, "same"))
        if bucket == "error200":
            return self.answer(200, '<?xml version="1.0"?><Error><Code>InternalError</Code><Message>try again</Message></Error>')
        if bucket == "uploads" and "uploads" in self.path:
            return self.answer(200, '<?xml version="1.0"?><ListMultipartUploadsResult><Bucket>uploads</Bucket>'
                               '<Upload><Key>t/2020/01/x.rdb.zst</Key><UploadId>UP-1</UploadId>'
                               '<Initiated>2020-01-01T00:00:00.000Z</Initiated></Upload>'
                               '<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>')
        if bucket == "moved":
            return self.answer(301, '<?xml version="1.0"?><Error><Code>PermanentRedirect</Code><Message>The bucket '
                               'you are attempting to access must be addressed using the specified endpoint.</Message>'
                               '<Endpoint>moved.s3.eu-west-3.amazonaws.com</Endpoint><Bucket>moved</Bucket></Error>',
                               [("x-amz-bucket-region", "eu-west-3")])
        if bucket == "elsewhere":
            # The bucket lives in eu-west-3: a request signed for any other region is redirected.
            if "/eu-west-3/s3/aws4_request" not in self.headers.get("Authorization", ""):
                return self.answer(301, '<?xml version="1.0"?><Error><Code>PermanentRedirect</Code></Error>',
                                   [("x-amz-bucket-region", "eu-west-3")])
            return self.answer(200, listing("<Contents><Key>t/a</Key><Size>3</Size></Contents>"))
        if bucket == "nouploads" and "uploads" in self.path:
            return self.answer(501, '<?xml version="1.0"?><Error><Code>NotImplemented</Code>'
                               '<Message>A header or query you provided implies functionality that is not implemented.'
                               '</Message></Error>')
        return self.answer(200, listing(""))
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
)PY";

class S3Hostile : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (auto reason = HttpStandIn::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        m_liar = std::make_unique<HttpStandIn>(m_dir.path(), "liar.py", k_liar);
    }

    std::unique_ptr<storage::Storage> storage_for(const std::string& bucket, bool region_given = true,
                                                  std::chrono::seconds stall_timeout = std::chrono::seconds(60)) const
    {
        storage::S3Options o;
        o.stall_timeout = stall_timeout;
        o.bucket = bucket;
        o.region = "us-east-1";
        o.region_given = region_given;
        o.endpoint = m_liar->url();
        o.path_style = storage::PathStyle::path;
        o.access_key_id = "AKIDEXAMPLE";
        o.secret_access_key = Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        auto s = storage::make_s3_storage(o);
        EXPECT_TRUE(s) << s.error().to_string();
        return std::move(*s);
    }

    TempDir m_dir{"dbkeep-s3-hostile"};
    std::unique_ptr<HttpStandIn> m_liar;
};

} // namespace

TEST_F(S3Hostile, EveryBrokenListingIsAnErrorNeverACrashALoopOrNoBackups)
{
    for (const std::string bucket : {"badsize", "nokey", "hugesize", "loop", "error200"}) {
        auto listed = storage_for(bucket)->list("t/");
        ASSERT_FALSE(listed) << bucket << " listed " << listed->size() << " objects";
        EXPECT_FALSE(listed.error().message.empty()) << bucket;
        if (bucket == "badsize" || bucket == "nokey" || bucket == "hugesize") {
            EXPECT_EQ(listed.error().kind, ErrorKind::corruption) << listed.error().to_string();
            EXPECT_NE(listed.error().hint.find("check that the endpoint is an S3 server"), std::string::npos)
                << bucket << ": " << listed.error().to_string();
        }
        if (bucket == "loop") {
            EXPECT_NE(listed.error().message.find("repeats its continuation marker"), std::string::npos)
                << listed.error().to_string();
        }
        if (bucket == "error200") {
            EXPECT_NE(listed.error().message.find("InternalError"), std::string::npos) << listed.error().to_string();
        }
    }
}

TEST_F(S3Hostile, TheSweepListsAndAbortsAForgottenMultipartUpload)
{
    auto s = storage_for("uploads");
    auto incomplete = s->list_incomplete("t/");
    ASSERT_TRUE(incomplete) << incomplete.error().to_string();
    ASSERT_EQ(incomplete->size(), 1u);
    const auto& upload = incomplete->front();
    EXPECT_EQ(upload.key, "t/2020/01/x.rdb.zst");
    EXPECT_EQ(upload.modified_unix, 1577836800);
    ASSERT_TRUE(s->discard_incomplete(upload));
    const std::string log = read_file(m_dir.path() / "requests.log");
    EXPECT_NE(log.find("DELETE /uploads/t/2020/01/x.rdb.zst?uploadId=UP-1"), std::string::npos) << log;
}

// s3rver and other S3-compatible servers answer ListMultipartUploads with 501 NotImplemented: a final answer
// (asked once, not retried with backoff for ten seconds after every backup), and nothing to sweep.
TEST_F(S3Hostile, AStoreWithoutMultipartListingIsAskedOnceAndHasNothingToSweep)
{
    auto incomplete = storage_for("nouploads")->list_incomplete("t/");
    ASSERT_TRUE(incomplete) << incomplete.error().to_string();
    EXPECT_TRUE(incomplete->empty());
    const std::string log = read_file(m_dir.path() / "requests.log");
    std::size_t asked = 0;
    for (std::size_t at = log.find("&uploads="); at != std::string::npos; at = log.find("&uploads=", at + 1)) {
        ++asked;
    }
    EXPECT_EQ(asked, 1u) << log;
}

// A bucket in another region answers 301: the error names the region and endpoint the answer carries and the
// remedy says which region to set (it used to be a bare "HTTP 301").
TEST_F(S3Hostile, ABucketInAnotherRegionIsAConfigErrorNamingItsRegion)
{
    auto listed = storage_for("moved")->list("t/");
    ASSERT_FALSE(listed);
    EXPECT_EQ(listed.error().kind, ErrorKind::config) << listed.error().to_string();
    EXPECT_NE(listed.error().message.find("region eu-west-3"), std::string::npos) << listed.error().to_string();
    EXPECT_NE(listed.error().message.find("moved.s3.eu-west-3.amazonaws.com"), std::string::npos);
    EXPECT_NE(listed.error().hint.find("region: eu-west-3"), std::string::npos) << listed.error().hint;
}

// A region nobody configured (the default) is not a reason to fail: the bucket's region from the 301 is used,
// once, with a warning; a region that was configured is never overridden.
TEST_F(S3Hostile, ABucketInAnotherRegionIsFollowedWhenNoRegionWasGiven)
{
    auto followed = storage_for("elsewhere", false)->list("t/");
    ASSERT_TRUE(followed) << followed.error().to_string();
    ASSERT_EQ(followed->size(), 1u);
    EXPECT_EQ(followed->front().key, "t/a");
    auto refused = storage_for("elsewhere", true)->list("t/");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, ErrorKind::config);
    EXPECT_NE(refused.error().hint.find("region: eu-west-3"), std::string::npos) << refused.error().hint;
}

// A HEAD whose Content-Length is not a size (not a number, or past any object's) is an error, never a crash or
// a size that later reads trust.
TEST_F(S3Hostile, AnObjectSizeThatIsNotANumberIsAnError)
{
    for (const std::string bucket : {"badlength", "hugelength"}) {
        auto st = storage_for(bucket)->stat("t/2026/01/x.rdb.zst");
        EXPECT_FALSE(st) << bucket << " gave a size";
        if (!st) {
            EXPECT_FALSE(st.error().message.empty()) << bucket;
            EXPECT_EQ(st.error().kind, ErrorKind::corruption) << st.error().to_string();
            EXPECT_NE(st.error().hint.find("check the endpoint is an S3 server"), std::string::npos)
                << bucket << ": " << st.error().to_string();
        }
    }
}

// A server trickling 2 bytes a second is as stalled as a silent one: each attempt fails after stall_timeout
// below 1 KiB/s, and after the retries the listing is a transient error, not a request held for hours.
TEST_F(S3Hostile, AServerTricklingTwoBytesASecondIsAStall)
{
    const auto t0 = std::chrono::steady_clock::now();
    auto listed = storage_for("trickle", true, std::chrono::seconds(1))->list("t/");
    const auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(listed) << "listed " << listed->size();
    EXPECT_EQ(listed.error().kind, ErrorKind::transient) << listed.error().to_string();
    EXPECT_LT(took, std::chrono::seconds(60)) << "six attempts of about a second each, and their backoff";
}
