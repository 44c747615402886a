// Encrypted PostgreSQL backups end to end: the standard age tool opens them, dbkeep restores them with an
// identity, and wrong or missing identities fail clearly without writing anything.
#include "support/postgres_fixture.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {
class Encrypted : public PostgresTest {
protected:
    Encrypted()
        : PostgresTest(
              {.seed_sql =
                   "CREATE TABLE secrets AS SELECT g AS id, md5(g::text) AS token FROM generate_series(1, 3000) g",
               .tag = "dbkeep-enc"})
    {
    }

    void SetUp() override
    {
        if (!have_program("age")) {
            GTEST_SKIP() << "age not installed (Debian age)";
        }
        PostgresTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        // Two recipients: an online key made by dbkeep and an offline recovery key made by age-keygen.
        auto k = run_dbkeep({"keygen", "-o", key("online.txt")});
        EXPECT_EQ(k.exit_code, 0) << k.err;
        m_online = k.out.substr(0, k.out.size() - 1);
        run({"age-keygen", "-o", key("offline.txt")});
        m_offline = run({"age-keygen", "-y", key("offline.txt")}).out;
        m_offline.pop_back();
    }

    std::string key(const std::string& name) const { return (m_work->dir() / name).string(); }
    void write_encrypted_config(const std::string& encryption) { write_config("    encryption: " + encryption + "\n"); }
    std::string object() const
    {
        auto objects = m_work->files_ending(".age");
        return objects.empty() ? std::string() : (m_work->backups() / objects.front()).string();
    }

    std::string m_online, m_offline;
};

} // namespace

TEST_F(Encrypted, StandardAgeOpensTheBackupAndDbkeepRestoresIt)
{
    write_encrypted_config("{ recipients: [" + m_online + ", " + m_offline + "] }");
    auto b = dbkeep({"backup"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ASSERT_FALSE(object().empty()) << "the object gets the .age suffix";
    // Without dbkeep: age -d | zstd -d | pg_restore.
    auto listed = sh("age -d -i '" + key("offline.txt") + "' '" + object() + "' | zstd -dc | " +
                     PostgresServer::bin_dir() + "/pg_restore -l");
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find("TABLE DATA public secrets"), std::string::npos);
    // The manifest records the public keys only.
    auto l = nlohmann::json::parse(dbkeep({"list", "--json"}).out);
    EXPECT_EQ(l[0]["object"]["encryption"], "age");
    EXPECT_EQ(l[0]["object"]["recipients"], nlohmann::json::array({m_online, m_offline}));
    for (const auto& f : m_work->stored_files()) {
        EXPECT_EQ(read_file(m_work->backups() / f).find("AGE-SECRET-KEY"), std::string::npos);
    }
    // dbkeep restore with either identity, by flag or environment.
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("copy"), "--identity", key("online.txt")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM secrets"), "3000");
    RunOptions env;
    env.env["DBKEEP_IDENTITY_FILE"] = key("offline.txt");
    EXPECT_EQ(dbkeep({"verify", "app"}, env).exit_code, 0);
}

TEST_F(Encrypted, WrongOrMissingIdentityFailsAndWritesNothing)
{
    write_encrypted_config("{ recipients: [" + m_online + "] }");
    ASSERT_EQ(dbkeep({"backup"}).exit_code, 0);
    auto out = m_work->dir() / "dump.pgdump";
    auto wrong = dbkeep({"restore", "app", "--output", out.string(), "--identity", key("offline.txt")});
    EXPECT_EQ(wrong.exit_code, 1);
    EXPECT_NE(wrong.err.find("no identity matches"), std::string::npos) << wrong.err;
    EXPECT_EQ(wrong.err.find("AGE-SECRET-KEY"), std::string::npos);
    EXPECT_FALSE(fs::exists(out));
    auto missing =
        dbkeep({"restore", "app", "--output", out.string()}, {.env = {{"DBKEEP_IDENTITY_FILE", "\x01unset"}}});
    EXPECT_EQ(missing.exit_code, 2);
    EXPECT_NE(missing.err.find("--identity"), std::string::npos) << missing.err;
    EXPECT_FALSE(fs::exists(out));
}

TEST_F(Encrypted, TamperedEncryptedObjectIsDetected)
{
    write_encrypted_config("{ recipients: [" + m_online + "] }");
    ASSERT_EQ(dbkeep({"backup"}).exit_code, 0);
    sh("printf 'Z' | dd of='" + object() + "' bs=1 seek=400 conv=notrunc 2>/dev/null");
    auto v = dbkeep({"verify", "app", "--identity", key("online.txt")});
    EXPECT_EQ(v.exit_code, 1);
    EXPECT_NE(v.out.find("FAILED"), std::string::npos);
}

TEST_F(Encrypted, PassphraseFromTheEnvironmentNeverReachesLogsOrManifests)
{
    write_encrypted_config("{ passphrase: \"${BACKUP_PASSPHRASE}\" }"); // quoted: braces inside a flow mapping
    RunOptions o;
    o.env["BACKUP_PASSPHRASE"] = "tr0ub4dor-and-3";
    auto b = dbkeep({"backup", "--log-level", "debug"}, o);
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(b.err.find("tr0ub4dor-and-3"), std::string::npos);
    for (const auto& f : m_work->stored_files()) {
        EXPECT_EQ(read_file(m_work->backups() / f).find("tr0ub4dor"), std::string::npos) << f;
    }
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("copy2")}, o);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(m_pg->psql("copy2", "SELECT count(*) FROM secrets"), "3000");
}

TEST_F(Encrypted, CheckSaysWhetherTheIdentityMatchesARecipient)
{
    write_encrypted_config("{ recipients: [" + m_online + "] }");
    auto good = dbkeep({"check", "--json", "--identity", key("online.txt")});
    EXPECT_NE(good.out.find("can decrypt this target's backups"), std::string::npos) << good.out;
    auto bad = dbkeep({"check", "--identity", key("offline.txt")});
    EXPECT_EQ(bad.exit_code, 3);
    EXPECT_NE(bad.out.find("✗ " + key("offline.txt") + " matches none"), std::string::npos) << bad.out;
}
