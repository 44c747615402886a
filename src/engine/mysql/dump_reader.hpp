// Reading a mariadb-dump / mysqldump SQL stream as it passes: row counts per table counted from the INSERT
// statements themselves (what was dumped, not a second query), the tables' storage engines, and the facts the
// dump's comments carry (server and tool version, binary-log coordinates). Pure: fed bytes, never blocks.
#pragma once

#include "core/bytes.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dbkeep::engine::mysql {

struct DumpSummary {
    // "db.table" -> rows in the dump's INSERT statements; every CREATE TABLE registers its table (0 rows).
    std::map<std::string, std::int64_t> rows;
    // "db.table" -> the ENGINE= of its CREATE TABLE ("InnoDB", "MyISAM").
    std::map<std::string, std::string> engines;
    std::vector<std::string> databases; // in the order of their USE statements
    std::string server_version;         // "-- Server version\t10.11.19-MariaDB-0+deb12u1-log"
    std::string tool_line;              // "MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for ..."
    std::string binlog_file;            // from "-- CHANGE MASTER TO MASTER_LOG_FILE='..', MASTER_LOG_POS=..;"
    std::string binlog_position;
    std::string gtid_position; // from "-- SET GLOBAL gtid_slave_pos='..';"
    bool completed = false;    // the "-- Dump completed" trailer was seen
};

// A byte-at-a-time lexer over the SQL text aware of '...' and "..." strings with backslash escapes, `names`
// with doubled backticks, -- and # line comments, /* */ and /*! */ comments, and DELIMITER changes (routines
// and triggers); a row is a top-level parenthesised tuple after VALUES of an INSERT or REPLACE statement.
// Tables of a dump made without --databases belong to `default_database` until a USE names another.
class DumpReader {
public:
    explicit DumpReader(std::string default_database = {});

    void feed(Bytes data);
    const DumpSummary& summary() const noexcept { return m_summary; }

private:
    enum class Mode { normal, single_quote, double_quote, backtick, line_comment, block_comment };
    enum class Kind { unknown, insert, create_table, other };

    void on_char(char c);
    void text(char c); // a char of normal text, comments settled
    void end_statement();
    void classify();
    void on_line_comment(const std::string& line);
    std::string qualified(const std::string& table) const;

    DumpSummary m_summary;
    std::string m_database;
    Mode m_mode = Mode::normal;
    bool m_escape = false;     // the last char in a quoted string was a backslash
    bool m_block_star = false; // a '*' just seen inside a block comment
    int m_pending = 0;         // '-' or '/' or second '-' waiting for its next char
    std::string m_comment;     // the current line comment's text (bounded)
    std::string m_head;        // the statement's text outside comments (bounded)
    std::string m_tail;        // a CREATE TABLE's text after its closing parenthesis (bounded)
    std::string m_delimiter = ";";
    std::size_t m_delim_match = 0;
    int m_depth = 0;
    Kind m_kind = Kind::unknown;
    bool m_after_values = false;
    std::string m_table; // "db.table" of the current INSERT / CREATE TABLE
    std::string m_word;  // the last identifier-like word in normal mode at depth 0
};

} // namespace dbkeep::engine::mysql
