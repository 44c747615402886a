// End-to-end MySQL / MariaDB backups through the dbkeep binary against a real MariaDB 10.11: a schema no test
// was tuned for, writes during the backup, restore rules, verify --restore, a command runner, failures that
// must leave no manifest, and the password kept out of every argv and log.
#include "support/mariadb_fixture.hpp"
#include "support/wait.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <thread>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {

std::string hex_of_every_byte()
{
    static const char* k_digits = "0123456789ABCDEF";
    std::string out;
    for (int b = 0; b < 256; ++b) {
        out += k_digits[b >> 4];
        out += k_digits[b & 15];
    }
    return out;
}

// Every integer and temporal type, BLOBs with every byte value, 4-byte UTF-8, JSON, generated columns, views,
// triggers, routines, events, a partitioned table, a MyISAM table and foreign keys.
std::string schema_sql()
{
    return R"SQL(
CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE shop;
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT) ENGINE=InnoDB;
CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(12,2),
  FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE) ENGINE=InnoDB;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, order_id BIGINT, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE ints (id INT PRIMARY KEY, t TINYINT, tu TINYINT UNSIGNED, s SMALLINT, su SMALLINT UNSIGNED,
  m MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, b BIGINT, bu BIGINT UNSIGNED, bits BIT(64),
  f FLOAT, d DOUBLE, dc DECIMAL(65,30), flag BOOLEAN);
INSERT INTO ints VALUES
 (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808,
  18446744073709551615, b'1111111111111111111111111111111111111111111111111111111111111111', -3.4e38,
  -1.7976931348623157e308, -12345678901234567890123456789012345.123456789012345678901234567890, TRUE),
 (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0, b'0', 1.17e-38, 2.2e-308, 0, FALSE),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE times (id INT PRIMARY KEY, d DATE, dt DATETIME(6), ts TIMESTAMP(6) NULL, tm TIME(6), y YEAR);
INSERT INTO times VALUES
 (1, '1000-01-01', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000', '-838:59:59.000000', 1901),
 (2, '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '838:59:59.000000', 2155),
 (3, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB, vb VARBINARY(300), one BINARY(1));
INSERT INTO blobs SELECT seq, UNHEX(REPEAT(LPAD(HEX(seq), 2, '0'), seq + 1)), UNHEX(LPAD(HEX(seq), 2, '0')),
  UNHEX(LPAD(HEX(seq), 2, '0')) FROM seq_0_to_255;
INSERT INTO blobs VALUES (1000, 0x)SQL" +
           hex_of_every_byte() + R"SQL(, 0x)SQL" + hex_of_every_byte() +
           R"SQL(, NULL);
CREATE TABLE texts (id INT PRIMARY KEY, s VARCHAR(200), t LONGTEXT) DEFAULT CHARSET=utf8mb4;
INSERT INTO texts VALUES
 (1, 'emoji 😀🐬🏳️‍🌈 and 𝄞', CONCAT('it''s ', CHAR(92), ' a backslash, ),( and ''),('' inside', CHAR(10), 'newline', CHAR(9), 'tab', CHAR(0), 'nul')),
 (2, 'INSERT INTO `x` VALUES (1),(2);', '-- not a comment /* nor this */ # nor this'),
 (3, '"double" `back` ''single''', REPEAT('zażółć gęślą jaźń ', 500)),
 (4, NULL, '');
CREATE TABLE docs (id INT PRIMARY KEY, doc JSON,
  name VARCHAR(100) AS (JSON_VALUE(doc, '$.name')) VIRTUAL,
  name_len INT AS (CHAR_LENGTH(JSON_VALUE(doc, '$.name'))) PERSISTENT);
INSERT INTO docs (id, doc) VALUES (1, '{"name": "🐬 dolphin", "n": [1, 2, {"x": null}]}'), (2, '{"name": "a\\"b),("}');
CREATE TABLE `odd ``name`` (é)` (`col ``x``` INT PRIMARY KEY);
INSERT INTO `odd ``name`` (é)` VALUES (1), (2), (3);
CREATE TABLE events_log (id INT NOT NULL, created DATE NOT NULL, PRIMARY KEY (id, created))
  PARTITION BY RANGE (YEAR(created)) (PARTITION p2020 VALUES LESS THAN (2021), PARTITION pmax VALUES LESS THAN MAXVALUE);
INSERT INTO events_log SELECT seq, DATE_ADD('2019-06-01', INTERVAL seq DAY) FROM seq_1_to_1500;
CREATE TABLE legacy (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=MyISAM;
INSERT INTO legacy VALUES (1, 'old'), (2, 'older');
CREATE TABLE empty_one (id INT PRIMARY KEY);
CREATE TABLE filler (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(200));
INSERT INTO filler (pad) SELECT CONCAT(REPEAT('x', 100), seq) FROM seq_1_to_200000;
CREATE TABLE live (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB;
CREATE TABLE counter (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB;
INSERT INTO counter VALUES (1, 0);
INSERT INTO customers VALUES (1, 'Zoë 🦊', NULL), (2, 'Bob', 'vip');
CREATE TRIGGER orders_ai AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (order_id) VALUES (NEW.id);
INSERT INTO orders (customer_id, total) VALUES (1, 10.50), (1, 250.00), (2, 999.99);
CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
DELIMITER //
CREATE PROCEDURE add_customer(IN p_id INT) BEGIN INSERT INTO customers VALUES (p_id, 'proc; (x),(y)', NULL); END//
CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2//
DELIMITER ;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM audit WHERE id < 0;
)SQL";
}

const std::vector<std::string> k_static_tables = {"customers", "orders", "audit",      "ints",   "times",     "blobs",
                                                  "texts",     "docs",   "events_log", "legacy", "empty_one", "filler"};

class MysqlBackup : public MariadbTest {
protected:
    void SetUp() override
    {
        MariadbTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        m_db->sql(schema_sql());
    }

    std::string checksum(const std::string& db, const std::string& table) const
    {
        std::string quoted;
        for (char c : table) {
            quoted += c == '`' ? std::string("``") : std::string(1, c);
        }
        auto out = m_db->sql("CHECKSUM TABLE `" + db + "`.`" + quoted + "` EXTENDED");
        return out.substr(out.find('\t') + 1);
    }
    std::string scalar(const std::string& sql) const { return m_db->sql(sql); }

    nlohmann::json only_manifest() const
    {
        auto manifests = m_work->manifests();
        EXPECT_EQ(manifests.size(), 1U);
        return manifests.empty() ? nlohmann::json{}
                                 : nlohmann::json::parse(read_file(m_work->backups() / manifests.front()));
    }

    // Objects of the database other than tables: views, triggers, routines, events.
    std::string objects(const std::string& db) const
    {
        return scalar("SELECT CONCAT((SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '" + db +
                      "'), ' ', (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '" + db +
                      "'), ' ', (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '" + db +
                      "'), ' ', (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '" + db + "'))");
    }
};

TEST_F(MysqlBackup, RoundTripKeepsEveryTableWhileWritesRunDuringTheBackup)
{
    write_config();
    // A writer committing throughout the backup: each transaction adds a row to `live` and counts it in
    // `counter`, so a restore from one snapshot has exactly as many rows as the counter says.
    std::string script;
    for (int i = 0; i < 2500; ++i) {
        script += "START TRANSACTION; INSERT INTO live (v) VALUES (" + std::to_string(i) +
                  "); UPDATE counter SET n = n + 1 WHERE id = 1; COMMIT; DO SLEEP(0.002);\n";
    }
    std::atomic<bool> writer_done{false};
    std::thread writer([&] {
        m_db->sql_result(script, "shop");
        writer_done = true;
    });
    ASSERT_TRUE(
        wait_until([&] { return std::stoi(scalar("SELECT n FROM shop.counter")) > 20; }, std::chrono::seconds(30)));
    auto r = dbkeep({"backup", "shop"});
    const int after_backup = std::stoi(scalar("SELECT n FROM shop.counter"));
    const bool writer_outlived_backup = !writer_done.load();
    writer.join();
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(writer_outlived_backup) << "the writer ended before the backup did: no writes during the backup";

    auto m = only_manifest();
    EXPECT_EQ(m["engine"], "mysql");
    EXPECT_EQ(m["tool"], "mariadb-dump");
    EXPECT_NE(m["server_version"].get<std::string>().find("MariaDB"), std::string::npos);
    EXPECT_FALSE(m["details"]["binlog_file"].get<std::string>().empty());
    EXPECT_GT(std::stoll(m["details"]["binlog_position"].get<std::string>()), 0);
    EXPECT_EQ(m["details"]["charset"], "utf8mb4");
    EXPECT_EQ(m["details"]["collation"], "utf8mb4_unicode_ci");
    // The MyISAM table is named in a warning and in the manifest.
    EXPECT_EQ(m["details"]["non_transactional_tables"], "shop.legacy (MyISAM)");
    EXPECT_NE(r.err.find("non-transactional tables"), std::string::npos) << r.err;
    // Row counts from the stream, for every table (empty ones too, odd names too).
    EXPECT_EQ(m["stats"]["shop.filler"], 200000);
    EXPECT_EQ(m["stats"]["shop.blobs"], 257);
    EXPECT_EQ(m["stats"]["shop.texts"], 4);
    EXPECT_EQ(m["stats"]["shop.empty_one"], 0);
    EXPECT_EQ(m["stats"]["shop.odd `name` (é)"], 3);
    EXPECT_EQ(m["stats"]["shop.events_log"], 1500);
    const auto dumped_live = m["stats"]["shop.live"].get<std::int64_t>();
    EXPECT_GT(dumped_live, 20);
    EXPECT_LT(dumped_live, after_backup + 1);
    EXPECT_FALSE(m["stats"].contains("shop.big_orders")) << "a view has no rows of its own";

    auto restored = dbkeep({"restore", "shop", "--to", m_db->url("shop_copy")});
    ASSERT_EQ(restored.exit_code, 0) << restored.err;
    for (const auto& t : k_static_tables) {
        EXPECT_EQ(checksum("shop", t), checksum("shop_copy", t)) << t;
        EXPECT_EQ(scalar("SELECT COUNT(*) FROM shop_copy.`" + t + "`"),
                  std::to_string(m["stats"]["shop." + t].get<std::int64_t>()))
            << t;
    }
    EXPECT_EQ(checksum("shop", "odd `name` (é)"), checksum("shop_copy", "odd `name` (é)"));
    // One snapshot: the rows of `live` and the counter agree, and match the manifest.
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM shop_copy.live"), std::to_string(dumped_live));
    EXPECT_EQ(scalar("SELECT n FROM shop_copy.counter"), std::to_string(dumped_live));
    // Views, triggers, routines and events came back; the database like the source's.
    EXPECT_EQ(objects("shop_copy"), objects("shop"));
    EXPECT_EQ(objects("shop_copy"), "1 1 2 1");
    EXPECT_EQ(scalar("SELECT CONCAT(DEFAULT_CHARACTER_SET_NAME, ' ', DEFAULT_COLLATION_NAME) FROM "
                     "information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop_copy'"),
              "utf8mb4 utf8mb4_unicode_ci");
    EXPECT_EQ(scalar("SELECT HEX(b) FROM shop_copy.blobs WHERE id = 1000"), hex_of_every_byte());
    EXPECT_EQ(scalar("SELECT s FROM shop_copy.texts WHERE id = 1"), "emoji 😀🐬🏳️‍🌈 and 𝄞");
    EXPECT_EQ(scalar("SELECT name_len FROM shop_copy.docs WHERE id = 1"), "9");
    EXPECT_EQ(scalar("SELECT shop_copy.twice(21)"), "42");
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = 'shop_copy' AND "
                     "TABLE_NAME = 'events_log'"),
              "2");
}

TEST_F(MysqlBackup, VerifyRestorePassesAndDetectsAMismatch)
{
    write_config();
    ASSERT_EQ(dbkeep({"backup", "shop"}).exit_code, 0);
    auto v = dbkeep({"verify", "shop", "--restore", "--to", m_db->url("scratch")});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_NE(v.err.find("test restore matches the manifest"), std::string::npos) << v.err;
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'scratch'"), "0")
        << "the scratch database is dropped afterwards";
    // A second run makes the scratch database afresh.
    EXPECT_EQ(dbkeep({"verify", "shop", "--restore", "--to", m_db->url("scratch"), "--keep"}).exit_code, 0);
    EXPECT_EQ(dbkeep({"verify", "shop", "--restore", "--to", m_db->url("scratch")}).exit_code, 0);

    // The manifest says one row more than the dump holds: the comparison finds it.
    auto path = m_work->backups() / m_work->manifests().front();
    auto m = nlohmann::json::parse(read_file(path));
    m["stats"]["shop.customers"] = 3;
    write_file(path, m.dump(2));
    auto bad = dbkeep({"verify", "shop", "--restore", "--to", m_db->url("scratch")});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE((bad.out + bad.err).find("shop.customers 3 in the manifest, 2 restored"), std::string::npos)
        << bad.out << bad.err;

    // A database dbkeep did not make is never used as scratch when it holds objects.
    auto refused = dbkeep({"verify", "shop", "--restore", "--to", m_db->url("shop")});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE((refused.out + refused.err).find("not made by dbkeep verify"), std::string::npos)
        << refused.out << refused.err;
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM shop.customers"), "2");
}

TEST_F(MysqlBackup, RestoreRefusesANonEmptyDatabaseWithoutClean)
{
    write_config();
    ASSERT_EQ(dbkeep({"backup", "shop"}).exit_code, 0);
    m_db->sql("CREATE DATABASE busy; CREATE TABLE busy.keepme (id INT); INSERT INTO busy.keepme VALUES (7);");
    auto r = dbkeep({"restore", "shop", "--to", m_db->url("busy")});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("already holds tables"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--clean"), std::string::npos) << r.err;
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'busy'"), "1");

    auto clean = dbkeep({"restore", "shop", "--to", m_db->url("busy"), "--clean"});
    ASSERT_EQ(clean.exit_code, 0) << clean.err;
    EXPECT_EQ(checksum("shop", "filler"), checksum("busy", "filler"));
    EXPECT_EQ(scalar("SELECT id FROM busy.keepme"), "7") << "--clean drops only what the dump recreates";
}

TEST_F(MysqlBackup, AFailedRestoreDropsTheDatabaseItCreated)
{
    write_config();
    auto backup = dbkeep({"backup", "shop"});
    ASSERT_EQ(backup.exit_code, 0) << backup.err;
    // The restoring account may create the database but not routines: the load fails half-way.
    m_db->sql("CREATE USER 'loader'@'127.0.0.1' IDENTIFIED BY 'loader-pw'; GRANT CREATE, DROP, SELECT, INSERT, "
              "ALTER, INDEX, REFERENCES, LOCK TABLES, CREATE VIEW, SHOW VIEW, TRIGGER ON *.* TO "
              "'loader'@'127.0.0.1';");
    RunOptions o;
    o.env["DBKEEP_RESTORE_PASSWORD"] = "loader-pw";
    auto r = dbkeep({"restore", "shop", "--to", m_db->url("half", "loader")}, o);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("were dropped"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ERROR"), std::string::npos) << "the client's own error is kept: " << r.err;
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'half'"), "0");

    auto kept = dbkeep({"restore", "shop", "--to", m_db->url("half", "loader"), "--keep-failed"}, o);
    EXPECT_NE(kept.exit_code, 0);
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'half'"), "1");
}

TEST_F(MysqlBackup, WrongPasswordLeavesNoManifest)
{
    write_config();
    RunOptions o;
    o.env["SHOP_DB_PASSWORD"] = "not-the-password";
    auto r = dbkeep({"backup", "shop"}, o);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("Access denied"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("not-the-password"), std::string::npos);
    EXPECT_TRUE(m_work->manifests().empty());
    EXPECT_TRUE(m_work->stored_files().empty());
}

TEST_F(MysqlBackup, KilledDumpLeavesNoManifest)
{
    // A dump tool that writes the start of a real dump and then hangs, like one stuck on a slow network.
    auto slow = m_work->write_script("slow-dump", "case \"$1\" in --version) exec mariadb-dump --version;; esac\n"
                                                  "mariadb-dump \"$@\" | { head -c 3000; sleep 60; }\n");
    write_config("    dump_path: " + slow + "\n");
    auto bg = m_work->start_dbkeep({"backup", "shop"}, "backup.log");
    ASSERT_TRUE(wait_until([&] { return m_work->log("backup.log").find("backup started") != std::string::npos; },
                           std::chrono::seconds(20)));
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    const auto t0 = std::chrono::steady_clock::now();
    bg->signal(SIGTERM);
    const int code = bg->wait(std::chrono::seconds(15));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
    EXPECT_NE(code, 0) << m_work->log("backup.log");
    EXPECT_TRUE(m_work->manifests().empty());
    EXPECT_TRUE(m_work->stored_files().empty()) << "the object was aborted";
}

TEST_F(MysqlBackup, ADumpWaitingForALockIsStoppedAfterLockWaitTimeout)
{
    write_config("    lock_wait_timeout: 2\n");
    // A session holds a table with LOCK TABLES: the dump's read of it waits.
    RunOptions o;
    o.env["MYSQL_PWD"] = MariadbServer::app_password();
    Background holder({"mariadb", "--no-defaults", "-h127.0.0.1", "-P" + std::to_string(m_db->port()), "-uapp", "-e",
                       "LOCK TABLES shop.orders WRITE; SELECT SLEEP(30);"},
                      o);
    ASSERT_TRUE(wait_until(
        [&] {
            return scalar("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(30)'") == "1";
        },
        std::chrono::seconds(10)));
    const auto t0 = std::chrono::steady_clock::now();
    auto r = dbkeep({"backup", "shop"});
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("wrote nothing for lock_wait_timeout (2s)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("SELECT SLEEP(30)"), std::string::npos) << "the holding session is named: " << r.err;
    EXPECT_NE(r.err.find("find the session holding the lock in SHOW PROCESSLIST and end it (KILL id)"),
              std::string::npos)
        << r.err;
    EXPECT_TRUE(m_work->manifests().empty());
    // The dump's waiting read was cancelled on the server too.
    EXPECT_TRUE(wait_until(
        [&] {
            return scalar("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT /*!40001%'") ==
                   "0";
        },
        std::chrono::seconds(5)));
}

TEST_F(MysqlBackup, PasswordNeverReachesAnArgvNorTheLog)
{
    // Wrappers record the argv each tool gets and whether MYSQL_PWD is in its environment.
    auto record = m_work->dir() / "argv.log";
    auto wrap = [&](const std::string& name, const std::string& tool) {
        return m_work->write_script(name, "printf '%s\\n' \"$*\" >> " + record.string() +
                                              "\n[ -n \"$MYSQL_PWD\" ] && echo has-MYSQL_PWD >> " + record.string() +
                                              "\nexec " + tool + " \"$@\"\n");
    };
    write_config("    dump_path: " + wrap("dump", "mariadb-dump") + "\n    client_path: " + wrap("client", "mariadb") +
                 "\n");
    auto r = dbkeep({"--log-level", "debug", "backup", "shop"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto v = dbkeep({"--log-level", "debug", "verify", "shop", "--restore", "--to", m_db->url("scratch")});
    ASSERT_EQ(v.exit_code, 0) << v.err;
    const std::string log = read_file(record);
    EXPECT_NE(log.find("--single-transaction"), std::string::npos) << log;
    EXPECT_NE(log.find("has-MYSQL_PWD"), std::string::npos) << log;
    const std::string pw = MariadbServer::app_password();
    EXPECT_EQ(log.find(pw), std::string::npos) << log;
    EXPECT_EQ((r.out + r.err + v.out + v.err).find(pw), std::string::npos);
    for (const auto& f : m_work->manifests()) {
        EXPECT_EQ(read_file(m_work->backups() / f).find(pw), std::string::npos);
    }
}

TEST_F(MysqlBackup, BackupAndRestoreThroughACommandRunner)
{
    // Any argv prefix (here setsid, standing in for `docker exec -i NAME`): the password travels on stdin.
    write_config("    runner: { type: command, argv: [setsid] }\n");
    auto r = dbkeep({"backup", "shop"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto m = only_manifest();
    EXPECT_EQ(m["runner"], "command setsid");
    EXPECT_EQ(m["stats"]["shop.filler"], 200000);
    auto restored = dbkeep({"restore", "shop", "--to", m_db->url("via_runner")});
    ASSERT_EQ(restored.exit_code, 0) << restored.err;
    for (const auto& t : k_static_tables) {
        EXPECT_EQ(checksum("shop", t), checksum("via_runner", t)) << t;
    }
}

TEST_F(MysqlBackup, SeveralDatabasesRestoreUnderTheirOwnNames)
{
    m_db->sql("CREATE DATABASE other CHARACTER SET latin1; CREATE TABLE other.t (id INT PRIMARY KEY, s "
              "VARCHAR(10)); INSERT INTO other.t VALUES (1, 'é'), (2, 'x');");
    write_config("    databases: [shop, other]\n", m_db->url(""));
    ASSERT_EQ(dbkeep({"backup", "shop"}).exit_code, 0);
    auto m = only_manifest();
    EXPECT_EQ(m["details"]["layout"], "databases");
    EXPECT_EQ(m["details"]["charset.other"], "latin1");
    EXPECT_EQ(m["stats"]["other.t"], 2);
    EXPECT_EQ(m["stats"]["shop.filler"], 200000);
    const std::string before = checksum("other", "t");

    auto refused = dbkeep({"restore", "shop", "--to", m_db->url("")});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("already holds"), std::string::npos) << refused.err;
    auto named = dbkeep({"restore", "shop", "--to", m_db->url("elsewhere")});
    EXPECT_NE(named.exit_code, 0);
    EXPECT_NE(named.err.find("without a database"), std::string::npos) << named.err;

    m_db->sql("DROP DATABASE other;");
    auto r = dbkeep({"restore", "shop", "--to", m_db->url(""), "--clean"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(checksum("other", "t"), before);
    EXPECT_EQ(scalar("SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'other'"),
              "latin1");
}

TEST_F(MysqlBackup, CheckNamesMissingPrivilegesWithTheGrantToRun)
{
    m_db->sql("CREATE USER 'reader'@'127.0.0.1' IDENTIFIED BY 'reader-pw'; GRANT SELECT ON shop.* TO "
              "'reader'@'127.0.0.1';");
    write_config("", m_db->url("shop", "reader"));
    RunOptions o;
    o.env["SHOP_DB_PASSWORD"] = "reader-pw";
    auto r = dbkeep({"check", "shop"}, o);
    EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
    EXPECT_NE(r.out.find("mysql.connect"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("GRANT SHOW VIEW, TRIGGER, EVENT ON `shop`.* TO 'reader'@'127.0.0.1'"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("GRANT RELOAD, BINLOG MONITOR ON *.* TO 'reader'@'127.0.0.1'"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("shop.legacy (MyISAM)"), std::string::npos) << r.out;

    m_db->sql("GRANT SHOW VIEW, TRIGGER, EVENT ON shop.* TO 'reader'@'127.0.0.1'; GRANT RELOAD, BINLOG MONITOR ON "
              "*.* TO 'reader'@'127.0.0.1';");
    auto ok = dbkeep({"check", "shop"}, o);
    EXPECT_NE(ok.out.find("has the privileges a consistent dump needs"), std::string::npos) << ok.out;
    // And that least-privilege account can back up.
    auto b = dbkeep({"backup", "shop"}, o);
    EXPECT_EQ(b.exit_code, 0) << b.err;
}

} // namespace

namespace {

TEST_F(MysqlBackup, AllDatabasesLeavesTheSystemSchemasOut)
{
    m_db->sql("CREATE DATABASE second; CREATE TABLE second.t (id INT PRIMARY KEY); INSERT INTO second.t VALUES (1);");
    write_config("    databases: all\n", m_db->url(""));
    auto r = dbkeep({"backup", "shop"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto m = only_manifest();
    EXPECT_EQ(m["details"]["databases"], "second,shop");
    EXPECT_EQ(m["stats"]["second.t"], 1);
    EXPECT_EQ(m["stats"]["shop.customers"], 2);
    for (const auto& [key, rows] : m["stats"].items()) {
        EXPECT_FALSE(key.starts_with("mysql.") || key.starts_with("sys.")) << key;
    }
}

} // namespace

namespace {

TEST_F(MysqlBackup, ADumpEndingBeforeItsTrailerLeavesNoManifest)
{
    // A dump tool that exits 0 after part of its output, as a wrapper that swallows an error would.
    auto cut = m_work->write_script("cut-dump", "case \"$1\" in --version) exec mariadb-dump --version;; esac\n"
                                                "mariadb-dump \"$@\" | head -c 20000\nexit 0\n");
    write_config("    dump_path: " + cut + "\n");
    auto r = dbkeep({"backup", "shop"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
    EXPECT_TRUE(m_work->manifests().empty());
    EXPECT_TRUE(m_work->stored_files().empty());
}

} // namespace

// dbkeep repair gives a MySQL backup whose manifest was lost its manifest back: the row counts, versions and
// binary-log coordinates read from the stored dump with the backup's own stream reader; it then restores.
TEST_F(MysqlBackup, RepairRebuildsALostManifestFromTheDumpItself)
{
    write_config();
    ASSERT_EQ(dbkeep({"backup", "shop"}).exit_code, 0);
    auto path = m_work->backups() / m_work->manifests().front();
    const auto original = nlohmann::json::parse(read_file(path));
    std::filesystem::remove(path);
    auto r = dbkeep({"repair", "shop"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    ASSERT_TRUE(std::filesystem::exists(path)) << r.out;
    const auto rebuilt = nlohmann::json::parse(read_file(path));
    EXPECT_EQ(rebuilt["stats"], original["stats"]) << rebuilt.dump(2);
    EXPECT_EQ(rebuilt["object"]["sha256"], original["object"]["sha256"]);
    EXPECT_EQ(rebuilt["details"].value("binlog_position", ""), original["details"].value("binlog_position", ""));
    auto v = dbkeep({"verify", "shop", "--restore", "--to", m_db->url("scratch")});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

namespace {

// A small database `shop` (and `other`) for the failures that need no large schema.
class MysqlHints : public MariadbTest {
protected:
    void SetUp() override
    {
        MariadbTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        m_db->sql("CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (1), "
                  "(2); CREATE DATABASE other; CREATE TABLE other.u (id INT PRIMARY KEY); INSERT INTO other.u "
                  "VALUES (3);");
    }
};

} // namespace

// The dump tool is found where the runner runs: a wrong dump_path is the configuration's to fix; no tool at all
// is installed (or dump_path set).
TEST_F(MysqlHints, ADumpToolThatDoesNotRunNamesWhatToFix)
{
    write_config("    dump_path: /nonexistent/mariadb-dump\n");
    auto wrong = dbkeep({"backup", "shop"});
    EXPECT_NE(wrong.exit_code, 0);
    EXPECT_NE(wrong.err.find("fix dump_path in the configuration"), std::string::npos) << wrong.err;

    write_config();
    RunOptions o;
    o.env["PATH"] = (m_work->dir() / "no-tools-here").string();
    auto missing = dbkeep({"backup", "shop"}, o);
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.err.find("install mariadb-client (or mysql-client) where the runner runs, or set dump_path"),
              std::string::npos)
        << missing.err;
    EXPECT_TRUE(m_work->manifests().empty());
}

TEST_F(MysqlHints, ADatabaseTheServerDoesNotShowNamesTheNameAndTheGrant)
{
    write_config("", m_db->url("nosuch"));
    auto r = dbkeep({"backup", "shop"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("no database nosuch"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("check the database name, or GRANT SELECT ON db.* to the backup user"), std::string::npos)
        << r.err;
}

// verify --restore needs a scratch database: a backup of several databases has none, and a database dbkeep did
// not make is never taken for one.
TEST_F(MysqlHints, VerifyRestoreRefusalsNameTheWayOut)
{
    write_config("    databases: [shop, other]\n", m_db->url(""));
    ASSERT_EQ(dbkeep({"backup", "shop"}).exit_code, 0);
    auto several = dbkeep({"verify", "shop", "--restore", "--to", m_db->url("")});
    EXPECT_NE(several.exit_code, 0);
    EXPECT_NE((several.out + several.err).find("back up each database as its own target"), std::string::npos)
        << several.out << several.err;

    write_config();
    ASSERT_TRUE(m_work->wait_for_a_newer_backup_id()); // so that the one-database backup is the latest
    ASSERT_EQ(dbkeep({"backup", "shop"}).exit_code, 0);
    auto busy = dbkeep({"verify", "shop", "--restore", "--to", m_db->url("other")});
    EXPECT_NE(busy.exit_code, 0);
    EXPECT_NE((busy.out + busy.err).find("drop it or name another --to"), std::string::npos) << busy.out << busy.err;
    EXPECT_EQ(m_db->sql("SELECT COUNT(*) FROM other.u"), "1");
}

// A restore account that may not CREATE DATABASE is told to create it; doing so (and granting the account that
// database) lets the same restore pass.
TEST_F(MysqlHints, ARefusedCreateDatabaseIsLeftToTheUser)
{
    write_config();
    ASSERT_EQ(dbkeep({"backup", "shop"}).exit_code, 0);
    m_db->sql("CREATE USER 'loader'@'127.0.0.1' IDENTIFIED BY 'loader-pw'; GRANT SELECT, INSERT ON *.* TO "
              "'loader'@'127.0.0.1';");
    RunOptions o;
    o.env["DBKEEP_RESTORE_PASSWORD"] = "loader-pw";
    auto r = dbkeep({"restore", "shop", "--to", m_db->url("fresh", "loader")}, o);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("CREATE DATABASE"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("create the database yourself (empty) and restore into it"), std::string::npos) << r.err;

    m_db->sql("CREATE DATABASE fresh; GRANT ALL ON fresh.* TO 'loader'@'127.0.0.1';");
    auto again = dbkeep({"restore", "shop", "--to", m_db->url("fresh", "loader")}, o);
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(m_db->sql("SELECT COUNT(*) FROM fresh.t"), "2");
}
