// Scheduled proof (issue 18, item 5): a target's `verify:` block run by `run --due` and by the daemon against
// a real PostgreSQL 15: the test restore into a scratch database compared with the manifest, once per period
// however often the trigger fires; a damaged backup sends `verify_failure` to a real HTTP receiver on loopback;
// the metrics textfile carries dbkeep_last_verified_restore_timestamp_seconds.
#include "support/http_stand_in.hpp"
#include "support/json_lines.hpp"
#include "support/postgres_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <regex>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {

const std::string k_receiver = R"PY(
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requests.jsonl")
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(LOG, "a") as f:
            f.write(json.dumps({"path": self.path, "body": body.decode("utf-8", "replace")}) + "\n")
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
)PY";

class ScheduledVerify : public PostgresTest {
protected:
    ScheduledVerify()
        : PostgresTest({.seed_sql = "CREATE TABLE orders (id int PRIMARY KEY, note text);"
                                    "INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 500) g;"})
    {
    }
    void SetUp() override
    {
        PostgresTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        if (auto reason = HttpStandIn::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        m_receiver = std::make_unique<HttpStandIn>(m_work->dir(), "receiver.py", k_receiver);
    }
    // Target `app` with a yearly backup schedule (due once: nothing was ever backed up) and `verify`, metrics
    // in a textfile and verify_failure sent to the receiver.
    void write_verify_config(const std::string& verify_block)
    {
        write_config("    schedule: \"0 0 1 1 *\"\n    verify:\n" + verify_block +
                         "    notify:\n      - type: webhook\n        url: " + m_receiver->url() +
                         "/hook\n        events: [verify_failure]\n",
                     "", "metrics:\n  textfile: " + (m_work->dir() / "dbkeep.prom").string() + "\n");
    }
    std::vector<nlohmann::json> records() const
    {
        std::vector<nlohmann::json> out;
        const fs::path dir = m_work->backups() / "app" / "verified";
        for (const auto& name : list_files(dir)) {
            out.push_back(nlohmann::json::parse(read_file(dir / name)));
        }
        return out;
    }
    double verified_gauge() const
    {
        std::smatch m;
        const std::string text = read_file(m_work->dir() / "dbkeep.prom");
        static const std::regex k_line(R"(dbkeep_last_verified_restore_timestamp_seconds\{target="app"\} ([0-9.e+]+))");
        return std::regex_search(text, m, k_line) ? std::stod(m[1].str()) : -1;
    }
    bool exists(const std::string& db) const
    {
        return m_pg->psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = '" + db + "'") == "1";
    }
    std::vector<nlohmann::json> requests() const { return read_json_lines(m_work->dir() / "requests.jsonl"); }

    std::unique_ptr<HttpStandIn> m_receiver;
};

} // namespace

TEST_F(ScheduledVerify, RunDueTestRestoresOncePerPeriodAndRecordsTheProof)
{
    write_verify_config("      schedule: \"0 0 * * *\"\n      restore_to: " + m_pg->url("scratch") + "\n");
    auto first = dbkeep({"run", "--due"});
    ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
    EXPECT_NE(first.out.find("app verify ok: 1 backup read back, the test restore matched the manifest"),
              std::string::npos)
        << first.out;
    auto recs = records();
    ASSERT_EQ(recs.size(), 1u) << first.out;
    EXPECT_EQ(recs[0]["ok"], true) << recs[0].dump();
    EXPECT_EQ(recs[0]["restored"], true) << recs[0].dump();
    EXPECT_EQ(recs[0]["backup_id"].get<std::string>().size(), 23u) << recs[0].dump();
    EXPECT_GT(verified_gauge(), 1.7e9);
    EXPECT_FALSE(exists("scratch")) << "the scratch database is dropped after the comparison";

    // However often the trigger fires within the period, the proof is not repeated.
    auto again = dbkeep({"run", "--due"});
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
    EXPECT_NE(again.out.find("app verify not due (next "), std::string::npos) << again.out;
    EXPECT_EQ(records().size(), 1u);
    // ... and the gauge survives the run that did not verify (carried over in the textfile).
    EXPECT_GT(verified_gauge(), 1.7e9);
    EXPECT_TRUE(requests().empty());
}

TEST_F(ScheduledVerify, ADamagedBackupSendsVerifyFailureOnce)
{
    write_verify_config("      schedule: \"0 0 * * *\"\n      backups: all\n");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    // Flip one byte in the middle of the stored object.
    std::string object;
    for (const auto& f : m_work->stored_files()) {
        if (f.ends_with(".pgdump.zst")) {
            object = (m_work->backups() / f).string();
        }
    }
    ASSERT_FALSE(object.empty());
    {
        std::fstream f(object, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(static_cast<std::streamoff>(fs::file_size(object) / 2));
        char c = 0;
        f.read(&c, 1);
        f.seekp(static_cast<std::streamoff>(fs::file_size(object) / 2));
        c = static_cast<char>(c ^ 0x5a);
        f.write(&c, 1);
    }
    auto run = dbkeep({"run", "--due"});
    EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
    auto got = requests();
    ASSERT_EQ(got.size(), 1u) << run.err;
    auto body = nlohmann::json::parse(got[0]["body"].get<std::string>());
    EXPECT_EQ(body["event"], "verify_failure");
    EXPECT_EQ(body["target"], "app");
    EXPECT_FALSE(body["backup_id"].get<std::string>().empty()) << body.dump();
    EXPECT_FALSE(body["error"].get<std::string>().empty()) << body.dump();
    auto recs = records();
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0]["ok"], false) << recs[0].dump();
    EXPECT_EQ(verified_gauge(), 0) << read_file(m_work->dir() / "dbkeep.prom");

    // The failed period is not re-verified (and re-sent) by every trigger; the next period tries again.
    auto again = dbkeep({"run", "--due"});
    EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
    EXPECT_EQ(requests().size(), 1u);
}

TEST_F(ScheduledVerify, TheDaemonRunsTheVerifyBlockAndTheProofIsClaimedOnce)
{
    ASSERT_EQ((write_config(), dbkeep({"backup", "app"}).exit_code), 0);
    write_config("    verify:\n      schedule: \"* * * * *\"\n      restore_to: " + m_pg->url("scratch") + "\n", "",
                 "daemon:\n  jitter: 0\n");
    auto daemon = m_work->start_dbkeep({"daemon"}, "daemon.log");
    // Never verified: the catch-up run at start-up verifies (and claims the current minute's period).
    ASSERT_TRUE(wait_until([&] { return !records().empty() && records()[0].contains("finished_at"); },
                           std::chrono::seconds(60)))
        << m_work->log("daemon.log");
    EXPECT_EQ(records()[0]["ok"], true) << records()[0].dump() << m_work->log("daemon.log");
    EXPECT_EQ(records()[0]["restored"], true);
    daemon->signal(SIGTERM);
    EXPECT_EQ(daemon->wait(std::chrono::seconds(30)), 0) << m_work->log("daemon.log");
    EXPECT_NE(m_work->log("daemon.log").find("verification passed"), std::string::npos) << m_work->log("daemon.log");
}
