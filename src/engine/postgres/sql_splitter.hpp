// Splits SQL text into statements the way PostgreSQL's lexer reads it: the one place that knows where a ';'
// ends a statement and where it is only text (inside a literal, a quoted name, a dollar quote or a comment).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dbkeep::engine::pg {

// Follows the lexical rules of the PostgreSQL documentation, section 4.1 ("Lexical Structure"):
//   'string' with '' as a quote inside; E'string' (e or E not part of a longer word) where a backslash also
//   escapes the next byte; "quoted name" with "" inside; $$dollar quote$$ and $tag$dollar quote$tag$ (a tag is
//   an identifier without '$': a letter, '_' or a byte >= 0x80, then those or digits; a '$' that follows
//   a word character is part of that word, as in a$b or $1); -- comments to the end of the line;
//   /* block comments */, which nest. standard_conforming_strings is taken to be on (pg_dump and pg_dumpall
//   set it), so a backslash escapes nothing in a plain '' string.
// psql's meta-command lines (a line starting with '\', e.g. \connect or \restrict KEY) are psql's, not SQL:
// they are left out up to their end of line.
//
// Input is raw bytes in any ASCII-compatible encoding (UTF-8, LATIN1 ...; not SJIS or BIG5, where a second
// byte may be '\\' or a quote), given in chunks that may end anywhere, even inside a token: feeding a text
// whole or byte by byte gives the same statements.
//
// An object is used by one thread at a time; separate objects share nothing. No I/O, no allocation failure
// handling beyond std::bad_alloc.
class SqlSplitter {
public:
    // Where the text given so far ends.
    enum class Inside {
        code,          // between tokens: a ';' next would end a statement
        string,        // '...' or E'...' not yet closed
        quoted_name,   // "..." not yet closed
        dollar_quote,  // $tag$... not yet closed by the same $tag$
        block_comment, // /* ... not yet closed (at every nesting level)
        line,          // a -- comment or a psql meta-command line: the next '\n' ends it
    };

    // Scans the next bytes of the text. Returns the statements these bytes complete, in order: each one's text
    // from its first non-space byte through its ';', with comments left out (a block comment becomes one
    // space, a -- comment or meta-command line nothing but its '\n'); literals, quoted names and dollar
    // quotes are kept byte for byte. A statement of nothing but spaces (";;") is not returned.
    std::vector<std::string> add(std::string_view bytes);

    // Where the bytes given so far end (a quote that may yet be doubled counts as closing its literal).
    [[nodiscard]] Inside inside() const;

    // Whether the bytes given so far hold the start of a statement that no ';' has ended yet: anything but
    // spaces, comments and meta-command lines since the last ';'.
    [[nodiscard]] bool in_statement() const;

private:
    enum class Mode {
        code,
        dash,       // a '-' in code: a comment if the next byte is '-' too
        slash,      // a '/' in code: a comment if the next byte is '*'
        string,     // also a quoted name: m_quote tells which
        dollar_tag, // a '$' in code, then the bytes of what may be a dollar quote's opening tag (in m_tag)
        dollar_quote,
        block_comment,
        line,
    };

    void step(char c, std::vector<std::string>& out);
    void code(char c, std::vector<std::string>& out);
    void flush(std::vector<std::string>& out);

    Mode m_mode = Mode::code;
    std::string m_current;     // the statement so far
    std::string m_tag;         // the dollar quote's tag, both '$' included
    std::size_t m_body = 0;    // where the dollar quote's body starts in m_current
    char m_quote = 0;          // '\'' or '"' in Mode::string
    bool m_escapes = false;    // E'...': a backslash escapes the next byte
    bool m_escaped = false;    // the previous byte was that backslash
    bool m_quote_seen = false; // the previous byte was m_quote: the literal ends unless this one is m_quote too
    int m_depth = 0;           // nesting of block comments
    bool m_star = false;       // block comment: the previous byte was a '*' not already used
    bool m_slash = false;      // block comment: the previous byte was a '/' not already used
    char m_prev = '\n';        // the two bytes before the current one, as given
    char m_prev2 = '\n';
};

} // namespace dbkeep::engine::pg
