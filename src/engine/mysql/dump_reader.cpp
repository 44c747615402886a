#include "engine/mysql/dump_reader.hpp"

#include <array>
#include <cctype>
#include <cstring>
#include <regex>
#include <string_view>

namespace dbkeep::engine::mysql {
namespace {

constexpr std::size_t k_max_head = 4096;

bool is_word_char(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$';
}

std::string upper(std::string s)
{
    for (auto& c : s) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return s;
}

// Reads statement text token by token: words (upper-cased), `quoted names` (unquoted) and punctuation.
class Tokens {
public:
    explicit Tokens(const std::string& text) : m_text(text) {}

    void skip_blanks()
    {
        while (m_pos < m_text.size() && std::isspace(static_cast<unsigned char>(m_text[m_pos])) != 0) {
            ++m_pos;
        }
    }
    // The next word, upper-cased; empty when the next token is not a word.
    std::string word()
    {
        skip_blanks();
        std::size_t start = m_pos;
        while (m_pos < m_text.size() && is_word_char(m_text[m_pos])) {
            ++m_pos;
        }
        return upper(m_text.substr(start, m_pos - start));
    }
    std::string peek_word()
    {
        auto saved = m_pos;
        auto w = word();
        m_pos = saved;
        return w;
    }
    // An identifier: `quoted` (doubled backticks unescaped) or a bare word as written.
    std::string name()
    {
        skip_blanks();
        std::string out;
        if (m_pos < m_text.size() && m_text[m_pos] == '`') {
            ++m_pos;
            while (m_pos < m_text.size()) {
                char c = m_text[m_pos++];
                if (c == '`') {
                    if (m_pos < m_text.size() && m_text[m_pos] == '`') {
                        out += '`';
                        ++m_pos;
                        continue;
                    }
                    break;
                }
                out += c;
            }
            return out;
        }
        while (m_pos < m_text.size() && is_word_char(m_text[m_pos])) {
            out += m_text[m_pos++];
        }
        return out;
    }
    bool punct(char c)
    {
        skip_blanks();
        if (m_pos < m_text.size() && m_text[m_pos] == c) {
            ++m_pos;
            return true;
        }
        return false;
    }

private:
    const std::string& m_text;
    std::size_t m_pos = 0;
};

// The characters that can change the lexer's state in normal text (besides the delimiter's first one).
bool is_special(unsigned char c)
{
    static const auto k_table = [] {
        std::array<bool, 256> t{};
        for (unsigned char x : std::string_view("'\"`()-/#\n;")) {
            t[x] = true;
        }
        return t;
    }();
    return k_table[c];
}

} // namespace

DumpReader::DumpReader(std::string default_database) : m_database(std::move(default_database)) {}

void DumpReader::feed(Bytes data)
{
    const char* p = reinterpret_cast<const char*>(data.data());
    const char* end = p + data.size();
    while (p < end) {
        // Fast path: the body of a string, where only the closing quote and a backslash matter.
        if ((m_mode == Mode::single_quote || m_mode == Mode::double_quote) && !m_escape) {
            const char quote = m_mode == Mode::single_quote ? '\'' : '"';
            const char* q = p;
            while (q < end && *q != quote && *q != '\\') {
                ++q;
            }
            if (m_head.size() < k_max_head) {
                m_head.append(p, std::min<std::size_t>(static_cast<std::size_t>(q - p), k_max_head - m_head.size()));
            }
            p = q;
            if (p == end) {
                break;
            }
        } else if (m_mode == Mode::normal && m_pending == 0 && m_kind == Kind::insert && m_after_values) {
            // Fast path: the rows of an INSERT, where numbers and hex literals change nothing the reader keeps
            // (the head was classified, VALUES seen); only quotes, parentheses, comments, newlines and the
            // delimiter matter.
            const char* q = p;
            const char first = m_delimiter.front();
            while (q < end && !is_special(static_cast<unsigned char>(*q)) && *q != first) {
                ++q;
            }
            if (q != p) {
                m_word.clear();
                m_delim_match = 0;
                p = q;
                if (p == end) {
                    break;
                }
            }
        }
        on_char(*p++);
    }
}

std::string DumpReader::qualified(const std::string& table) const
{
    return m_database + "." + table;
}

void DumpReader::on_char(char c)
{
    switch (m_mode) {
    case Mode::single_quote:
    case Mode::double_quote: {
        if (m_head.size() < k_max_head) {
            m_head += c;
        }
        if (m_escape) {
            m_escape = false;
        } else if (c == '\\') {
            m_escape = true;
        } else if (c == (m_mode == Mode::single_quote ? '\'' : '"')) {
            m_mode = Mode::normal;
        }
        return;
    }
    case Mode::backtick:
        if (m_head.size() < k_max_head) {
            m_head += c;
        }
        if (c == '`') {
            m_mode = Mode::normal;
        }
        return;
    case Mode::line_comment:
        if (c == '\n') {
            on_line_comment(m_comment);
            m_comment.clear();
            m_mode = Mode::normal;
        } else if (m_comment.size() < k_max_head) {
            m_comment += c;
        }
        return;
    case Mode::block_comment:
        if (m_block_star && c == '/') {
            m_mode = Mode::normal;
            m_block_star = false;
            return;
        }
        m_block_star = c == '*';
        return;
    case Mode::normal: break;
    }

    // Normal text: first settle a '-', '--' or '/' that waited for this char.
    if (m_pending == '/') {
        m_pending = 0;
        if (c == '*') {
            m_mode = Mode::block_comment;
            m_block_star = false;
            return;
        }
        text('/');
    } else if (m_pending == '-') {
        m_pending = 0;
        if (c == '-') {
            m_pending = 2;
            return;
        }
        text('-');
    } else if (m_pending == 2) {
        m_pending = 0;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            m_comment.clear();
            if (c == '\n') {
                on_line_comment(m_comment);
            } else {
                m_mode = Mode::line_comment;
            }
            return;
        }
        text('-');
        text('-');
    }
    if (c == '-' || c == '/') {
        m_pending = static_cast<unsigned char>(c);
        return;
    }
    text(c);
}

void DumpReader::text(char c)
{
    if (c == '#') {
        m_mode = Mode::line_comment;
        m_comment.clear();
        return;
    }

    // A word ends: VALUES marks the start of an INSERT's rows.
    if (m_depth == 0) {
        if (is_word_char(c)) {
            if (m_word.size() < 16) {
                m_word += c;
            }
        } else {
            if (!m_word.empty() && (upper(m_word) == "VALUES" || upper(m_word) == "VALUE")) {
                m_after_values = true;
            }
            m_word.clear();
        }
    }

    if (m_head.size() < k_max_head) {
        m_head += c;
    }
    if (m_kind == Kind::create_table && m_depth == 0 && !m_tail.empty() && m_tail.size() < k_max_head) {
        m_tail += c;
    }

    // The statement's delimiter (";" or what DELIMITER set).
    if (c == m_delimiter[m_delim_match]) {
        if (++m_delim_match == m_delimiter.size()) {
            m_delim_match = 0;
            end_statement();
            return;
        }
    } else {
        m_delim_match = c == m_delimiter[0] ? 1 : 0;
    }

    switch (c) {
    case '\'': m_mode = Mode::single_quote; break;
    case '"': m_mode = Mode::double_quote; break;
    case '`': m_mode = Mode::backtick; break;
    case '(':
        if (m_kind == Kind::unknown) {
            classify();
        }
        ++m_depth;
        if (m_depth == 1 && m_kind == Kind::insert && m_after_values) {
            ++m_summary.rows[m_table];
        }
        break;
    case ')':
        if (m_depth > 0) {
            --m_depth;
        }
        if (m_depth == 0 && m_kind == Kind::create_table) {
            m_tail = ")";
        }
        break;
    case '\n': {
        // DELIMITER is a client command ended by the line, not by a delimiter.
        std::size_t b = m_head.find_first_not_of(" \t\r\n");
        if (b != std::string::npos && m_head.size() - b > 10 && upper(m_head.substr(b, 10)) == "DELIMITER ") {
            std::string d = m_head.substr(b + 10);
            while (!d.empty() && std::isspace(static_cast<unsigned char>(d.back())) != 0) {
                d.pop_back();
            }
            while (!d.empty() && std::isspace(static_cast<unsigned char>(d.front())) != 0) {
                d.erase(0, 1);
            }
            if (!d.empty()) {
                m_delimiter = d;
            }
            m_head.clear();
            m_delim_match = 0;
        }
        break;
    }
    default: break;
    }
}

void DumpReader::classify()
{
    Tokens t(m_head);
    std::string first = t.word();
    m_kind = Kind::other;
    if (first == "INSERT" || first == "REPLACE") {
        for (int i = 0; i < 4; ++i) {
            std::string w = t.word();
            if (w == "INTO") {
                std::string a = t.name();
                std::string table = a;
                std::string db = m_database;
                if (t.punct('.')) {
                    db = a;
                    table = t.name();
                }
                m_table = db + "." + table;
                m_kind = Kind::insert;
                return;
            }
            if (w.empty()) {
                return;
            }
        }
        return;
    }
    if (first == "CREATE") {
        std::string w = t.word();
        if (w == "OR") {
            t.word(); // REPLACE
            w = t.word();
        }
        if (w == "TEMPORARY") {
            return; // not part of the data
        }
        if (w != "TABLE") {
            return;
        }
        if (t.peek_word() == "IF") {
            t.word();
            t.word();
            t.word();
        }
        std::string a = t.name();
        std::string table = a;
        std::string db = m_database;
        if (t.punct('.')) {
            db = a;
            table = t.name();
        }
        m_table = db + "." + table;
        m_summary.rows.emplace(m_table, 0);
        m_kind = Kind::create_table;
    }
}

void DumpReader::end_statement()
{
    if (m_kind == Kind::unknown) {
        Tokens t(m_head);
        if (t.word() == "USE") {
            m_database = t.name();
            m_summary.databases.push_back(m_database);
        }
    } else if (m_kind == Kind::create_table) {
        static const std::regex k_engine(R"(ENGINE\s*=\s*([A-Za-z0-9_]+))", std::regex::icase);
        std::smatch m;
        if (std::regex_search(m_tail, m, k_engine)) {
            m_summary.engines[m_table] = m[1].str();
        }
    }
    m_head.clear();
    m_tail.clear();
    m_word.clear();
    m_kind = Kind::unknown;
    m_depth = 0;
    m_after_values = false;
    m_table.clear();
}

void DumpReader::on_line_comment(const std::string& line)
{
    static const std::regex k_master(
        R"((?:MASTER|SOURCE)_LOG_FILE\s*=\s*'([^']*)'\s*,\s*(?:MASTER|SOURCE)_LOG_POS\s*=\s*([0-9]+))");
    static const std::regex k_gtid(R"(gtid_slave_pos\s*=\s*'([^']*)')");
    std::smatch m;
    if (line.starts_with("Server version")) {
        std::string v = line.substr(std::strlen("Server version"));
        auto b = v.find_first_not_of(" \t");
        m_summary.server_version = b == std::string::npos ? "" : v.substr(b);
        while (!m_summary.server_version.empty() && m_summary.server_version.back() == '\r') {
            m_summary.server_version.pop_back();
        }
    } else if ((line.starts_with("MariaDB dump") || line.starts_with("MySQL dump")) && m_summary.tool_line.empty()) {
        m_summary.tool_line = line;
    } else if (line.starts_with("Dump completed")) {
        m_summary.completed = true;
    } else if (line.find("CHANGE ") != std::string::npos && std::regex_search(line, m, k_master)) {
        m_summary.binlog_file = m[1].str();
        m_summary.binlog_position = m[2].str();
    } else if (std::regex_search(line, m, k_gtid)) {
        m_summary.gtid_position = m[1].str();
    }
}

} // namespace dbkeep::engine::mysql
