// Notifications against a real HTTP receiver on loopback (python3 http.server) that records every request and
// checks the webhook's HMAC-SHA256 signature itself; a backup of a real redis-server, through the binary.
#include "support/http_stand_in.hpp"
#include "support/json_lines.hpp"
#include "support/redis_fixture.hpp"
#include "support/wait.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace dbkeep::test;

namespace {

// Records each POST as one JSON line in requests.jsonl beside the script: path, headers, body and whether
// the X-Dbkeep-Signature header is the HMAC-SHA256 of the body under "hook-S3cret". /hang never answers in
// time; /down500 answers 500.
const std::string k_receiver = R"PY(
import hashlib, hmac, json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requests.jsonl")
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        sig = self.headers.get("X-Dbkeep-Signature")
        ok = None
        if sig is not None:
            ok = sig == "sha256=" + hmac.new(b"hook-S3cret", body, hashlib.sha256).hexdigest()
        with open(LOG, "a") as f:
            f.write(json.dumps({"path": self.path, "headers": dict(self.headers), "body": body.decode("utf-8", "replace"),
                                "signature_ok": ok}) + "\n")
        if self.path.startswith("/hang"):
            time.sleep(30)
        code = 500 if self.path.startswith("/down500") else 200
        self.send_response(code); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
)PY";

class Notify : public RedisTest {
protected:
    void SetUp() override
    {
        RedisTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        if (auto reason = HttpStandIn::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        m_receiver = std::make_unique<HttpStandIn>(m_work.dir(), "receiver.py", k_receiver);
    }

    std::vector<nlohmann::json> requests() const { return read_json_lines(m_work.dir() / "requests.jsonl"); }

    std::unique_ptr<HttpStandIn> m_receiver;
};

} // namespace

TEST_F(Notify, AFailedBackupSendsFailureWithTheCauseAndNoSecret)
{
    // Nothing listens on this port: the backup fails to connect.
    const ClosedPort closed;
    write_config("redis://:Target-Pw-123@127.0.0.1:" + std::to_string(closed.port()),
                 "    notify:\n"
                 "      - type: webhook\n"
                 "        url: " +
                     m_receiver->url() +
                     "/hook?token=${HOOK_TOKEN}\n"
                     "        secret: ${HOOK_SECRET}\n"
                     "      - type: slack\n"
                     "        url: " +
                     m_receiver->url() + "/slack/T000/B000/${HOOK_TOKEN}\n");
    m_work.env["HOOK_SECRET"] = "hook-S3cret";
    m_work.env["HOOK_TOKEN"] = "tok-9876";
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 1) << b.err;
    auto got = requests();
    ASSERT_EQ(got.size(), 2u) << b.err;
    const auto& hook = got[0];
    EXPECT_EQ(hook["path"], "/hook?token=tok-9876");
    EXPECT_EQ(hook["signature_ok"], true);
    EXPECT_EQ(hook["headers"]["X-Dbkeep-Event"], "failure");
    auto body = nlohmann::json::parse(hook["body"].get<std::string>());
    EXPECT_EQ(body["event"], "failure");
    EXPECT_EQ(body["target"], "cache");
    EXPECT_NE(body["error"].get<std::string>().find("127.0.0.1"), std::string::npos) << body.dump();
    EXPECT_FALSE(body["host"].get<std::string>().empty());
    EXPECT_FALSE(body["dbkeep_version"].get<std::string>().empty());
    const auto& slack = got[1];
    auto text = nlohmann::json::parse(slack["body"].get<std::string>())["text"].get<std::string>();
    EXPECT_NE(text.find("*cache*"), std::string::npos) << text;
    EXPECT_NE(text.find("FAILED"), std::string::npos) << text;
    for (const auto& r : got) {
        EXPECT_EQ(r["body"].get<std::string>().find("Target-Pw-123"), std::string::npos) << r.dump();
    }
    // The webhook URLs are secrets: their token never reaches the log.
    EXPECT_EQ(b.err.find("tok-9876"), std::string::npos) << b.err;
    EXPECT_EQ(b.err.find("Target-Pw-123"), std::string::npos) << b.err;
}

TEST_F(Notify, ASuccessfulBackupPingsHealthchecksStartThenSuccess)
{
    RedisServer source;
    source.cli({"SET", "k", "v"});
    write_config(source.url(), "    notify:\n"
                               "      - type: healthchecks\n"
                               "        url: " +
                                   m_receiver->url() +
                                   "/ping/abc/\n"
                                   "      - type: webhook\n"
                                   "        url: " +
                                   m_receiver->url() +
                                   "/hook\n"
                                   "        events: [success]\n");
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto got = requests();
    ASSERT_EQ(got.size(), 3u) << b.err;
    EXPECT_EQ(got[0]["path"], "/ping/abc/start");
    EXPECT_EQ(got[1]["path"], "/ping/abc");
    EXPECT_EQ(got[2]["path"], "/hook");
    EXPECT_TRUE(got[2]["signature_ok"].is_null()); // no secret, no signature
    auto body = nlohmann::json::parse(got[2]["body"].get<std::string>());
    EXPECT_EQ(body["event"], "success");
    ASSERT_EQ(m_work.manifests().size(), 1u);
    EXPECT_TRUE(m_work.manifests()[0].find(body["backup_id"].get<std::string>()) != std::string::npos) << body.dump();
    EXPECT_GT(body["stored_bytes"].get<std::uint64_t>(), 0u);
}

TEST_F(Notify, AReceiverThatIsDownOrHangsNeitherFailsNorStallsTheBackup)
{
    RedisServer source;
    source.cli({"SET", "k", "v"});
    write_config(source.url(), "    notify:\n"
                               "      - type: webhook\n"
                               "        name: hanging\n"
                               "        url: " +
                                   m_receiver->url() +
                                   "/hang\n"
                                   "        events: [success]\n"
                                   "        timeout: 1\n"
                                   "      - type: webhook\n"
                                   "        name: broken\n"
                                   "        url: " +
                                   m_receiver->url() +
                                   "/down500\n"
                                   "        events: [success]\n"
                                   "      - type: healthchecks\n"
                                   "        url: http://127.0.0.1:" +
                                   std::to_string(free_port()) + "/nobody\n");
    const auto start = std::chrono::steady_clock::now();
    auto b = dbkeep({"backup", "cache"});
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(m_work.manifests().size(), 1u);
    // Three attempts of one second each, plus backoff, bound the hanging receiver.
    EXPECT_LT(took, std::chrono::seconds(20)) << b.err;
    EXPECT_NE(b.err.find("hanging"), std::string::npos) << b.err;
    EXPECT_NE(b.err.find("broken"), std::string::npos) << b.err;
    EXPECT_NE(b.err.find("HTTP 500"), std::string::npos) << b.err;
    size_t to_broken = 0;
    for (const auto& r : requests()) {
        to_broken += r["path"] == "/down500" ? 1 : 0;
    }
    EXPECT_EQ(to_broken, 3u); // a 5xx is retried, a bounded number of times
}

// The dead-man's switch: `check --freshness`, run on its own schedule, notices a trigger that stopped firing.
TEST_F(Notify, CheckFreshnessFiresMissedWhenTheNewestBackupIsOlderThanTheScheduleAllows)
{
    RedisServer source;
    source.cli({"SET", "k", "v"});
    const std::string notify = "    notify:\n"
                               "      - type: webhook\n"
                               "        url: " +
                               m_receiver->url() + "/hook\n";
    write_config(source.url(), "    schedule: \"0 * * * *\"\n" + notify);
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto fresh = dbkeep({"check", "--freshness"});
    EXPECT_EQ(fresh.exit_code, 0) << fresh.out << fresh.err;
    EXPECT_TRUE(requests().empty()); // a fresh backup sends nothing

    // Age the backup to January 2020: the same object and manifest under an id of that time.
    ASSERT_EQ(m_work.manifests().size(), 1u);
    const std::filesystem::path manifest = m_work.backups() / m_work.manifests()[0];
    const std::string id = manifest.filename().string().substr(0, manifest.filename().string().find(".manifest"));
    const std::string old_id = "20200101T000000Z" + id.substr(id.find('-'));
    const std::string folder = "cache/" + id.substr(0, 4) + "/" + id.substr(4, 2) + "/";
    std::string text = read_file(manifest);
    for (auto [from, to] : {std::pair{id, old_id}, std::pair{folder, std::string("cache/2020/01/")}}) {
        for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
            text.replace(at, from.size(), to);
        }
    }
    std::filesystem::create_directories(m_work.backups() / "cache/2020/01");
    for (const auto& entry : std::filesystem::directory_iterator(manifest.parent_path())) {
        std::string name = entry.path().filename().string();
        if (!name.ends_with(".manifest.json")) {
            std::filesystem::rename(entry.path(),
                                    m_work.backups() / "cache/2020/01" / name.replace(0, id.size(), old_id));
        }
    }
    std::filesystem::remove(manifest);
    write_file(m_work.backups() / "cache/2020/01" / (old_id + ".manifest.json"), text);

    auto overdue = dbkeep({"check", "--freshness"});
    EXPECT_EQ(overdue.exit_code, 3) << overdue.out << overdue.err;
    auto got = requests();
    ASSERT_EQ(got.size(), 1u) << overdue.out << overdue.err;
    auto body = nlohmann::json::parse(got[0]["body"].get<std::string>());
    EXPECT_EQ(body["event"], "missed");
    EXPECT_EQ(body["target"], "cache");
    EXPECT_FALSE(body["error"].get<std::string>().empty());

    // The same overdue period is reported once, however often the check runs (it still exits 3 each time);
    // a backup clears the period's marker.
    auto again = dbkeep({"check", "--freshness"});
    EXPECT_EQ(again.exit_code, 3) << again.out << again.err;
    EXPECT_EQ(requests().size(), 1u) << again.err;
    ASSERT_EQ(dbkeep({"backup", "cache"}).exit_code, 0);
    EXPECT_EQ(dbkeep({"check", "--freshness"}).exit_code, 0);
    EXPECT_FALSE(std::filesystem::exists(m_work.backups() / "cache" / "missed") &&
                 !std::filesystem::is_empty(m_work.backups() / "cache" / "missed"));
}
