// Encrypted PostgreSQL backups end to end: the standard age tool opens them, dbkeep restores them with an
// identity, and wrong or missing identities fail clearly without writing anything.
#include "support/postgres_server.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {
class Encrypted : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (auto reason = PostgresServer::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        if (!have_program("age")) {
            GTEST_SKIP() << "age not installed (Debian age)";
        }
        m_pg = std::make_unique<PostgresServer>();
        m_pg->create_database("app");
        m_pg->psql("app",
                   "CREATE TABLE secrets AS SELECT g AS id, md5(g::text) AS token FROM generate_series(1, 3000) g");
        m_dir = std::make_unique<TempDir>("dbkeep-enc");
        // Two recipients: an online key made by dbkeep and an offline recovery key made by age-keygen.
        auto k = run_dbkeep({"keygen", "-o", (m_dir->path() / "online.txt").string()});
        EXPECT_EQ(k.exit_code, 0) << k.err;
        m_online = k.out.substr(0, k.out.size() - 1);
        run({"age-keygen", "-o", (m_dir->path() / "offline.txt").string()});
        m_offline = run({"age-keygen", "-y", (m_dir->path() / "offline.txt").string()}).out;
        m_offline.pop_back();
    }

    void write_config(const std::string& encryption)
    {
        write_file(m_dir->path() / "dbkeep.yaml",
                   "storages:\n  default:\n    type: local\n    path: " + (m_dir->path() / "backups").string() +
                       "\ntargets:\n  app:\n    engine: postgres\n    url: " + m_pg->url("app") +
                       "\n    encryption: " + encryption + "\n");
    }
    RunResult dbkeep(std::vector<std::string> args, RunOptions o = {})
    {
        args.insert(args.begin(), {"--config", (m_dir->path() / "dbkeep.yaml").string()});
        return run_dbkeep(args, o);
    }
    std::string object() const
    {
        for (const auto& f : list_files(m_dir->path() / "backups")) {
            if (f.ends_with(".age")) {
                return (m_dir->path() / "backups" / f).string();
            }
        }
        return {};
    }

    std::unique_ptr<PostgresServer> m_pg;
    std::unique_ptr<TempDir> m_dir;
    std::string m_online, m_offline;
};
} // namespace

TEST_F(Encrypted, StandardAgeOpensTheBackupAndDbkeepRestoresIt)
{
    write_config("{ recipients: [" + m_online + ", " + m_offline + "] }");
    auto b = dbkeep({"backup"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ASSERT_FALSE(object().empty()) << "the object gets the .age suffix";
    // Without dbkeep: age -d | zstd -d | pg_restore.
    auto listed = sh("age -d -i '" + (m_dir->path() / "offline.txt").string() + "' '" + object() + "' | zstd -dc | " +
                     PostgresServer::bin_dir() + "/pg_restore -l");
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find("TABLE DATA public secrets"), std::string::npos);
    // The manifest records the public keys only.
    auto l = nlohmann::json::parse(dbkeep({"list", "--json"}).out);
    EXPECT_EQ(l[0]["object"]["encryption"], "age");
    EXPECT_EQ(l[0]["object"]["recipients"], nlohmann::json::array({m_online, m_offline}));
    for (const auto& f : list_files(m_dir->path() / "backups")) {
        EXPECT_EQ(read_file(m_dir->path() / "backups" / f).find("AGE-SECRET-KEY"), std::string::npos);
    }
    // dbkeep restore with either identity, by flag or environment.
    auto r =
        dbkeep({"restore", "app", "--to", m_pg->url("copy"), "--identity", (m_dir->path() / "online.txt").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM secrets"), "3000");
    RunOptions env;
    env.env["DBKEEP_IDENTITY_FILE"] = (m_dir->path() / "offline.txt").string();
    EXPECT_EQ(dbkeep({"verify", "app"}, env).exit_code, 0);
}

TEST_F(Encrypted, WrongOrMissingIdentityFailsAndWritesNothing)
{
    write_config("{ recipients: [" + m_online + "] }");
    ASSERT_EQ(dbkeep({"backup"}).exit_code, 0);
    auto out = m_dir->path() / "dump.pgdump";
    auto wrong =
        dbkeep({"restore", "app", "--output", out.string(), "--identity", (m_dir->path() / "offline.txt").string()});
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
    write_config("{ recipients: [" + m_online + "] }");
    ASSERT_EQ(dbkeep({"backup"}).exit_code, 0);
    sh("printf 'Z' | dd of='" + object() + "' bs=1 seek=400 conv=notrunc 2>/dev/null");
    auto v = dbkeep({"verify", "app", "--identity", (m_dir->path() / "online.txt").string()});
    EXPECT_EQ(v.exit_code, 1);
    EXPECT_NE(v.out.find("FAILED"), std::string::npos);
}

TEST_F(Encrypted, PassphraseFromTheEnvironmentNeverReachesLogsOrManifests)
{
    write_config("{ passphrase: \"${BACKUP_PASSPHRASE}\" }"); // quoted: braces inside a flow mapping
    RunOptions o;
    o.env["BACKUP_PASSPHRASE"] = "tr0ub4dor-and-3";
    auto b = dbkeep({"backup", "--log-level", "debug"}, o);
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(b.err.find("tr0ub4dor-and-3"), std::string::npos);
    for (const auto& f : list_files(m_dir->path() / "backups")) {
        EXPECT_EQ(read_file(m_dir->path() / "backups" / f).find("tr0ub4dor"), std::string::npos) << f;
    }
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("copy2")}, o);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(m_pg->psql("copy2", "SELECT count(*) FROM secrets"), "3000");
}

TEST_F(Encrypted, CheckSaysWhetherTheIdentityMatchesARecipient)
{
    write_config("{ recipients: [" + m_online + "] }");
    auto cfg = (m_dir->path() / "dbkeep.yaml").string();
    auto good = run_dbkeep({"--config", cfg, "check", "--json", "--identity", (m_dir->path() / "online.txt").string()});
    EXPECT_NE(good.out.find("can decrypt this target's backups"), std::string::npos) << good.out;
    auto bad = run_dbkeep({"--config", cfg, "check", "--identity", (m_dir->path() / "offline.txt").string()});
    EXPECT_EQ(bad.exit_code, 3);
    EXPECT_NE(bad.out.find("✗ " + (m_dir->path() / "offline.txt").string() + " matches none"), std::string::npos)
        << bad.out;
}
