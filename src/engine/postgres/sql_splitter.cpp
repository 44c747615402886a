#include "engine/postgres/sql_splitter.hpp"

#include <algorithm>
#include <cctype>

namespace dbkeep::engine::pg {
namespace {

bool space(char c)
{
    return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// PostgreSQL's scan.l: ident_start [A-Za-z\200-\377_], ident_cont adds [0-9\$]; a dollar quote's tag uses
// ident_start then ident_start or digits.
bool ident_start(char c)
{
    const auto u = static_cast<unsigned char>(c);
    return std::isalpha(u) != 0 || c == '_' || u >= 0x80;
}

bool ident_cont(char c)
{
    return ident_start(c) || std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '$';
}

} // namespace

std::vector<std::string> SqlSplitter::add(std::string_view bytes)
{
    std::vector<std::string> out;
    for (const char c : bytes) {
        step(c, out);
        m_prev2 = m_prev;
        m_prev = c;
    }
    return out;
}

SqlSplitter::Inside SqlSplitter::inside() const
{
    switch (m_mode) {
    case Mode::string:
        if (m_quote_seen) {
            return Inside::code;
        }
        return m_quote == '"' ? Inside::quoted_name : Inside::string;
    case Mode::dollar_quote: return Inside::dollar_quote;
    case Mode::block_comment: return Inside::block_comment;
    case Mode::line: return Inside::line;
    case Mode::code:
    case Mode::dash:
    case Mode::slash:
    case Mode::dollar_tag: break;
    }
    return Inside::code;
}

bool SqlSplitter::in_statement() const
{
    if (m_mode == Mode::dash || m_mode == Mode::slash || m_mode == Mode::dollar_tag) {
        return true;
    }
    return !std::all_of(m_current.begin(), m_current.end(), space);
}

void SqlSplitter::step(char c, std::vector<std::string>& out)
{
    switch (m_mode) {
    case Mode::code: code(c, out); return;
    case Mode::dash:
        if (c == '-') {
            m_mode = Mode::line;
            return;
        }
        m_mode = Mode::code;
        m_current += '-';
        code(c, out);
        return;
    case Mode::slash:
        if (c == '*') {
            m_mode = Mode::block_comment;
            m_depth = 1;
            m_star = m_slash = false;
            return;
        }
        m_mode = Mode::code;
        m_current += '/';
        code(c, out);
        return;
    case Mode::line:
        if (c == '\n') {
            m_mode = Mode::code;
            code(c, out);
        }
        return;
    case Mode::block_comment:
        if (m_star && c == '/') {
            m_star = m_slash = false;
            if (--m_depth == 0) {
                m_mode = Mode::code;
                m_current += ' ';
            }
            return;
        }
        if (m_slash && c == '*') {
            m_star = m_slash = false;
            ++m_depth;
            return;
        }
        m_star = c == '*';
        m_slash = c == '/';
        return;
    case Mode::string:
        if (m_quote_seen) {
            m_quote_seen = false;
            if (c == m_quote) { // doubled: a quote inside
                m_current += c;
                return;
            }
            m_mode = Mode::code; // the literal ended with the quote before c
            code(c, out);
            return;
        }
        m_current += c;
        if (m_escaped) {
            m_escaped = false;
        } else if (c == m_quote) {
            m_quote_seen = true;
        } else if (m_escapes && c == '\\') {
            m_escaped = true;
        }
        return;
    case Mode::dollar_tag:
        if (c == '$') {
            m_tag += c;
            m_current += m_tag;
            m_body = m_current.size();
            m_mode = Mode::dollar_quote;
            return;
        }
        if (m_tag.size() == 1 ? ident_start(c) : (ident_cont(c) && c != '$')) {
            m_tag += c;
            return;
        }
        m_current += m_tag; // not a dollar quote ($1, a lone '$'): plain text
        m_mode = Mode::code;
        code(c, out);
        return;
    case Mode::dollar_quote:
        m_current += c;
        if (c == '$' && m_current.size() >= m_body + m_tag.size() && m_current.ends_with(m_tag)) {
            m_mode = Mode::code;
        }
        return;
    }
}

void SqlSplitter::code(char c, std::vector<std::string>& out)
{
    if (c == '\\' && m_prev == '\n') { // m_prev is the byte before c whichever mode handed c over
        m_mode = Mode::line;
        return;
    }
    switch (c) {
    case '-': m_mode = Mode::dash; return;
    case '/': m_mode = Mode::slash; return;
    case '\'':
    case '"':
        m_mode = Mode::string;
        m_quote = c;
        m_escapes = c == '\'' && (m_prev == 'E' || m_prev == 'e') && !ident_cont(m_prev2);
        m_escaped = m_quote_seen = false;
        m_current += c;
        return;
    case '$':
        if (!ident_cont(m_prev)) {
            m_mode = Mode::dollar_tag;
            m_tag = "$";
            return;
        }
        break;
    default: break;
    }
    m_current += c;
    if (c == ';') {
        flush(out);
    }
}

void SqlSplitter::flush(std::vector<std::string>& out)
{
    auto first = std::find_if_not(m_current.begin(), m_current.end(), space);
    if (first != m_current.end() - 1 || *first != ';') {
        out.emplace_back(first, m_current.end());
    }
    m_current.clear();
}

} // namespace dbkeep::engine::pg
