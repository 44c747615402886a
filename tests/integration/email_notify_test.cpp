// E-mail notifications against a real SMTP server: Debian's python3-aiosmtpd on loopback, with STARTTLS
// required (a certificate made for the test) and AUTH; every message it accepts is recorded with its envelope
// and whether the client had authenticated over TLS. A backup of a real redis-server, through the binary.
#include "core/mail.hpp"
#include "support/json_lines.hpp"
#include "support/process.hpp"
#include "support/redis_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

const std::string k_smtp_server = R"PY(
import asyncio, json, os, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
port, cert, key, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Auth:
    def __call__(self, server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login == b"dbkeep" and data.password == b"Smtp-Pw-42"
        return AuthResult(success=ok)
class Handler:
    async def handle_DATA(self, server, session, envelope):
        with open(log, "a") as f:
            f.write(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                                "data": envelope.content.decode("utf-8", "replace"),
                                "tls": session.ssl is not None, "authenticated": bool(session.authenticated)}) + "\n")
        return "250 OK"
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                        authenticator=Auth(), auth_required=True)
controller.start()
print("ready", flush=True)
asyncio.get_event_loop().run_until_complete(asyncio.sleep(3600))
)PY";

class EmailNotify : public RedisTest {
protected:
    void SetUp() override
    {
        RedisTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        if (sh("/usr/bin/python3 -c 'import aiosmtpd'").exit_code != 0 || !have_program("openssl")) {
            GTEST_SKIP() << "Debian's python3-aiosmtpd (or openssl) is not installed";
        }
        const auto dir = m_work.dir();
        auto cert = sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                       "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
                       (dir / "smtp.key").string() + "' -out '" + (dir / "smtp.pem").string() + "'");
        ASSERT_EQ(cert.exit_code, 0) << cert.err;
        write_file(dir / "smtp.py", k_smtp_server);
        m_port = free_port();
        m_server = std::make_unique<Background>(
            std::vector<std::string>{"/usr/bin/python3", (dir / "smtp.py").string(), std::to_string(m_port),
                                     (dir / "smtp.pem").string(), (dir / "smtp.key").string(),
                                     (dir / "mails.jsonl").string()},
            RunOptions{}, (dir / "smtp.log").string());
        ASSERT_TRUE(wait_until([&] { return read_file(dir / "smtp.log").find("ready") != std::string::npos; }))
            << read_file(dir / "smtp.log");
        m_redis = std::make_unique<RedisServer>();
    }

    std::string channel(const std::string& extra = "") const
    {
        return "    notify:\n      - type: email\n        url: smtp://127.0.0.1:" + std::to_string(m_port) +
               "\n        from: dbkeep@example.org\n        to: [ops@example.org, dba@example.org]\n"
               "        username: dbkeep\n        password: ${SMTP_PASSWORD}\n        ca_file: " +
               (m_work.dir() / "smtp.pem").string() + "\n" + extra;
    }

    std::vector<nlohmann::json> mails() const { return read_json_lines(m_work.dir() / "mails.jsonl"); }

    int m_port = 0;
    std::unique_ptr<Background> m_server;
    std::unique_ptr<RedisServer> m_redis;
};

} // namespace

TEST_F(EmailNotify, AFailedBackupIsMailedOverStartTlsWithAuthAndNoSecret)
{
    write_config("redis://:Target-Pw-123@127.0.0.1:" + std::to_string(free_port()), channel());
    m_work.env["SMTP_PASSWORD"] = "Smtp-Pw-42";
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 1) << b.err;
    auto got = mails();
    ASSERT_EQ(got.size(), 1u) << b.err << read_file(m_work.dir() / "smtp.log");
    const auto& mail = got[0];
    EXPECT_EQ(mail["from"], "dbkeep@example.org");
    EXPECT_EQ(mail["to"], nlohmann::json::array({"ops@example.org", "dba@example.org"}));
    EXPECT_TRUE(mail["tls"].get<bool>()) << "sent only after STARTTLS";
    EXPECT_TRUE(mail["authenticated"].get<bool>());
    const std::string data = mail["data"];
    EXPECT_NE(data.find("Subject: [dbkeep] cache: backup FAILED on "), std::string::npos) << data;
    EXPECT_NE(data.find("127.0.0.1"), std::string::npos) << "the cause is in the body: " << data;
    EXPECT_EQ(data.find("Target-Pw-123"), std::string::npos) << data;
    EXPECT_EQ(data.find("Smtp-Pw-42"), std::string::npos) << data;
    EXPECT_EQ(b.err.find("Smtp-Pw-42"), std::string::npos) << b.err;
}

TEST_F(EmailNotify, AWrongPasswordOrADownServerNeitherFailsNorStallsTheBackup)
{
    // With aiosmtpd a refused login leaves the exchange waiting: the channel's timeout (2 s per attempt, 3
    // attempts) bounds it.
    write_config(m_redis->url(), channel("        events: [success]\n        timeout: 2\n"));
    m_work.env["SMTP_PASSWORD"] = "not-the-password";
    auto b = dbkeep({"backup", "cache"});
    EXPECT_EQ(b.exit_code, 0) << b.err;
    EXPECT_NE(b.err.find("notification not delivered"), std::string::npos) << b.err;
    EXPECT_TRUE(mails().empty());
    EXPECT_EQ(b.err.find("not-the-password"), std::string::npos) << b.err;

    m_work.env["SMTP_PASSWORD"] = "Smtp-Pw-42";
    auto ok = dbkeep({"backup", "cache"});
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
    ASSERT_EQ(mails().size(), 1u) << ok.err;
    EXPECT_NE(mails()[0]["data"].get<std::string>().find("Subject: [dbkeep] cache: backed up on "), std::string::npos);
}

namespace {

// aiosmtpd as the two kinds of server whose refusals the hints name: `auth` offers AUTH without TLS and answers a
// wrong password with 535 (handled=False: aiosmtpd sends the code itself), `plain` offers no STARTTLS at all.
const std::string k_plain_smtp_server = R"PY(
import asyncio, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
port, mode = int(sys.argv[1]), sys.argv[2]
class Auth:
    def __call__(self, server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login == b"dbkeep" and data.password == b"Smtp-Pw-42"
        return AuthResult(success=ok, handled=False)
class Handler:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
if mode == "auth":
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=Auth(), auth_required=True,
                            auth_require_tls=False)
else:
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
asyncio.get_event_loop().run_until_complete(asyncio.sleep(3600))
)PY";

class SmtpRefusals : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (sh("/usr/bin/python3 -c 'import aiosmtpd'").exit_code != 0) {
            GTEST_SKIP() << "Debian's python3-aiosmtpd is not installed";
        }
        write_file(m_dir.path() / "smtp.py", k_plain_smtp_server);
    }

    // Starts the server in `mode`; returns its smtp:// URL.
    std::string start(const std::string& mode)
    {
        const int port = free_port();
        const auto log = m_dir.path() / (mode + ".log");
        m_servers.push_back(std::make_unique<Background>(std::vector<std::string>{"/usr/bin/python3",
                                                                                  (m_dir.path() / "smtp.py").string(),
                                                                                  std::to_string(port), mode},
                                                         RunOptions{}, log.string()));
        EXPECT_TRUE(wait_until([&] { return read_file(log).find("ready") != std::string::npos; })) << read_file(log);
        return "smtp://127.0.0.1:" + std::to_string(port);
    }

    static mail::Envelope envelope(const std::string& url)
    {
        mail::Envelope e;
        e.url = url;
        e.from = "dbkeep@example.org";
        e.to = {"ops@example.org"};
        e.timeout = std::chrono::seconds(10);
        return e;
    }

    static std::string message()
    {
        return mail::compose("dbkeep@example.org", {"ops@example.org"}, "test", "body\n", "host",
                             std::chrono::system_clock::now());
    }

    TempDir m_dir{"dbkeep-smtp-refusals"};
    std::vector<std::unique_ptr<Background>> m_servers;
};

} // namespace

TEST_F(SmtpRefusals, ARefusedLoginNamesTheChannelsCredentials)
{
    auto e = envelope(start("auth"));
    e.require_tls = false;
    e.username = "dbkeep";
    e.password = "not-the-password";
    auto sent = mail::send(e, message());
    ASSERT_FALSE(sent);
    EXPECT_EQ(sent.error().kind, ErrorKind::auth) << sent.error().to_string();
    EXPECT_NE(sent.error().message.find("535"), std::string::npos) << sent.error().to_string();
    EXPECT_NE(sent.error().hint.find("check the channel's username and password"), std::string::npos)
        << sent.error().hint;
    EXPECT_EQ(sent.error().to_string().find("not-the-password"), std::string::npos);
}

TEST_F(SmtpRefusals, AServerWithoutStartTlsNamesSmtpsOrTlsNone)
{
    auto e = envelope(start("plain"));
    auto sent = mail::send(e, message());
    ASSERT_FALSE(sent);
    EXPECT_EQ(sent.error().kind, ErrorKind::failed) << sent.error().to_string();
    EXPECT_NE(sent.error().hint.find("the server does not offer STARTTLS: use smtps://"), std::string::npos)
        << sent.error().to_string();
    EXPECT_NE(sent.error().hint.find("tls: none"), std::string::npos) << sent.error().hint;
}
