// End-to-end PostgreSQL backups through the dbkeep binary against a real PostgreSQL 15.
#include "support/postgres_fixture.hpp"
#include "support/wait.hpp"

#include <csignal>
#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/mount.h>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {

// A table with every awkward type, a second schema, a quoted mixed-case name and a large object.
constexpr const char* k_sample_sql = R"SQL(
CREATE TABLE public.kitchen_sink (
    id serial PRIMARY KEY,
    blob bytea,
    doc jsonb,
    txt text,
    tags text[],
    nums int[],
    maybe int
);
INSERT INTO public.kitchen_sink (blob, doc, txt, tags, nums, maybe)
SELECT decode(lpad(to_hex(g), 8, '0') || '00ff0a0d5c', 'hex'),
       jsonb_build_object('n', g, 'nested', jsonb_build_array(g, 'x', null)),
       'zażółć gęślą jaźń ✓ 🐘 ' || g || E'\ttab\nnewline\\backslash',
       ARRAY['a', 'b"q', NULL, 'ü'],
       ARRAY[g, -g, 0],
       CASE WHEN g % 3 = 0 THEN NULL ELSE g END
FROM generate_series(1, 5000) g;
CREATE TABLE public.all_bytes (b bytea);
INSERT INTO public.all_bytes SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), ''), 'hex') FROM generate_series(0, 255) i;
CREATE SCHEMA billing;
CREATE TABLE billing."Invoices" ("Id" int, "Amount" numeric(12,2));
INSERT INTO billing."Invoices" SELECT g, g * 1.25 FROM generate_series(1, 1234) g;
CREATE TABLE public.empty_table (x int);
SELECT lo_from_bytea(424242, decode(repeat('deadbeef', 1000), 'hex'));
)SQL";

class PostgresBackup : public PostgresTest {
protected:
    PostgresBackup() : PostgresTest({.seed_sql = k_sample_sql}) {}
    void SetUp() override
    {
        PostgresTest::SetUp();
        if (!IsSkipped()) {
            write_config();
        }
    }

    fs::path config_path() const { return m_work->config_path(); }
    fs::path backups() const { return m_work->backups(); }
    std::vector<std::string> stored_files() const { return m_work->stored_files(); }
    std::vector<std::string> files_ending(const std::string& suffix) const { return m_work->files_ending(suffix); }
};

std::string table_digest(PostgresServer& pg, const std::string& db)
{
    return pg.psql(db, "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM public.kitchen_sink t") + "/" +
           pg.psql(db, "SELECT md5(b) FROM public.all_bytes") + "/" +
           pg.psql(db, "SELECT md5(string_agg(i::text, '|' ORDER BY \"Id\")) FROM billing.\"Invoices\" i") + "/" +
           pg.psql(db, "SELECT md5(lo_get(424242))");
}

} // namespace

TEST_F(PostgresBackup, BackupIsAZstdStreamThatPgRestoreLists)
{
    auto r = dbkeep({"backup", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto objects = files_ending(".pgdump.zst");
    ASSERT_EQ(objects.size(), 1u);
    ASSERT_EQ(files_ending(".manifest.json").size(), 1u);
    auto listed =
        sh("zstd -dc '" + (backups() / objects[0]).string() + "' | " + PostgresServer::bin_dir() + "/pg_restore -l");
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find("TABLE DATA public kitchen_sink"), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("TABLE DATA billing Invoices"), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("BLOB"), std::string::npos) << listed.out;
}

TEST_F(PostgresBackup, ManifestRecordsExactRowCountsChecksumAndVersions)
{
    auto r = dbkeep({"backup", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto manifests = files_ending(".manifest.json");
    ASSERT_EQ(manifests.size(), 1u);
    auto m = nlohmann::json::parse(read_file(backups() / manifests[0]));
    EXPECT_EQ(m["target"], "app");
    EXPECT_EQ(m["engine"], "postgres");
    EXPECT_EQ(m["stats"]["public.kitchen_sink"], 5000);
    EXPECT_EQ(m["stats"]["billing.Invoices"], 1234);
    EXPECT_EQ(m["stats"]["public.empty_table"], 0);
    EXPECT_EQ(m["server_version"].get<std::string>().substr(0, 3), "15.");
    EXPECT_EQ(m["tool"], "pg_dump");
    // From the archive itself: the large object, the TOC entries as pg_restore -l counts them, the database.
    EXPECT_EQ(m["details"]["large_objects"], "1") << m.dump(2);
    EXPECT_EQ(m["details"]["tables_with_data"], "4") << m.dump(2);
    EXPECT_EQ(m["details"]["database"], "app") << m.dump(2);
    EXPECT_EQ(m["stats"].size(), 4u) << m.dump(2);
    auto object = backups() / m["object"]["key"].get<std::string>();
    auto sum = sh("sha256sum '" + object.string() + "'");
    EXPECT_EQ(sum.out.substr(0, 64), m["object"]["sha256"].get<std::string>());
    EXPECT_EQ(fs::file_size(object), m["object"]["stored_bytes"].get<std::uint64_t>());
    auto raw = sh("zstd -dc '" + object.string() + "' | wc -c");
    EXPECT_EQ(std::stoull(raw.out), m["object"]["raw_bytes"].get<std::uint64_t>());
    auto toc = sh("zstd -dc '" + object.string() + "' | " + PostgresServer::bin_dir() +
                  "/pg_restore -l | grep -o 'TOC Entries: [0-9]*'");
    EXPECT_EQ(toc.out, "TOC Entries: " + m["details"].value("toc_entries", std::string("?")) + "\n") << m.dump(2);
}

TEST_F(PostgresBackup, RestoreIntoANewDatabaseReproducesEveryRowAndType)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto list = dbkeep({"list", "app", "--json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    auto listed = nlohmann::json::parse(list.out);
    ASSERT_EQ(listed.size(), 1u);
    auto r = dbkeep({"restore", "app", "--backup", listed[0]["id"], "--to", m_pg->url("copy")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM public.kitchen_sink"), "5000");
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM billing.\"Invoices\""), "1234");
    EXPECT_EQ(m_pg->psql("copy", "SELECT count(*) FROM public.kitchen_sink WHERE maybe IS NULL"), "1666");
    EXPECT_EQ(table_digest(*m_pg, "copy"), table_digest(*m_pg, "app"));
}

TEST_F(PostgresBackup, ParallelRestoreUsesATempFileAndRemovesIt)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    TempDir tmp("dbkeep-restore-tmp");
    RunOptions o;
    o.env["TMPDIR"] = tmp.path().string();
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("parallel"), "--jobs", "2"}, o);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("temp file"), std::string::npos) << "the user is told about the temp file: " << r.err;
    EXPECT_EQ(table_digest(*m_pg, "parallel"), table_digest(*m_pg, "app"));
    EXPECT_TRUE(list_files(tmp.path()).empty());
}

TEST_F(PostgresBackup, RestoreToAFileWritesThePlainCustomFormatDump)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto out = m_work->dir() / "app.dump";
    auto r = dbkeep({"restore", "app", "--output", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto listed = run({PostgresServer::bin_dir() + "/pg_restore", "-l", out.string()});
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find("kitchen_sink"), std::string::npos);
}

TEST_F(PostgresBackup, ChecksumMismatchStopsTheRestoreAndNamesTheBackup)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto manifests = files_ending(".manifest.json");
    ASSERT_EQ(manifests.size(), 1u);
    // Rewrite the recorded checksum: the object is intact, so only the SHA-256 comparison can catch it.
    auto mpath = backups() / manifests[0];
    auto m = nlohmann::json::parse(read_file(mpath));
    std::string id = m["id"];
    m["object"]["sha256"] = std::string(64, '0');
    write_file(mpath, m.dump(2));
    auto out = m_work->dir() / "bad.dump";
    auto r = dbkeep({"restore", "app", "--output", out.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("SHA-256 mismatch"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(id), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
    auto partials = sh("ls '" + m_work->dir().string() + "' | grep -c partial");
    EXPECT_EQ(partials.out, "0\n");
    auto v = dbkeep({"verify", "app"});
    EXPECT_EQ(v.exit_code, 1);
    EXPECT_NE(v.out.find("FAILED"), std::string::npos);
}

TEST_F(PostgresBackup, CorruptObjectIsDetectedByVerify)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    ASSERT_EQ(dbkeep({"verify", "app"}).exit_code, 0);
    auto object = backups() / files_ending(".pgdump.zst")[0];
    // Flip one byte in the middle.
    sh("printf 'X' | dd of='" + object.string() + "' bs=1 seek=1000 conv=notrunc 2>/dev/null");
    auto v = dbkeep({"verify", "app"});
    EXPECT_EQ(v.exit_code, 1);
    EXPECT_NE(v.out.find("FAILED"), std::string::npos) << v.out;
}

TEST_F(PostgresBackup, WrongPasswordFailsNamingTheTargetWithoutThePassword)
{
    // A second server that requires a password.
    PostgresServer secured(PostgresOptions{.superuser_password = "right-horse-battery"});
    secured.create_database("app");
    write_config("    password: ${APP_DB_PASSWORD}\n", secured.url("app"));
    RunOptions o;
    o.env["APP_DB_PASSWORD"] = "Wr0ngPassw0rd-XYZZY";
    auto r = dbkeep({"backup", "app"}, o);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("app"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("password authentication failed"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("Wr0ngPassw0rd-XYZZY"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("Wr0ngPassw0rd-XYZZY"), std::string::npos);
    EXPECT_TRUE(stored_files().empty());

    o.env["APP_DB_PASSWORD"] = "right-horse-battery";
    auto ok = dbkeep({"backup", "app", "--log-level", "debug"}, o);
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_EQ(ok.err.find("right-horse-battery"), std::string::npos) << "the log never shows the password";
}

TEST_F(PostgresBackup, UnknownDatabaseFailsWithNoManifest)
{
    write_config("", m_pg->url("no_such_db"));
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no_such_db"), std::string::npos) << r.err;
    EXPECT_TRUE(stored_files().empty());
}

// "back up app: back up app: the server has no database nope ...": an engine's error naming the backup and the
// target, wrapped by the job's "back up app". However a backup fails, each error line names that context once.
TEST_F(PostgresBackup, AFailedBackupNamesItsContextOnce)
{
    auto times = [](const std::string& text, const std::string& part) {
        std::size_t n = 0;
        for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
            ++n;
        }
        return n;
    };
    auto killed =
        fake_pg_dump("pg_dump_killed", PostgresServer::bin_dir() + "/pg_dump \"$@\" | head -c 20000\nkill -9 $$");
    const std::vector<std::pair<std::string, std::pair<std::string, std::string>>> cases{
        {"a database the server lacks", {"", m_pg->url("no_such_db")}},
        {"a list of databases with one the server lacks", {"    databases: [app, nope]\n", m_pg->url("")}},
        {"pg_dump killed", {"    pg_dump_path: " + killed + "\n", ""}},
    };
    for (const auto& [what, config] : cases) {
        SCOPED_TRACE(what);
        write_config(config.first, config.second);
        auto r = dbkeep({"backup", "app"});
        EXPECT_EQ(r.exit_code, 1) << r.err;
        EXPECT_GE(times(r.err, "back up app"), 1u) << r.err;
        std::istringstream lines(r.err);
        for (std::string line; std::getline(lines, line);) {
            EXPECT_LE(times(line, "back up app"), 1u) << line;
        }
        auto j = dbkeep({"backup", "app", "--json"});
        EXPECT_EQ(j.exit_code, 1) << j.err;
        const auto doc = nlohmann::json::parse(j.out);
        ASSERT_TRUE(doc.is_array() && !doc.empty()) << j.out;
        const auto& e = doc[0]["error"];
        const std::string context = e["operation"].get<std::string>() + " " + e["object"].get<std::string>() + ": " +
                                    e["message"].get<std::string>();
        EXPECT_EQ(times(context, "back up app"), 1u) << j.out;
    }
}

TEST_F(PostgresBackup, PgDumpKilledMidStreamLeavesNoManifestNoTempFileAndEarlierBackupsIntact)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto before = stored_files();
    ASSERT_EQ(before.size(), 2u);
    auto fake =
        fake_pg_dump("pg_dump_killed", PostgresServer::bin_dir() + "/pg_dump \"$@\" | head -c 20000\nkill -9 $$");
    write_config("    pg_dump_path: " + fake + "\n");
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("killed by signal 9"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("app"), std::string::npos) << r.err;
    EXPECT_EQ(stored_files(), before) << "no new manifest, no object, no temp file";
}

TEST_F(PostgresBackup, EmptyDumpIsAFailure)
{
    auto fake = fake_pg_dump("pg_dump_empty", "exit 0");
    write_config("    pg_dump_path: " + fake + "\n");
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no output"), std::string::npos) << r.err;
    EXPECT_TRUE(stored_files().empty());
}

TEST_F(PostgresBackup, PgDumpOlderThanTheServerIsRefusedWithTheVersionNeeded)
{
    auto old = m_work->write_script("pg_dump_old", "echo 'pg_dump (PostgreSQL) 13.4'");
    write_config("    pg_dump_path: " + old + "\n");
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("needs pg_dump 15 or newer"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("postgresql-client-15"), std::string::npos) << r.err;
    EXPECT_TRUE(stored_files().empty());
}

// A pg_dump_path that does not run (a typo, a package removed since): the setting is named as the thing to fix.
TEST_F(PostgresBackup, APgDumpPathThatDoesNotRunNamesTheSetting)
{
    const auto missing = (m_work->dir() / "bin" / "pg_dump").string();
    write_config("    pg_dump_path: " + missing + "\n");
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("cannot run " + missing + " --version on local"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("fix pg_dump_path in the configuration, or the runner"), std::string::npos) << r.err;
    EXPECT_TRUE(stored_files().empty());
}

// Through a runner (`type: command`), dbkeep's sessions are psql's, taken from pg_dump_path's folder. A folder
// without psql is named as such, and psql put there is the fix. A launcher that does not exist is the runner's
// fault, not psql's: the hint sends to dbkeep check, which names it.
TEST_F(PostgresBackup, ThroughARunnerAMissingPsqlAndAMissingLauncherAreToldApart)
{
    const auto bin = m_work->dir() / "bin";
    fs::create_directories(bin);
    const auto pg_dump = bin / "pg_dump";
    fs::create_symlink(PostgresServer::bin_dir() + "/pg_dump", pg_dump);
    write_config("    runner: { type: command, argv: [env] }\n    pg_dump_path: " + pg_dump.string() + "\n");
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(bin.string() + "/psql: not found"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("install psql where the runner runs (command env), or set pg_dump_path to a pg_dump with "
                         "psql in its folder"),
              std::string::npos)
        << r.err;
    EXPECT_TRUE(stored_files().empty());
    fs::create_symlink(PostgresServer::bin_dir() + "/psql", bin / "psql");
    r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 0) << r.err;

    const auto launcher = (m_work->dir() / "no-such-launcher").string();
    write_config("    runner: { type: command, argv: [" + launcher + "] }\n");
    r = dbkeep({"restore", "app", "--to", m_pg->url("copy")});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("start " + launcher + ": No such file or directory"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("fix the runner: dbkeep check shows what fails"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("install psql"), std::string::npos) << r.err;
    auto c = dbkeep({"check", "app"});
    EXPECT_NE(c.exit_code, 0);
    EXPECT_NE(c.out.find("command " + launcher + " cannot run a command"), std::string::npos) << c.out << c.err;
}

// No pg_dump on this machine at all (here hidden from dbkeep alone, in a mount namespace of its own, with a PATH
// that has none): found none, and the package to install, rather than a runner that gave no answer.
TEST_F(PostgresBackup, WithNoPgDumpHereThePackageToInstallIsNamed)
{
    if (geteuid() != 0) {
        GTEST_SKIP() << "a mount namespace needs root";
    }
    // In the namespace /usr/lib/postgresql is an empty tmpfs and PATH names nothing: no pg_dump anywhere.
    const std::string script =
        "mount -t tmpfs none /usr/lib/postgresql || exit 99; PATH=/nowhere exec \"$0\" --config \"$1\" backup app";
    auto r = run({"/usr/bin/unshare", "-m", "/bin/sh", "-c", script, dbkeep_binary(), m_work->config_path().string()});
    if (r.exit_code == 99 || r.err.starts_with("unshare:")) {
        GTEST_SKIP() << "cannot make a mount namespace here: " << r.err;
    }
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("found none (looked at pg_dump on local)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("install postgresql-client-15 where the runner runs, or set pg_dump_path"), std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("got no answer"), std::string::npos) << r.err;
    EXPECT_TRUE(stored_files().empty());
}

TEST_F(PostgresBackup, SigtermMidBackupAbortsCleanly)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto before = stored_files();
    // Streams 20000 bytes, then holds the stream open until it is killed.
    auto fake = fake_pg_dump("pg_dump_slow",
                             PostgresServer::bin_dir() + "/pg_dump \"$@\" | head -c 20000\nexec tail -f /dev/null");
    write_config("    pg_dump_path: " + fake + "\n");
    auto bg = m_work->start_dbkeep({"backup", "app"}, "bg.log");
    // Wait until the object's temp file exists: the dump is streaming.
    bool streaming = wait_until([&] {
        for (const auto& f : list_files(backups())) {
            if (f.find(".tmp-") != std::string::npos) {
                return true;
            }
        }
        return !bg->running();
    });
    streaming = streaming && bg->running();
    ASSERT_TRUE(streaming) << m_work->log("bg.log");
    bg->signal(SIGTERM);
    int rc = bg->wait(k_event_timeout);
    EXPECT_EQ(rc, 1) << m_work->log("bg.log");
    EXPECT_NE(m_work->log("bg.log").find("cancelled"), std::string::npos);
    EXPECT_EQ(stored_files(), before);
}

TEST_F(PostgresBackup, DiskFullFailsWithNoPartialObject)
{
    if (auto why = enter_private_mount_namespace(); !why.empty()) {
        GTEST_SKIP() << why;
    }
    auto small = m_work->dir() / "small";
    fs::create_directories(small);
    if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=64k") != 0) {
        GTEST_SKIP() << "cannot mount tmpfs here";
    }
    m_pg->psql("app",
               "CREATE TABLE filler AS SELECT md5(g::text) || md5((g*7)::text) AS s FROM generate_series(1, 200000) g");
    m_work->write_config("storages:\n  default:\n    type: local\n    path: " + small.string() + "\n" +
                         postgres_target_yaml(m_pg->url("app")));
    auto r = dbkeep({"backup", "app"});
    auto left = list_files(small);
    ::umount2(small.c_str(), MNT_DETACH);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
    EXPECT_TRUE(left.empty()) << left.front();
}

TEST_F(PostgresBackup, ConfigMistakeNamesFileLineAndColumnAndExitsTwo)
{
    m_work->write_config("targets:\n  app:\n    engine: postgres\n    ur1: postgres://x@y/z\n");
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find(config_path().string() + ":4:5: unknown key 'ur1'"), std::string::npos) << r.err;
    auto v = dbkeep({"config", "validate"});
    EXPECT_EQ(v.exit_code, 2);
    EXPECT_NE(v.err.find(":4:5:"), std::string::npos) << v.err;
}

TEST_F(PostgresBackup, ListShowsNewestFirstWithSizeAndDuration)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    ASSERT_TRUE(m_work->wait_for_a_newer_backup_id());
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto r = dbkeep({"list", "app", "--json"});
    ASSERT_EQ(r.exit_code, 0);
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 2u);
    EXPECT_GT(j[0]["id"].get<std::string>(), j[1]["id"].get<std::string>());
    auto human = dbkeep({"list"});
    EXPECT_NE(human.out.find(j[0]["id"].get<std::string>()), std::string::npos);
    EXPECT_NE(human.out.find("KiB"), std::string::npos) << human.out;
}

TEST_F(PostgresBackup, VerifyRestoreComparesRowCountsWithTheManifest)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto ok = dbkeep({"verify", "app", "--restore", "--keep", "--to", m_pg->url("scratch")});
    ASSERT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_NE(ok.out.find(" ok"), std::string::npos);
    EXPECT_EQ(m_pg->psql("scratch", "SELECT count(*) FROM billing.\"Invoices\""), "1234");

    // A manifest whose count disagrees with what the dump holds is reported, naming the table.
    auto mpath = backups() / files_ending(".manifest.json")[0];
    auto m = nlohmann::json::parse(read_file(mpath));
    m["stats"]["billing.Invoices"] = 1235;
    write_file(mpath, m.dump(2));
    auto bad = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("scratch2")});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.out.find("billing.Invoices 1235 in the manifest, 1234 restored"), std::string::npos) << bad.out;
}
