// The stream row counter of the MySQL engine: rows are counted from INSERT statements with every quoting trick
// a dump can hold, split at any byte; comments, routines and triggers never count.
#include "config/config.hpp"
#include "engine/mysql/client.hpp"
#include "engine/mysql/dump_reader.hpp"

#include <gtest/gtest.h>
#include <random>
#include <string>

using namespace dbkeep;
using namespace dbkeep::engine::mysql;

namespace {

DumpSummary read_whole(const std::string& sql, const std::string& db = "shop")
{
    DumpReader r(db);
    r.feed(as_bytes(sql));
    return r.summary();
}

// The same text fed in pieces cut at every position (and in single bytes) gives the same summary.
void expect_split_invariant(const std::string& sql)
{
    const auto whole = read_whole(sql);
    for (std::size_t cut = 0; cut <= sql.size(); ++cut) {
        DumpReader r("shop");
        r.feed(as_bytes(std::string_view(sql).substr(0, cut)));
        r.feed(as_bytes(std::string_view(sql).substr(cut)));
        ASSERT_EQ(r.summary().rows, whole.rows) << "cut at " << cut;
    }
    DumpReader bytes("shop");
    for (char c : sql) {
        bytes.feed(as_bytes(std::string_view(&c, 1)));
    }
    EXPECT_EQ(bytes.summary().rows, whole.rows);
    EXPECT_EQ(bytes.summary().binlog_file, whole.binlog_file);
}

constexpr const char* k_dump = R"SQL(/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: shop
-- ------------------------------------------------------
-- Server version	10.11.19-MariaDB-0+deb12u1-log

/*!40101 SET NAMES utf8mb4 */;
-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000007', MASTER_LOG_POS=1711;

DROP TABLE IF EXISTS `t`;
CREATE TABLE `t` (
  `id` int(11) NOT NULL,
  `s` varchar(20) DEFAULT 'a),(b' COMMENT 'x;y',
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='ENGINE=MyISAM is only a comment here';
LOCK TABLES `t` WRITE;
INSERT INTO `t` VALUES
(1,'a\'b\\'),(2,'),(\'),('),(3,0x00FF28292C),(4,NULL),
(5,'--not a comment'),(6,'/* nor */'),(7,'# nor'),(8,"dq'),(");
INSERT INTO `t` VALUES (9,_binary 'x\0\'y'),(10,'😀🐬');
UNLOCK TABLES;
CREATE TABLE `m` (`x` int(11)) ENGINE=MyISAM;
CREATE TABLE `empty` (`x` int(11)) ENGINE=Aria;
CREATE TABLE `odd ``name`` (é)` (`c` int(11)) ENGINE=InnoDB;
INSERT INTO `odd ``name`` (é)` VALUES (1),(2),(3);
INSERT INTO `m` (`x`) VALUES (1),(2);
DELIMITER ;;
CREATE DEFINER=`root`@`localhost` PROCEDURE `p`()
BEGIN INSERT INTO t VALUES (100),(101); END ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr AFTER INSERT ON t FOR EACH ROW INSERT INTO m VALUES (1) */;;
DELIMITER ;
# a hash comment with INSERT INTO `t` VALUES (1);
-- SET GLOBAL gtid_slave_pos='0-1-42';
-- Dump completed on 2026-12-01  3:41:45
)SQL";

} // namespace

TEST(MysqlDumpReader, CountsTopLevelTuplesWhateverTheStringsHold)
{
    auto s = read_whole(k_dump);
    EXPECT_EQ(s.rows.at("shop.t"), 10);
    EXPECT_EQ(s.rows.at("shop.m"), 2) << "a column list before VALUES is not a row";
    EXPECT_EQ(s.rows.at("shop.empty"), 0) << "a table without rows is still listed";
    EXPECT_EQ(s.rows.at("shop.odd `name` (é)"), 3);
    EXPECT_EQ(s.rows.size(), 4U) << "routine and trigger bodies hold no rows of the dump";
}

TEST(MysqlDumpReader, ReadsEnginesVersionsBinlogPositionAndTheTrailer)
{
    auto s = read_whole(k_dump);
    EXPECT_EQ(s.engines.at("shop.t"), "InnoDB") << "ENGINE= inside a COMMENT string is not the engine";
    EXPECT_EQ(s.engines.at("shop.m"), "MyISAM");
    EXPECT_EQ(s.engines.at("shop.empty"), "Aria");
    EXPECT_EQ(s.server_version, "10.11.19-MariaDB-0+deb12u1-log");
    EXPECT_EQ(s.tool_line.rfind("MariaDB dump 10.19", 0), 0U);
    EXPECT_EQ(s.binlog_file, "binlog.000007");
    EXPECT_EQ(s.binlog_position, "1711");
    EXPECT_EQ(s.gtid_position, "0-1-42");
    EXPECT_TRUE(s.completed);
}

TEST(MysqlDumpReader, ATruncatedDumpHasNoTrailer)
{
    std::string sql = k_dump;
    EXPECT_FALSE(read_whole(sql.substr(0, sql.find("-- Dump completed"))).completed);
}

TEST(MysqlDumpReader, GivesTheSameCountsWhereverTheStreamIsCut)
{
    expect_split_invariant(k_dump);
}

TEST(MysqlDumpReader, SeveralDatabasesCountUnderTheirUseStatements)
{
    auto s = read_whole("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `a` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\n"
                        "USE `a`;\nCREATE TABLE `t` (`x` int) ENGINE=InnoDB;\nINSERT INTO `t` VALUES (1),(2);\n"
                        "USE `b``c`;\nCREATE TABLE `t` (`x` int) ENGINE=InnoDB;\nINSERT INTO `t` VALUES (1);\n"
                        "INSERT INTO `a`.`t` VALUES (3);\n",
                        "");
    EXPECT_EQ(s.rows.at("a.t"), 3);
    EXPECT_EQ(s.rows.at("b`c.t"), 1);
    EXPECT_EQ(s.databases, (std::vector<std::string>{"a", "b`c"}));
}

TEST(MysqlDumpReader, RandomRowsOfHostileStringsAreCountedExactly)
{
    // Fuzz-ish: rows of random strings built from the characters that matter to the lexer, escaped the way
    // mariadb-dump escapes them, counted after being fed in random pieces.
    std::mt19937 rng(20261201);
    const std::string alphabet = "'\"\\`(),;-/*#\n\t x0";
    for (int round = 0; round < 200; ++round) {
        int rows = 1 + static_cast<int>(rng() % 20);
        std::string sql = "INSERT INTO `t` VALUES ";
        for (int i = 0; i < rows; ++i) {
            std::string raw;
            for (int k = static_cast<int>(rng() % 12); k > 0; --k) {
                raw += alphabet[rng() % alphabet.size()];
            }
            sql += std::string(i ? "," : "") + "(" + std::to_string(i) + "," + quote_string(raw) + ",0x" +
                   (rng() % 2 ? "2829" : "") + "00)";
        }
        sql += ";\nINSERT INTO `u` VALUES (1);\n";
        DumpReader r("d");
        std::size_t pos = 0;
        while (pos < sql.size()) {
            std::size_t n = 1 + rng() % 7;
            r.feed(as_bytes(std::string_view(sql).substr(pos, n)));
            pos += n;
        }
        ASSERT_EQ(r.summary().rows.at("d.t"), rows) << sql;
        ASSERT_EQ(r.summary().rows.at("d.u"), 1) << sql;
    }
}

TEST(MysqlClient, ReadsTheToolVersionOfEachFamily)
{
    EXPECT_EQ(parse_tool_version("mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)"),
              "10.11.19-MariaDB");
    EXPECT_EQ(parse_tool_version("mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"), "8.0.36");
    EXPECT_EQ(parse_tool_version("mariadb from 11.4.2-MariaDB, client 15.2 for debian-linux-gnu (x86_64)"),
              "11.4.2-MariaDB");
    EXPECT_EQ(parse_tool_version("something else"), "");
}

TEST(MysqlClient, ToolErrorsAreClassifiedWithTheirRemedy)
{
    runner::ExitStatus st{2, 0};
    auto auth = tool_error("run", "shop", "mariadb-dump", st,
                           "mariadb-dump: Got error: 1045: \"Access denied for user 'app'@'localhost' (using "
                           "password: YES)\" when trying to connect\n");
    EXPECT_EQ(auth.kind, ErrorKind::auth);
    EXPECT_NE(auth.message.find("Access denied"), std::string::npos);
    auto unknown =
        tool_error("run", "shop", "mariadb-dump", st, "mariadb-dump: Got error: 1049: \"Unknown database 'x'\"\n");
    EXPECT_EQ(unknown.kind, ErrorKind::not_found);
    auto both = tool_error("run", "shop", "mariadb", st, "ERROR 1064 (42000) at line 5: syntax\nsecond line\n");
    EXPECT_NE(both.message.find("second line"), std::string::npos) << "every line of stderr is kept";
}

TEST(MysqlConfig, ReadsTheUrlAndTheDatabasesAndRefusesNone)
{
    auto c = config::load_from_string(
        "targets:\n  a:\n    engine: mysql\n    url: mysql://backup:s3cret@db.internal:3307/shop\n"
        "  b:\n    engine: mysql\n    url: mysql://backup@db.internal\n    databases: all\n"
        "  c:\n    engine: mysql\n    url: mysql://backup@db.internal\n    databases: [x, y]\n",
        "t.yaml", "/etc/dbkeep");
    ASSERT_TRUE(c) << c.error().message;
    const auto& a = std::get<engine::MysqlOptions>(c->targets.at("a").engine);
    EXPECT_EQ(a.host, "db.internal");
    EXPECT_EQ(a.port, 3307);
    EXPECT_EQ(a.user, "backup");
    EXPECT_EQ(a.database, "shop");
    EXPECT_EQ(a.password.reveal(), "s3cret");
    EXPECT_EQ(c->targets.at("a").url.find("s3cret"), std::string::npos);
    EXPECT_TRUE(std::get<engine::MysqlOptions>(c->targets.at("b").engine).all_databases);
    EXPECT_EQ(std::get<engine::MysqlOptions>(c->targets.at("c").engine).databases,
              (std::vector<std::string>{"x", "y"}));

    auto none = config::load_from_string("targets:\n  a:\n    engine: mysql\n    url: mysql://backup@db\n", "t.yaml",
                                         "/etc/dbkeep");
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().message.find("needs a database"), std::string::npos) << none.error().message;
    auto both = config::load_from_string(
        "targets:\n  a:\n    engine: mysql\n    url: mysql://backup@db/x\n    databases: all\n", "t.yaml",
        "/etc/dbkeep");
    ASSERT_FALSE(both);
}

TEST(MysqlDumpReader, AnyDelimiterEndsStatements)
{
    auto s = read_whole("DELIMITER $$\nINSERT INTO `t` VALUES (1),(2)$$\nCREATE PROCEDURE p() BEGIN INSERT INTO t "
                        "VALUES (9); END$$\nDELIMITER ;\nINSERT INTO `t` VALUES (3);\n");
    EXPECT_EQ(s.rows.at("shop.t"), 3);
}
