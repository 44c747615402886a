// PostgreSQL backups when the database does not cooperate, against a real PostgreSQL 15: a migration left idle in
// transaction holding a table lock (bounded waits that name the table and the session, SIGTERM while blocked,
// SIGKILL and the lease it leaves), a LATIN1 database with a non-ASCII table name, a SQL_ASCII one with bytes
// that are not UTF-8, the private temp file of a parallel restore, and an exception thrown mid-backup.
#include "catalog/naming.hpp"
#include "config/config.hpp"
#include "job/scheduled.hpp"
#include "storage/local.hpp"
#include "support/postgres_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace dbkeep::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* k_seed_sql = R"SQL(
CREATE TABLE public.accounts AS SELECT g AS id, md5(g::text) AS name FROM generate_series(1, 2000) g;
CREATE TABLE public.orders AS SELECT g AS id, g % 7 AS account FROM generate_series(1, 3000) g;
)SQL";

class PostgresFaults : public PostgresTest {
protected:
    PostgresFaults() : PostgresTest({.seed_sql = k_seed_sql, .tag = "dbkeep-pgfault"}) {}

    fs::path backups() const { return m_work->backups(); }
    fs::path lease_file() const { return backups() / "app" / "lease.json"; }

    // A "migration" session: psql holding ACCESS EXCLUSIVE on public.orders in a transaction left idle, until
    // the returned process is destroyed. Returns once the server shows the lock granted.
    std::unique_ptr<Background> hold_lock_on_orders()
    {
        RunOptions o;
        o.env["PGAPPNAME"] = "migration";
        auto holder = std::make_unique<Background>(
            std::vector<std::string>{
                "sh", "-c",
                "(echo 'BEGIN; LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE;'; sleep 600) | " +
                    PostgresServer::bin_dir() + "/psql -qX '" + m_pg->url("app") + "'"},
            o);
        bool locked = wait_until([&] {
            return m_pg->psql("app", "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE "
                                     "a.application_name = 'migration' AND l.mode = 'AccessExclusiveLock' AND "
                                     "l.granted AND l.relation = 'public.orders'::regclass") == "1";
        });
        EXPECT_TRUE(locked) << "the migration session never took its lock";
        return holder;
    }

    std::string migration_pid() const
    {
        return m_pg->psql("app", "SELECT pid FROM pg_stat_activity WHERE application_name = 'migration'");
    }

    // True once pg_dump waits for a lock on the server (the backup is in its blocked phase).
    bool wait_for_pg_dump_blocked() const
    {
        return wait_until([&] {
            return m_pg->psql("app",
                              "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '%pg_dump%' AND "
                              "wait_event_type = 'Lock'") != "0";
        });
    }
};

TEST_F(PostgresFaults, ALockHeldByAnIdleTransactionFailsWithinLockWaitTimeoutNamingTheTableAndTheSession)
{
    auto holder = hold_lock_on_orders();
    const std::string pid = migration_pid();
    write_config("    lock_wait_timeout: 3\n");
    RunOptions o;
    o.timeout = std::chrono::seconds(120);
    const auto started = Clock::now();
    auto r = dbkeep({"backup", "app"}, o);
    const auto seconds = std::chrono::duration<double>(Clock::now() - started).count();
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_LT(seconds, 30) << "bounded by lock_wait_timeout (3 s), not forever";
    EXPECT_NE(r.err.find("table public.orders is locked by pid " + pid), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("application migration"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("idle in transaction"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("lock_wait_timeout (3s)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("pg_terminate_backend(" + pid + ")"), std::string::npos) << "the fix is named: " << r.err;
    // pg_dump's own DETAIL line is kept, not only its first line.
    EXPECT_NE(r.err.find("Query was: LOCK TABLE"), std::string::npos) << r.err;
    EXPECT_TRUE(m_work->manifests().empty());
    EXPECT_FALSE(fs::exists(lease_file()));
}

// pg_dump's lock wait timed out, and by the time dbkeep asks who held the lock nobody does (the holder's
// transaction ended in between; here, a pg_dump stand-in reports the timeout as pg_dump 15 words it and no session
// ever held a lock): no session to name, so the hint says to try again and where to look if it recurs.
TEST_F(PostgresFaults, ALockTimeoutWhoseHolderHasGoneSaysToTryAgainAndWhereToLook)
{
    auto fake =
        fake_pg_dump("pg_dump_lock_timeout",
                     "echo 'pg_dump: error: query failed: ERROR:  canceling statement due to lock timeout' >&2\n"
                     "echo 'pg_dump: detail: Query was: LOCK TABLE public.orders IN ACCESS SHARE MODE' >&2\n"
                     "exit 1");
    write_config("    lock_wait_timeout: 3\n    pg_dump_path: " + fake + "\n");
    auto r = dbkeep({"backup", "app"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("the session holding it had ended when asked"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("back up again, as the lock may be free now; if it recurs, find the session holding it in "
                         "pg_locks / pg_stat_activity and end it, or raise the target's lock_wait_timeout"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("pg_terminate_backend"), std::string::npos) << "no session to name: " << r.err;
    EXPECT_TRUE(m_work->manifests().empty());
}

// The private temp file of a parallel restore, in a folder where it cannot be made (read-only) or that has no room
// for the dump: each fails naming TMPDIR, leaves nothing in the folder and restores nothing.
TEST_F(PostgresFaults, AParallelRestoreWhoseTempFolderIsReadOnlyOrFullNamesTmpdir)
{
    if (auto why = enter_private_mount_namespace(); !why.empty()) {
        GTEST_SKIP() << why;
    }
    write_config();
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    const auto ro = m_work->dir() / "ro", small = m_work->dir() / "small";
    fs::create_directories(ro);
    fs::create_directories(small);
    if (::mount("tmpfs", ro.c_str(), "tmpfs", MS_RDONLY, "size=64k") != 0) {
        GTEST_SKIP() << "cannot mount tmpfs here";
    }
    if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=16k") != 0) {
        GTEST_SKIP() << "cannot mount tmpfs here";
    }
    RunOptions o;
    o.env["TMPDIR"] = ro.string();
    auto read_only = dbkeep({"restore", "app", "--to", m_pg->url("copy_ro"), "--jobs", "2"}, o);
    o.env["TMPDIR"] = small.string();
    auto full = dbkeep({"restore", "app", "--to", m_pg->url("copy_full"), "--jobs", "2"}, o);
    const auto left = list_files(small);
    ::umount2(ro.c_str(), MNT_DETACH);
    ::umount2(small.c_str(), MNT_DETACH);
    EXPECT_NE(read_only.exit_code, 0);
    EXPECT_NE(read_only.err.find("create a private temp folder in " + ro.string()), std::string::npos) << read_only.err;
    EXPECT_NE(read_only.err.find("set TMPDIR to a writable folder with room for the whole dump"), std::string::npos)
        << read_only.err;
    EXPECT_NE(full.exit_code, 0);
    EXPECT_NE(full.err.find("No space left on device"), std::string::npos) << full.err;
    EXPECT_NE(full.err.find("set TMPDIR to a folder with room for the whole dump"), std::string::npos) << full.err;
    EXPECT_EQ(left, std::vector<std::string>{}) << "the private folder and its file are removed";
    EXPECT_EQ(m_pg->psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'copy\\_%'"), "0");
}

TEST_F(PostgresFaults, SigtermWhileBlockedOnALockEndsTheBackupWithinSecondsAndCancelsTheServerSide)
{
    auto holder = hold_lock_on_orders();
    write_config(); // the default lock_wait_timeout (5 min): only the signal can end this backup in time
    auto bg = m_work->start_dbkeep({"backup", "app"}, "bg.log");
    ASSERT_TRUE(wait_for_pg_dump_blocked()) << m_work->log("bg.log");
    // No session of dbkeep's own is open while pg_dump runs: the counts come from the archive.
    EXPECT_EQ(m_pg->psql("app", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbkeep'"), "0");
    ASSERT_TRUE(fs::exists(lease_file()));
    const auto signalled = Clock::now();
    bg->signal(SIGTERM);
    int rc = bg->wait(std::chrono::seconds(30));
    const auto seconds = std::chrono::duration<double>(Clock::now() - signalled).count();
    EXPECT_EQ(rc, 1) << m_work->log("bg.log");
    EXPECT_LT(seconds, 5) << m_work->log("bg.log");
    EXPECT_NE(m_work->log("bg.log").find("cancelled"), std::string::npos) << m_work->log("bg.log");
    EXPECT_TRUE(m_work->manifests().empty());
    EXPECT_FALSE(fs::exists(lease_file())) << "the lease is released";
    // pg_dump's session is not left waiting on the server.
    EXPECT_TRUE(wait_until(
        [&] {
            return m_pg->psql("app", "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'dbkeep%' "
                                     "AND wait_event_type = 'Lock'") == "0";
        },
        std::chrono::seconds(5)));
}

// A holder whose lease another runner took over while it was held up (here: pg_dump waiting on a lock) does not
// commit: at the commit point it finds the lease is no longer its own, fails, and leaves no manifest and no
// object, and the other runner's lease stays as it is.
TEST_F(PostgresFaults, AHolderWhoseLeaseWasTakenOverWhileBlockedCommitsNothing)
{
    auto holder = hold_lock_on_orders();
    write_config();
    auto bg = m_work->start_dbkeep({"backup", "app"}, "bg.log");
    ASSERT_TRUE(wait_for_pg_dump_blocked()) << m_work->log("bg.log");
    ASSERT_TRUE(fs::exists(lease_file()));
    auto lease = nlohmann::json::parse(read_file(lease_file()));
    lease["owner"] = "another-runner";
    lease["pid"] = 1;
    write_file(lease_file(), lease.dump(2));
    holder.reset(); // the lock goes: pg_dump finishes, and the backup reaches its commit point
    EXPECT_EQ(bg->wait(std::chrono::seconds(60)), 1) << m_work->log("bg.log");
    EXPECT_NE(m_work->log("bg.log").find("lease"), std::string::npos) << m_work->log("bg.log");
    EXPECT_TRUE(m_work->manifests().empty()) << m_work->log("bg.log");
    for (const auto& f : m_work->stored_files()) {
        EXPECT_EQ(f.find(".pgdump.zst"), std::string::npos) << "left behind: " << f;
    }
    ASSERT_TRUE(fs::exists(lease_file()));
    EXPECT_EQ(nlohmann::json::parse(read_file(lease_file()))["owner"], "another-runner");
}

TEST_F(PostgresFaults, AfterSigkillTheNextBackupOnThisHostTakesTheDeadProcesssLeaseAtOnce)
{
    auto holder = hold_lock_on_orders();
    write_config();
    auto bg = m_work->start_dbkeep({"backup", "app"}, "bg.log");
    ASSERT_TRUE(wait_for_pg_dump_blocked()) << m_work->log("bg.log");
    ASSERT_TRUE(fs::exists(lease_file()));
    bg->signal(SIGKILL);
    EXPECT_EQ(bg->wait(std::chrono::seconds(10)), -1);
    ASSERT_TRUE(fs::exists(lease_file())) << "SIGKILL leaves the lease behind";
    holder.reset(); // the migration ends; the orphaned pg_dump of the killed backup goes on or dies
    const auto started = Clock::now();
    RunOptions o;
    o.timeout = std::chrono::seconds(120);
    auto r = dbkeep({"backup", "app"}, o);
    const auto seconds = std::chrono::duration<double>(Clock::now() - started).count();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_LT(seconds, 30) << "not the ten minutes of lease_ttl";
    EXPECT_NE(r.err.find("taking over the lease of a backup whose process is gone from this host"), std::string::npos)
        << r.err;
    EXPECT_EQ(m_work->manifests().size(), 1u);
    EXPECT_FALSE(fs::exists(lease_file()));
}

TEST_F(PostgresFaults, ALatin1DatabaseWithATableNamedCafeBacksUpWithAValidManifest)
{
    m_pg->psql("postgres", "CREATE DATABASE legacy ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
    // psql's client encoding is UTF8 here; the server stores the name in LATIN1.
    m_pg->psql("legacy", "SET client_encoding = 'UTF8'; CREATE TABLE public.\"café\" (id int, note text); "
                         "INSERT INTO public.\"café\" VALUES (1, 'crème'), (2, 'brûlée'), (3, 'naïve');");
    write_config("", m_pg->url("legacy"));
    auto r = dbkeep({"backup", "app"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto manifests = m_work->manifests();
    ASSERT_EQ(manifests.size(), 1u);
    auto m = nlohmann::json::parse(read_file(backups() / manifests[0])); // valid JSON (UTF-8)
    EXPECT_EQ(m["stats"]["public.café"], 3) << m.dump(2);
    EXPECT_FALSE(fs::exists(lease_file()));
    // And the restored copy counts the same rows under the same name.
    auto v = dbkeep({"verify", "app", "--restore", "--to", m_pg->url("legacy_copy")});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

TEST_F(PostgresFaults, ASqlAsciiDatabaseWithBytesThatAreNotUtf8IsEscapedInTheManifest)
{
    m_pg->psql("postgres", "CREATE DATABASE raw ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
    // SQL_ASCII stores bytes as given: a LATIN1 é (0xe9) that no conversion will ever turn into UTF-8.
    m_pg->psql("raw", "CREATE TABLE public.\"caf\xe9\" (id int); INSERT INTO public.\"caf\xe9\" VALUES (1), (2);");
    write_config("", m_pg->url("raw"));
    auto r = dbkeep({"backup", "app", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto manifests = m_work->manifests();
    ASSERT_EQ(manifests.size(), 1u);
    auto m = nlohmann::json::parse(read_file(backups() / manifests[0]));
    EXPECT_EQ(m["stats"]["public.caf\\xe9"], 2) << m.dump(2);
}

TEST_F(PostgresFaults, ParallelRestoreOfAnEncryptedBackupWritesAPrivateTempFileAndRemovesIt)
{
    auto key = m_work->dir() / "identity.txt";
    auto k = run_dbkeep({"keygen", "-o", key.string()});
    ASSERT_EQ(k.exit_code, 0) << k.err;
    std::string recipient = k.out.substr(0, k.out.find('\n'));
    // pg_restore as dbkeep runs it, recording what it was given: the temp file's mode, its folder's mode.
    auto seen = m_work->dir() / "seen.txt";
    auto fake = m_work->write_script(
        "pg_restore_spy", "for a; do f=$a; done\ncase \"$1\" in --version) ;; *) stat -c '%a %n' \"$f\" \"$(dirname "
                          "\"$f\")\" > '" +
                              seen.string() + "';; esac\nexec " + PostgresServer::bin_dir() + "/pg_restore \"$@\"");
    write_config("    encryption: { recipients: [" + recipient + "] }\n    pg_restore_path: " + fake + "\n");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    TempDir tmp("dbkeep-private-tmp");
    // A file planted at the name older versions used is neither written through nor read.
    fs::create_symlink(m_work->dir() / "planted-target", tmp.path() / "dbkeep-restore-1.pgdump");
    RunOptions o;
    o.env["TMPDIR"] = tmp.path().string();
    auto r = dbkeep({"restore", "app", "--to", m_pg->url("parallel"), "--jobs", "2", "--identity", key.string()}, o);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(m_pg->psql("parallel", "SELECT count(*) FROM public.orders"), "3000");
    auto lines = read_file(seen);
    auto nl = lines.find('\n');
    ASSERT_NE(nl, std::string::npos) << lines;
    std::string file_line = lines.substr(0, nl), dir_line = lines.substr(nl + 1);
    EXPECT_EQ(file_line.substr(0, 4), "600 ") << lines;
    EXPECT_EQ(dir_line.substr(0, 4), "700 ") << lines;
    EXPECT_NE(dir_line.find(tmp.path().string() + "/dbkeep-restore-"), std::string::npos) << lines;
    EXPECT_FALSE(fs::exists(m_work->dir() / "planted-target"));
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(tmp.path())) {
        left.push_back(e.path().filename().string());
    }
    EXPECT_EQ(left, std::vector<std::string>{"dbkeep-restore-1.pgdump"})
        << "the private folder and its file are gone; only the planted link is left";
    EXPECT_TRUE(fs::is_symlink(tmp.path() / "dbkeep-restore-1.pgdump"));
}

// A storage whose object writer throws (a bug anywhere below the command line behaves the same) once the dump is
// streaming: the exception unwinds through the dump (the count thread is stopped, pg_dump killed), the object
// is aborted and the lease released before it reaches the top-level guard.
class ThrowingWriter final : public dbkeep::storage::ObjectWriter {
public:
    explicit ThrowingWriter(std::unique_ptr<dbkeep::storage::ObjectWriter> inner) : m_inner(std::move(inner)) {}
    dbkeep::Status write(dbkeep::Bytes data) override
    {
        m_written += data.size();
        if (m_written > 4096) {
            throw std::runtime_error("injected exception");
        }
        return m_inner->write(data);
    }
    dbkeep::Status finish() override { return m_inner->finish(); }
    void abort() noexcept override { m_inner->abort(); }

private:
    std::unique_ptr<dbkeep::storage::ObjectWriter> m_inner;
    std::size_t m_written = 0;
};

class ThrowingStorage final : public dbkeep::storage::Storage {
public:
    explicit ThrowingStorage(dbkeep::storage::Storage& inner) : m_inner(inner) {}
    dbkeep::Result<std::unique_ptr<dbkeep::storage::ObjectWriter>> open_writer(const std::string& key) override
    {
        auto w = m_inner.open_writer(key);
        if (!w || key.find(".pgdump") == std::string::npos) {
            return w;
        }
        return std::make_unique<ThrowingWriter>(std::move(*w));
    }
    dbkeep::Result<std::unique_ptr<dbkeep::stream::Source>> open_reader(const std::string& key,
                                                                        dbkeep::storage::ByteRange range) override
    {
        return m_inner.open_reader(key, range);
    }
    dbkeep::Result<dbkeep::storage::ObjectInfo> stat(const std::string& key) override { return m_inner.stat(key); }
    dbkeep::Result<std::vector<dbkeep::storage::ObjectInfo>> list(const std::string& prefix) override
    {
        return m_inner.list(prefix);
    }
    dbkeep::Status remove(const std::vector<std::string>& keys) override { return m_inner.remove(keys); }
    dbkeep::Result<bool> create_if_absent(const std::string& key, const std::string& bytes) override
    {
        return m_inner.create_if_absent(key, bytes);
    }
    bool supports_conditional_create() const override { return m_inner.supports_conditional_create(); }
    std::string describe() const override { return m_inner.describe(); }
    std::vector<dbkeep::Finding> probe(const std::string& key_prefix) override { return m_inner.probe(key_prefix); }

private:
    dbkeep::storage::Storage& m_inner;
};

TEST_F(PostgresFaults, AnExceptionMidBackupAbortsTheObjectReleasesTheLeaseAndLeavesNoSession)
{
    // Enough poorly compressible rows that single-threaded zstd hands the writer data while pg_dump streams.
    m_pg->psql("app", "CREATE TABLE public.noise AS SELECT g, md5(random()::text) || md5(random()::text) AS s "
                      "FROM generate_series(1, 100000) g");
    auto root = backups();
    fs::create_directories(root);
    auto config = dbkeep::config::load_from_string(
        "storages:\n  default:\n    type: local\n    path: " + root.string() + "\n" +
            postgres_target_yaml(m_pg->url("app"), "    compression: { level: 1, workers: 0 }\n"),
        "faults.yaml", m_work->dir());
    ASSERT_TRUE(config) << config.error().to_string();
    auto local = dbkeep::storage::make_local_storage({.root = root});
    ThrowingStorage throwing(*local);
    bool caught = false;
    try {
        (void)dbkeep::job::backup_with_lease(*config, config->targets.at("app"), throwing, {});
    } catch (const std::runtime_error& e) {
        caught = std::string(e.what()) == "injected exception";
    }
    EXPECT_TRUE(caught);
    EXPECT_EQ(list_files(root), std::vector<std::string>{}) << "no object, no temp file, no manifest, no lease";
    EXPECT_TRUE(wait_until(
        [&] {
            return m_pg->psql("app", "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'dbkeep%'") ==
                   "0";
        },
        std::chrono::seconds(10)))
        << "the dump's sessions ended";
}

} // namespace
