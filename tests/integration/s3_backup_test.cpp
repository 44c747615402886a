// PostgreSQL backups into S3 (s3rver, which checks SigV4) through the dbkeep binary, cross-checked with the
// AWS CLI.
#include "support/postgres_server.hpp"
#include "support/process.hpp"
#include "support/s3_server.hpp"
#include "support/tcp_proxy.hpp"
#include "support/temp_dir.hpp"

#include <csignal>
#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <thread>

using namespace dbkeep::test;
using namespace std::chrono_literals;

namespace {
class S3Backup : public ::testing::Test {
protected:
    void SetUp() override
    {
        for (const auto& reason : {PostgresServer::skip_reason(), S3Server::skip_reason()}) {
            if (!reason.empty()) {
                GTEST_SKIP() << reason;
            }
        }
        m_pg = std::make_unique<PostgresServer>();
        m_pg->create_database("app");
        m_pg->psql("app", "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g");
        m_s3 = std::make_unique<S3Server>();
        m_dir = std::make_unique<TempDir>("dbkeep-s3it");
    }

    void
    write_config(int port,
                 const std::string& credentials = "    access_key_id: ${S3_KEY}\n    secret_access_key: ${S3_SECRET}\n",
                 const std::string& target_extra = "")
    {
        write_file(m_dir->path() / "dbkeep.yaml",
                   "storages:\n  s3:\n    type: s3\n    bucket: " + m_s3->bucket() +
                       "\n    prefix: prod\n    region: us-east-1\n"
                       "    endpoint: http://127.0.0.1:" +
                       std::to_string(port) + "\n    part_size: 5MiB\n" + credentials +
                       "targets:\n  app:\n    engine: postgres\n    url: " + m_pg->url("app") + "\n" + target_extra);
    }
    RunResult dbkeep(std::vector<std::string> args, RunOptions o = {})
    {
        args.insert(args.begin(), {"--config", (m_dir->path() / "dbkeep.yaml").string()});
        o.env.emplace("S3_KEY", S3Server::k_key);
        o.env.emplace("S3_SECRET", S3Server::k_secret);
        return run_dbkeep(args, o);
    }
    std::string bucket_listing() { return m_s3->aws({"s3", "ls", "--recursive", "s3://" + m_s3->bucket() + "/"}).out; }

    std::unique_ptr<PostgresServer> m_pg;
    std::unique_ptr<S3Server> m_s3;
    std::unique_ptr<TempDir> m_dir;
};
} // namespace

TEST_F(S3Backup, BackupIsReadableWithTheAwsCliAndRestores)
{
    if (!have_program("/usr/bin/aws")) {
        GTEST_SKIP() << "Debian awscli not installed";
    }
    write_config(m_s3->port());
    auto b = dbkeep({"backup", "app"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto l = nlohmann::json::parse(dbkeep({"list", "--json"}).out);
    ASSERT_EQ(l.size(), 1u);
    std::string key = "prod/" + l[0]["object"]["key"].get<std::string>();
    auto head = m_s3->aws({"s3api", "head-object", "--bucket", m_s3->bucket(), "--key", key});
    ASSERT_EQ(head.exit_code, 0) << head.err;
    EXPECT_EQ(nlohmann::json::parse(head.out)["ContentLength"], l[0]["object"]["stored_bytes"]);
    auto local = m_dir->path() / "obj.zst";
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
    write_config(m_s3->port());
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
    // A dump large enough for several parts, produced slowly so the signal lands mid-upload.
    auto slow = m_dir->path() / "slow_pg_dump";
    write_file(slow, "#!/bin/sh\ncase \"$1\" in --version) exec " + PostgresServer::bin_dir() +
                         "/pg_dump --version;; esac\nhead -c 12000000 /dev/urandom\nsleep 60\n");
    std::filesystem::permissions(slow, std::filesystem::perms::owner_all);
    TcpProxy proxy(m_s3->port());
    write_config(proxy.port(), "    access_key_id: ${S3_KEY}\n    secret_access_key: ${S3_SECRET}\n",
                 "    pg_dump_path: " + slow.string() + "\n    compression: { level: 1 }\n");
    RunOptions o;
    o.env = {{"S3_KEY", S3Server::k_key}, {"S3_SECRET", S3Server::k_secret}};
    Background bg({dbkeep_binary(), "--config", (m_dir->path() / "dbkeep.yaml").string(), "backup", "app"}, o,
                  (m_dir->path() / "bg.log").string());
    // Under a loaded CI machine the first part can take a while: wait up to a minute, no longer than needed.
    for (int i = 0; i < 1200 && proxy.recorded().find("&uploadId=") == std::string::npos && bg.running(); ++i) {
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_NE(proxy.recorded().find("&uploadId="), std::string::npos)
        << "a part upload started; log: " << read_file(m_dir->path() / "bg.log");
    bg.signal(SIGTERM);
    EXPECT_EQ(bg.wait(30s), 1) << read_file(m_dir->path() / "bg.log");
    auto sent = proxy.recorded();
    EXPECT_NE(sent.find("DELETE /" + m_s3->bucket() + "/prod/app/"), std::string::npos) << "AbortMultipartUpload sent";
    EXPECT_EQ(sent.find("manifest.json"), std::string::npos) << "no manifest written";
    EXPECT_EQ(sent.find("</CompleteMultipartUpload>"), std::string::npos);
}

TEST_F(S3Backup, EcsTaskRoleCredentialsComeFromTheContainerEndpoint)
{
    if (!have_program("python3")) {
        GTEST_SKIP() << "python3 not installed";
    }
    int port = free_port();
    // A stand-in for the ECS agent's credential endpoint: checks the authorization token, answers the documented JSON.
    write_file(
        m_dir->path() / "ecs.py",
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
    Background ecs({"python3", (m_dir->path() / "ecs.py").string(), std::to_string(port)});
    for (int i = 0;
         i < 100 && run({"curl", "-s", "-o", "/dev/null", "http://127.0.0.1:" + std::to_string(port)}).exit_code != 0;
         ++i) {
        std::this_thread::sleep_for(50ms);
    }
    write_config(m_s3->port(), "");
    RunOptions o;
    o.env = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:" + std::to_string(port) + "/v2/credentials/abc"},
             {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-token-123"},
             {"AWS_ACCESS_KEY_ID", "\x01unset"},
             {"AWS_SECRET_ACCESS_KEY", "\x01unset"},
             {"AWS_PROFILE", "\x01unset"},
             {"HOME", m_dir->path().string()},
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
    auto big = m_dir->path() / "big_pg_dump";
    write_file(big, "#!/bin/sh\ncase \"$1\" in --version) exec " + PostgresServer::bin_dir() +
                        "/pg_dump --version;; esac\nhead -c 12000000 /dev/urandom\n");
    std::filesystem::permissions(big, std::filesystem::perms::owner_all);
    write_config(proxy.port(), "    access_key_id: ${S3_KEY}\n    secret_access_key: ${S3_SECRET}\n",
                 "    pg_dump_path: " + big.string() + "\n    compression: { level: 1 }\n");
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
    write_config(m_s3->port(), "    access_key_id: ${S3_KEY}\n    secret_access_key: ${S3_SECRET}\n",
                 "    keep: {last: 2}\n");
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
