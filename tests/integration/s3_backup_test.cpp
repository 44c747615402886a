// PostgreSQL backups into S3 (s3rver, which checks SigV4) through the dbkeep binary, cross-checked with the
// AWS CLI.
#include "support/http_stand_in.hpp"
#include "support/postgres_fixture.hpp"
#include "support/s3_fixture.hpp"
#include "support/tcp_proxy.hpp"
#include "support/wait.hpp"

#include <csignal>
#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;

namespace {
class S3Backup : public PostgresTest {
protected:
    S3Backup()
        : PostgresTest(
              {.seed_sql = "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g",
               .tag = "dbkeep-s3it"})
    {
    }

    void SetUp() override
    {
        if (auto reason = S3Server::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        PostgresTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        m_s3 = std::make_unique<S3Server>();
        m_work->env = s3_credentials_env();
    }

    // S3 storage at `port` (s3rver's or a proxy's) with `credentials`, and target app with `target_extra`.
    void write_s3_config(int port, const std::string& credentials = k_s3_credentials_yaml,
                         const std::string& target_extra = "")
    {
        m_work->write_config(s3_storage_yaml(*m_s3, port, "prod", credentials) +
                             postgres_target_yaml(m_pg->url("app"), target_extra));
    }
    std::string bucket_listing() { return m_s3->aws({"s3", "ls", "--recursive", "s3://" + m_s3->bucket() + "/"}).out; }

    std::unique_ptr<S3Server> m_s3;
};
} // namespace

TEST_F(S3Backup, BackupIsReadableWithTheAwsCliAndRestores)
{
    if (!have_program("/usr/bin/aws")) {
        GTEST_SKIP() << "Debian awscli not installed";
    }
    write_s3_config(m_s3->port());
    auto b = dbkeep({"backup", "app"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto l = nlohmann::json::parse(dbkeep({"list", "--json"}).out);
    ASSERT_EQ(l.size(), 1u);
    std::string key = "prod/" + l[0]["object"]["key"].get<std::string>();
    auto head = m_s3->aws({"s3api", "head-object", "--bucket", m_s3->bucket(), "--key", key});
    ASSERT_EQ(head.exit_code, 0) << head.err;
    EXPECT_EQ(nlohmann::json::parse(head.out)["ContentLength"], l[0]["object"]["stored_bytes"]);
    auto local = m_work->dir() / "obj.zst";
    ASSERT_EQ(m_s3->aws({"s3", "cp", "s3://" + m_s3->bucket() + "/" + key, local.string()}).exit_code, 0);
    auto sum = sh("sha256sum '" + local.string() + "'");
    EXPECT_EQ(sum.out.substr(0, 64), l[0]["object"]["sha256"].get<std::string>());
    auto listed = sh("zstd -dc '" + local.string() + "' | " + PostgresServer::bin_dir() + "/pg_restore -l");
    EXPECT_NE(listed.out.find("TABLE DATA public t"), std::string::npos);
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("copy")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM t"), "20000");
    EXPECT_EQ(dbkeep({"verify"}).exit_code, 0);
}

TEST_F(S3Backup, WrongSecretFailsClearlyAndLeavesNothing)
{
    write_s3_config(m_s3->port());
    auto b = dbkeep({"backup", "app"}, {.env = {{"S3_SECRET", "not-the-secret-42"}}});
    EXPECT_EQ(b.exit_code, 1);
    EXPECT_NE(b.err.find("SignatureDoesNotMatch"), std::string::npos) << b.err;
    EXPECT_NE(b.err.find("secret access key is wrong"), std::string::npos) << b.err;
    EXPECT_EQ(b.err.find("not-the-secret-42"), std::string::npos);
    if (have_program("/usr/bin/aws")) {
        EXPECT_EQ(bucket_listing(), "");
    }
}

TEST_F(S3Backup, SigtermMidUploadAbortsTheMultipartUploadAndWritesNoManifest)
{
    // A dump large enough for several parts, then a trickle that never ends: the backup is still running
    // when the signal lands, however long the parts take on a loaded machine. (The trickle also keeps the
    // compressor fed: with zstd workers, output of finished jobs is handed on only by the next write, so a
    // dump that falls silent can hold its last compressed megabytes back until it ends.)
    auto slow = fake_pg_dump("slow_pg_dump",
                             "head -c 12000000 /dev/urandom\nwhile head -c 4096 /dev/urandom; do sleep 0.05; done");
    TcpProxy proxy(m_s3->port());
    write_s3_config(proxy.port(), k_s3_credentials_yaml,
                    "    pg_dump_path: " + slow + "\n    compression: { level: 1 }\n");
    auto bg = m_work->start_dbkeep({"backup", "app"}, "bg.log");
    // The event: the proxy saw a part upload (UploadPart carries the upload id).
    wait_until([&] { return proxy.recorded().find("&uploadId=") != std::string::npos || !bg->running(); });
    ASSERT_NE(proxy.recorded().find("&uploadId="), std::string::npos)
        << "a part upload started; log: " << m_work->log("bg.log")
        << "\nrequests so far: " << proxy.recorded().substr(0, 2000);
    bg->signal(SIGTERM);
    EXPECT_EQ(bg->wait(k_event_timeout), 1) << m_work->log("bg.log");
    auto sent = proxy.recorded();
    EXPECT_NE(sent.find("DELETE /" + m_s3->bucket() + "/prod/app/"), std::string::npos) << "AbortMultipartUpload sent";
    EXPECT_EQ(sent.find("manifest.json"), std::string::npos) << "no manifest written";
    EXPECT_EQ(sent.find("</CompleteMultipartUpload>"), std::string::npos);
    // The lease is released although the run was cancelled (it used to stay and block the next run).
    EXPECT_EQ(bucket_listing().find("lease"), std::string::npos) << bucket_listing();
}

// s3rver accepts If-None-Match and ignores it: a second backup of the same target used to run at the same time
// as the first. dbkeep tests conditional create with two real requests and uses per-runner claims instead.
TEST_F(S3Backup, OnAStoreThatIgnoresIfNoneMatchASecondRunnerFindsTheLeaseBusy)
{
    auto slow = fake_pg_dump("slow_pg_dump", "while head -c 4096 /dev/urandom; do sleep 0.05; done");
    write_s3_config(m_s3->port(), k_s3_credentials_yaml, "    pg_dump_path: " + slow + "\n");
    auto bg = m_work->start_dbkeep({"backup", "app"}, "bg.log");
    wait_until([&] { return bucket_listing().find("lease-claims/") != std::string::npos || !bg->running(); });
    ASSERT_TRUE(bg->running()) << m_work->log("bg.log");
    auto second = dbkeep({"backup", "app"});
    EXPECT_EQ(second.exit_code, 1) << second.out << second.err;
    EXPECT_NE(second.err.find("is running on host"), std::string::npos) << second.err;
    bg->signal(SIGTERM);
    EXPECT_EQ(bg->wait(k_event_timeout), 1) << m_work->log("bg.log");
    EXPECT_EQ(bucket_listing().find("lease"), std::string::npos) << bucket_listing();

    auto check = dbkeep({"check"});
    EXPECT_NE(check.out.find("ignores it (tested"), std::string::npos) << check.out << check.err;
}

TEST_F(S3Backup, EcsTaskRoleCredentialsComeFromTheContainerEndpoint)
{
    if (auto reason = HttpStandIn::skip_reason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    // A stand-in for the ECS agent's credential endpoint: checks the authorization token, answers the documented JSON.
    HttpStandIn ecs(
        m_work->dir(), "ecs.py",
        "import http.server, json, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        if self.headers.get('Authorization') != 'ecs-token-123' or self.path != '/v2/credentials/abc':\n"
        "            self.send_response(403); self.end_headers(); return\n"
        "        body = json.dumps({'AccessKeyId': 'S3RVER', 'SecretAccessKey': 'S3RVER', 'Token': 'session-tok',\n"
        "                           'Expiration': '2099-01-01T00:00:00Z', 'RoleArn': "
        "'arn:aws:iam::1:role/backup'}).encode()\n"
        "        self.send_response(200); self.send_header('Content-Type', 'application/json'); self.end_headers()\n"
        "        self.wfile.write(body)\n"
        "    def log_message(self, *a): pass\n"
        "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n");
    write_s3_config(m_s3->port(), "");
    RunOptions o;
    o.env = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", ecs.url() + "/v2/credentials/abc"},
             {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-token-123"},
             {"AWS_ACCESS_KEY_ID", "\x01unset"},
             {"AWS_SECRET_ACCESS_KEY", "\x01unset"},
             {"AWS_PROFILE", "\x01unset"},
             {"HOME", m_work->dir().string()},
             {"AWS_EC2_METADATA_DISABLED", "true"}};
    auto b = dbkeep({"backup", "app"}, o);
    EXPECT_EQ(b.exit_code, 0) << b.err;
    auto c = dbkeep({"check", "--json"}, o);
    EXPECT_NE(c.out.find("ECS container credentials"), std::string::npos) << c.out;
    // Without any source, the error lists what was tried.
    o.env.erase("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    o.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "\x01unset";
    auto none = dbkeep({"backup", "app"}, o);
    EXPECT_EQ(none.exit_code, 1);
    EXPECT_NE(none.err.find("tried configuration"), std::string::npos) << none.err;
    EXPECT_NE(none.err.find("ECS container credentials"), std::string::npos) << none.err;
}

TEST_F(S3Backup, PersistentConnectionFailuresFailTheBackupAndAbortTheUpload)
{
    TcpProxy proxy(m_s3->port());
    // Every connection carrying more than 64 KiB is reset: part uploads never get through, small requests do.
    proxy.reset_connections(1000, 64 * 1024);
    // A dump of about 12 MB after compression (random hex), so that several parts are needed. (It has to be a
    // real archive: a pg_dump output that is not one fails the backup by itself.)
    m_pg->psql("app", "CREATE TABLE noise AS SELECT md5(random()::text) || md5(random()::text) AS v "
                      "FROM generate_series(1, 400000)");
    write_s3_config(proxy.port(), k_s3_credentials_yaml, "    compression: { level: 1 }\n");
    auto b = dbkeep({"backup", "app"});
    EXPECT_EQ(b.exit_code, 1) << b.err;
    EXPECT_NE(b.err.find("upload part"), std::string::npos) << b.err;
    auto sent = proxy.recorded();
    EXPECT_NE(sent.find("DELETE /" + m_s3->bucket() + "/prod/app/"), std::string::npos) << "AbortMultipartUpload sent";
    EXPECT_EQ(sent.find("manifest.json"), std::string::npos);
    EXPECT_GE(proxy.resets_done(), 6) << "each part was retried before giving up";
}

TEST_F(S3Backup, CheckNamesTheCredentialSourceClockAndAWrongSecret)
{
    write_s3_config(m_s3->port(), k_s3_credentials_yaml, "    keep: {last: 2}\n");
    auto good = dbkeep({"check", "--json"});
    EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
    EXPECT_NE(good.out.find("credentials: configuration"), std::string::npos) << good.out;
    EXPECT_NE(good.out.find("clock within"), std::string::npos) << good.out;
    EXPECT_EQ(good.out.find(S3Server::k_secret + std::string("\"")), std::string::npos);
    auto bad = dbkeep({"check", "--json"}, {.env = {{"S3_SECRET", "wrong-secret-77"}}});
    EXPECT_EQ(bad.exit_code, 3);
    auto rows = nlohmann::json::parse(bad.out);
    bool seen = false;
    for (const auto& r : rows) {
        if (r["probe"] == "storage.write") {
            seen = true;
            EXPECT_EQ(r["outcome"], "fail");
            EXPECT_NE(r["remedy"].get<std::string>().find("secret access key is wrong"), std::string::npos) << r.dump();
        }
    }
    EXPECT_TRUE(seen) << bad.out;
    EXPECT_EQ(bad.out.find("wrong-secret-77"), std::string::npos);
}

// Issue 17: a parallel dump's parts go to S3 side by side (one multipart upload each) and restore from there;
// prune removes the parts with their backup.
TEST_F(S3Backup, AParallelDumpsPartsUploadSideBySideAndRestore)
{
    write_s3_config(m_s3->port(), k_s3_credentials_yaml, "    jobs: 2\n    split_tables_larger_than: 64KiB\n");
    auto b = dbkeep({"backup", "app", "--json"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto listing = bucket_listing();
    EXPECT_NE(listing.find(".part-0001.copy.zst"), std::string::npos) << listing;
    EXPECT_NE(listing.find(".part-0002.copy.zst"), std::string::npos) << listing;
    auto count_parts = [](const std::string& text) {
        std::size_t n = 0;
        for (std::size_t pos = 0; (pos = text.find(".part-", pos)) != std::string::npos; ++pos) {
            ++n;
        }
        return n;
    };
    const std::size_t per_backup = count_parts(listing);
    EXPECT_GE(per_backup, 2u);
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("copy"), "--jobs", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*), md5(string_agg(v, ',' ORDER BY id)) FROM t"),
              m_pg->psql("app", "SELECT count(*), md5(string_agg(v, ',' ORDER BY id)) FROM t"));
    write_s3_config(m_s3->port(), k_s3_credentials_yaml,
                    "    jobs: 2\n    split_tables_larger_than: 64KiB\n    keep: { last: 1 }\n");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto p = dbkeep({"prune", "app"});
    ASSERT_EQ(p.exit_code, 0) << p.err;
    listing = bucket_listing();
    EXPECT_EQ(count_parts(listing), per_backup) << "only the kept backup's parts remain: " << listing;
}
