// The AWS credential chain against loopback stand-ins for the documented endpoints (EC2 IMDSv2, STS
// AssumeRoleWithWebIdentity) and a credential_process profile. Nothing here reaches a real AWS address.
#include "config/config.hpp"
#include "core/cancel.hpp"
#include "storage/s3/credentials.hpp"
#include "support/http_stand_in.hpp"
#include "support/temp_dir.hpp"

#include <chrono>
#include <cstdlib>
#include <gtest/gtest.h>
#include <thread>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

constexpr const char* k_endpoints = R"PY(
import http.server, sys, urllib.parse
TOKEN = 'imds-session-token'
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body, ctype='text/plain'):
        self.send_response(code); self.send_header('Content-Type', ctype); self.end_headers(); self.wfile.write(body.encode())
    def do_PUT(self):
        if self.path == '/latest/api/token' and self.headers.get('X-aws-ec2-metadata-token-ttl-seconds'):
            return self.reply(200, TOKEN)
        self.reply(400, '')
    def do_GET(self):
        if self.path == '/v2/credentials/busy':
            return self.reply(503, '')
        if self.headers.get('X-aws-ec2-metadata-token') != TOKEN:
            return self.reply(401, '')
        if self.path == '/latest/meta-data/iam/security-credentials/':
            return self.reply(200, 'backup-role')
        if self.path == '/latest/meta-data/iam/security-credentials/backup-role':
            return self.reply(200, '{"Code":"Success","AccessKeyId":"IMDSKEY","SecretAccessKey":"imds-secret","Token":"imds-tok","Expiration":"2099-01-01T00:00:00Z"}', 'application/json')
        self.reply(404, '')
    def do_POST(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        if q.get('Action') == ['AssumeRoleWithWebIdentity'] and q.get('WebIdentityToken') == ['eks-oidc-jwt'] and q.get('RoleArn') == ['arn:aws:iam::1:role/backup']:
            return self.reply(200, '<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>'
                '<SessionToken>sts-tok</SessionToken><SecretAccessKey>sts-secret</SecretAccessKey>'
                '<Expiration>2099-01-01T00:00:00Z</Expiration><AccessKeyId>STSKEY</AccessKeyId></Credentials>'
                '</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>', 'text/xml')
        if q.get('WebIdentityToken') == ['throttled-jwt']:
            return self.reply(400, '<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code></Error></ErrorResponse>')
        if q.get('WebIdentityToken') == ['unavailable-jwt']:
            return self.reply(503, '')
        self.reply(403, '<Error><Code>AccessDenied</Code></Error>')
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
)PY";

class AwsCredentials : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (auto reason = HttpStandIn::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        for (const char* v :
             {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"}) {
            unsetenv(v);
        }
        if (const char* home = std::getenv("HOME")) {
            m_home = home;
        }
        setenv("HOME", m_dir.path().c_str(), 1);
        setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
        m_server = std::make_unique<HttpStandIn>(m_dir.path(), "endpoints.py", k_endpoints);
    }
    // Later suites in this process (and the dbkeep they start) see none of this suite's variables.
    void TearDown() override
    {
        for (const char* v :
             {"AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ENDPOINT_URL_STS",
              "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}) {
            unsetenv(v);
        }
        setenv("AWS_EC2_METADATA_DISABLED", "true", 1); // as the test harness runs everything
        if (!m_home.empty()) {
            setenv("HOME", m_home.c_str(), 1);
        }
    }
    std::string url() const { return m_server->url(); }

    TempDir m_dir;
    std::unique_ptr<HttpStandIn> m_server;
    storage::S3Options m_config;
    std::string m_home;
};

} // namespace

TEST_F(AwsCredentials, Ec2InstanceMetadataV2)
{
    setenv("AWS_EC2_METADATA_DISABLED", "false", 1);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url().c_str(), 1);
    storage::CredentialProvider p(m_config);
    auto c = p.get();
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(c->access_key_id, "IMDSKEY");
    EXPECT_EQ(c->secret_access_key, "imds-secret");
    EXPECT_EQ(c->session_token, "imds-tok");
    EXPECT_EQ(p.source(), "EC2 instance metadata (role backup-role)");
}

TEST_F(AwsCredentials, WebIdentityAssumesTheRoleThroughSts)
{
    write_file(m_dir / "token", "eks-oidc-jwt\n");
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", (m_dir / "token").c_str(), 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/backup", 1);
    setenv("AWS_ENDPOINT_URL_STS", url().c_str(), 1);
    storage::CredentialProvider p(m_config);
    auto c = p.get();
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(c->access_key_id, "STSKEY");
    EXPECT_EQ(c->session_token, "sts-tok");
    EXPECT_NE(p.source().find("web identity"), std::string::npos);
    write_file(m_dir / "token", "wrong-jwt");
    storage::CredentialProvider refused(m_config);
    auto r = refused.get();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().to_string().find("web identity"), std::string::npos);
    EXPECT_EQ(r.error().kind, ErrorKind::auth) << r.error().to_string();
    EXPECT_NE(r.error().hint.find("check that role AWS_ROLE_ARN trusts its identity provider"), std::string::npos)
        << r.error().hint;

    // STS throttles (400 Throttling, as STS sends it) or fails (503): worth retrying, and not the role's fault.
    for (const char* token : {"throttled-jwt", "unavailable-jwt"}) {
        write_file(m_dir / "token", token);
        storage::CredentialProvider busy(m_config);
        auto b = busy.get();
        ASSERT_FALSE(b) << token;
        EXPECT_EQ(b.error().kind, ErrorKind::transient) << b.error().to_string();
        EXPECT_NE(b.error().hint.find("STS failed or throttled the request: try again later"), std::string::npos)
            << b.error().to_string();
    }

    // No STS at the address: the hint is about the way there, not the role.
    const ClosedPort nobody;
    setenv("AWS_ENDPOINT_URL_STS", ("http://127.0.0.1:" + std::to_string(nobody.port())).c_str(), 1);
    storage::CredentialProvider unreachable(m_config);
    auto u = unreachable.get();
    ASSERT_FALSE(u);
    EXPECT_NE(u.error().hint.find("STS could not be reached"), std::string::npos) << u.error().to_string();
}

// The ECS (or EKS Pod Identity) credential endpoint: a refusal points at the authorization token, no answer at
// the variables that are only meaningful inside a task.
TEST_F(AwsCredentials, EcsContainerCredentialsThatFailSayWhy)
{
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", (url() + "/v2/credentials/task").c_str(), 1);
    storage::CredentialProvider refused(m_config);
    auto r = refused.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::auth) << r.error().to_string();
    EXPECT_NE(r.error().message.find("ECS container credentials: HTTP 401"), std::string::npos)
        << r.error().to_string();
    EXPECT_NE(r.error().hint.find("check AWS_CONTAINER_AUTHORIZATION_TOKEN"), std::string::npos) << r.error().hint;

    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", (url() + "/v2/credentials/busy").c_str(), 1);
    storage::CredentialProvider busy(m_config);
    auto b = busy.get();
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().kind, ErrorKind::transient) << b.error().to_string();
    EXPECT_NE(b.error().hint.find("the endpoint failed or throttled the request: try again later"), std::string::npos)
        << b.error().to_string();

    const ClosedPort nobody;
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI",
           ("http://127.0.0.1:" + std::to_string(nobody.port()) + "/v2/credentials/task").c_str(), 1);
    storage::CredentialProvider unreachable(m_config);
    auto u = unreachable.get();
    ASSERT_FALSE(u);
    EXPECT_NE(u.error().hint.find("work only inside an ECS task (or EKS pod); unset them elsewhere"), std::string::npos)
        << u.error().to_string();
}

// A credential_process that fails: the hint says to run it by hand (its stderr is not shown: it may hold a
// secret).
TEST_F(AwsCredentials, ACredentialProcessThatFailsIsToBeRunByHand)
{
    std::filesystem::create_directories(m_dir / ".aws");
    write_file(m_dir / ".aws" / "config",
               "[profile backup]\ncredential_process = echo expired-sso-session >&2; exit 3\n");
    setenv("AWS_PROFILE", "backup", 1);
    storage::CredentialProvider p(m_config);
    auto c = p.get();
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, ErrorKind::auth);
    EXPECT_NE(c.error().message.find("exited with code 3"), std::string::npos) << c.error().to_string();
    EXPECT_NE(c.error().hint.find("run the profile's credential_process by hand"), std::string::npos) << c.error().hint;
}

TEST_F(AwsCredentials, CredentialProcessOfTheProfile)
{
    std::filesystem::create_directories(m_dir / ".aws");
    write_file(m_dir / ".aws" / "config",
               "[profile backup]\ncredential_process = printf '{\"Version\":1,\"AccessKeyId\":\"PROCKEY\","
               "\"SecretAccessKey\":\"proc-secret\",\"SessionToken\":\"proc-tok\"}'\n");
    setenv("AWS_PROFILE", "backup", 1);
    storage::CredentialProvider p(m_config);
    auto c = p.get();
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(c->access_key_id, "PROCKEY");
    EXPECT_EQ(c->session_token, "proc-tok");
}

// credential_process runs bounded: only the base environment and AWS_* (another target's password never
// reaches it), at most 1 MiB of output (popen read a flood without end), and SIGINT/SIGTERM stops it at once.
TEST_F(AwsCredentials, CredentialProcessIsBoundedAndSeesNoOtherSecret)
{
    std::filesystem::create_directories(m_dir / ".aws");
    const auto env_dump = m_dir / "env.txt";
    write_file(m_dir / ".aws" / "config",
               "[profile backup]\ncredential_process = env > '" + env_dump.string() +
                   "'; printf '{\"Version\":1,\"AccessKeyId\":\"PROCKEY\",\"SecretAccessKey\":\"s\"}'\n");
    setenv("AWS_PROFILE", "backup", 1);
    setenv("PGPASSWORD", "other-target-secret", 1);
    storage::CredentialProvider p(m_config);
    auto c = p.get();
    unsetenv("PGPASSWORD");
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(c->access_key_id, "PROCKEY");
    const std::string seen = read_file(env_dump);
    EXPECT_EQ(seen.find("other-target-secret"), std::string::npos) << seen;
    EXPECT_NE(seen.find("AWS_PROFILE=backup"), std::string::npos) << seen;

    write_file(m_dir / ".aws" / "config", "[profile backup]\ncredential_process = yes\n");
    auto start = std::chrono::steady_clock::now();
    storage::CredentialProvider flood(m_config);
    auto f = flood.get();
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().kind, ErrorKind::auth);
    EXPECT_NE(f.error().message.find("printed more than"), std::string::npos) << f.error().to_string();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));

    write_file(m_dir / ".aws" / "config", "[profile backup]\ncredential_process = sleep 60\n");
    cancel::reset();
    std::thread signal([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        cancel::request();
    });
    start = std::chrono::steady_clock::now();
    storage::CredentialProvider slow(m_config);
    auto s = slow.get();
    signal.join();
    cancel::reset();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, ErrorKind::cancelled) << s.error().to_string();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(AwsCredentials, EnvironmentThenProfileFiles)
{
    std::filesystem::create_directories(m_dir / ".aws");
    write_file(m_dir / ".aws" / "credentials",
               "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = file-secret\n");
    storage::CredentialProvider from_file(m_config);
    EXPECT_EQ(from_file.get()->access_key_id, "FILEKEY");
    setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    storage::CredentialProvider from_env(m_config);
    EXPECT_EQ(from_env.get()->access_key_id, "ENVKEY");
    EXPECT_EQ(from_env.source(), "environment");
}

TEST_F(AwsCredentials, NothingFoundListsEverySourceTried)
{
    storage::CredentialProvider p(m_config);
    auto c = p.get();
    ASSERT_FALSE(c);
    auto text = c.error().to_string();
    for (const char* source : {"configuration", "environment", "profile default", "web identity", "ECS container"}) {
        EXPECT_NE(text.find(source), std::string::npos) << source << " missing from: " << text;
    }
}

// An answer of the wrong shape (a number where a key id belongs, an array) is no credentials, never an exception
// (nlohmann's type_error ended the process); a null token is none.
TEST_F(AwsCredentials, AnAnswerOfTheWrongShapeIsNoCredentials)
{
    std::filesystem::create_directories(m_dir / ".aws");
    auto with_process = [&](const std::string& json) {
        write_file(m_dir / ".aws" / "config", "[profile backup]\ncredential_process = printf '" + json + "'\n");
        setenv("AWS_PROFILE", "backup", 1);
        storage::CredentialProvider p(m_config);
        return p.get();
    };
    for (const char* bad : {R"({"Version":1,"AccessKeyId":1,"SecretAccessKey":"s"})",
                            R"({"Version":1,"AccessKeyId":"K","SecretAccessKey":{"a":1}})",
                            R"({"Version":1,"AccessKeyId":"K","SecretAccessKey":"s","SessionToken":7})", R"([1,2])"}) {
        auto c = with_process(bad);
        EXPECT_FALSE(c) << bad;
    }
    auto null_token = with_process(R"({"Version":1,"AccessKeyId":"K","SecretAccessKey":"s","SessionToken":null})");
    ASSERT_TRUE(null_token) << null_token.error().to_string();
    EXPECT_EQ(null_token->session_token, "");
}
