#include "engine/postgres/custom_format.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <utility>

namespace dbkeep::engine::pgdump {
namespace {

constexpr int k_format_custom = 1;
constexpr std::uint8_t k_block_data = 1;
constexpr std::uint8_t k_block_large_objects = 3;
constexpr std::uint8_t k_offset_not_set = 1;
constexpr std::uint8_t k_offset_set = 2;
constexpr std::uint8_t k_offset_no_data = 3;

constexpr int version(int major, int minor)
{
    return major * 256 + minor;
}
constexpr int k_oldest = version(1, 10);
constexpr int k_newest = version(1, 16);

// The fields of the archive, in the order they come. Steps that an archive's version lacks are skipped.
enum class Step {
    magic,
    version,
    int_size,
    offset_size,
    format,
    compression_byte,
    compression_int,
    created, // 7 ints
    database,
    server_version,
    dump_version,
    toc_count,
    e_dump_id,
    e_had_dumper,
    e_table_oid,
    e_oid,
    e_tag,
    e_desc,
    e_section,
    e_defn,
    e_drop,
    e_copy,
    e_namespace,
    e_tablespace,
    e_table_am,
    e_relkind,
    e_owner,
    e_with_oids,
    e_dependency, // repeated until a NULL string
    e_data_state,
    e_offset,
    block_type,
    block_id,
    chunk_length, // in a data block
    chunk,        // its bytes
    lo_oid,       // in a large-object block
    lo_chunk_length,
    lo_chunk,
    rest, // an archive this reader cannot count: everything is consumed unread
};

enum class Item { fixed, integer, string_length, string_body, chunk_body, none };

// Where a COPY line stands: at its start, "\" so far, "\." so far, or anything else.
enum class Line { start, backslash, backslash_dot, other };

} // namespace

struct Reader::State {
    Summary summary;
    Step step = Step::magic;
    Item item = Item::fixed;
    std::size_t need = 0; // fixed: bytes wanted in buf
    std::array<std::uint8_t, 16> buf{};
    std::size_t have = 0;
    std::int64_t value = 0;       // the last int read
    std::int64_t remaining = 0;   // string or chunk bytes still to come
    std::int64_t text_length = 0; // the current string's length (-1: NULL), whether kept or not
    bool keep_toc = false;        // keep each entry's catalog ids, section and owner too
    TocEntry entry;               // the entry being read
    std::string text;             // the string being read (up to k_max_kept_string)
    bool text_null = false;       // it was NULL
    bool text_overlong = false;   // it was longer than kept
    bool keep_text = false;       // the current string is kept
    std::uint64_t offset = 0;     // bytes consumed so far
    std::optional<Error> error;   // sticky
    int archive_version = 0;
    int created_left = 0;
    std::int64_t entries_left = 0;
    // The entry being read.
    std::int64_t dump_id = 0;
    std::string tag, desc, schema;
    bool tag_overlong = false, schema_overlong = false;
    std::map<std::int64_t, std::size_t> by_id;            // data entries by dump id
    std::map<std::int64_t, bool> ids;                     // every dump id of the TOC (duplicates are corrupt)
    std::set<std::pair<std::string, std::string>> tables; // schema and name of each TABLE entry
    // The block being read.
    std::size_t block = 0; // index into summary.data
    bool counting_rows = false;
    bool copy_ended = false;
    Line line = Line::start;

    Status corrupt(const std::string& what)
    {
        error = Error{ErrorKind::corruption, "read", "the pg_dump archive", what + " at byte " + std::to_string(offset),
                      ""};
        return std::unexpected(*error);
    }

    void want_fixed(Step s, std::size_t n)
    {
        step = s;
        item = Item::fixed;
        need = n;
        have = 0;
    }
    void want_int(Step s)
    {
        step = s;
        item = Item::integer;
        need = 1 + static_cast<std::size_t>(summary.int_size);
        have = 0;
    }
    void want_string(Step s, bool keep)
    {
        step = s;
        item = Item::string_length;
        need = 1 + static_cast<std::size_t>(summary.int_size);
        have = 0;
        keep_text = keep;
        text.clear();
        text_null = false;
        text_overlong = false;
    }
    void unsupported(std::string why)
    {
        summary.supported = false;
        summary.unsupported = std::move(why);
        step = Step::rest;
        item = Item::none;
    }

    // The int in buf: a sign byte, then int_size bytes, least significant first.
    Result<std::int64_t> decode_int()
    {
        std::uint64_t v = 0;
        for (int i = summary.int_size; i >= 1; --i) {
            v = (v << 8) | buf[static_cast<std::size_t>(i)];
        }
        if (v > static_cast<std::uint64_t>(INT64_MAX)) {
            (void)corrupt("an integer out of range");
            return std::unexpected(*error);
        }
        auto s = static_cast<std::int64_t>(v);
        return buf[0] != 0 ? -s : s;
    }

    void begin_entry()
    {
        if (entries_left == 0) {
            summary.toc_complete = true;
            want_fixed(Step::block_type, 1);
            return;
        }
        --entries_left;
        tag.clear();
        desc.clear();
        schema.clear();
        tag_overlong = schema_overlong = false;
        entry = TocEntry{};
        want_int(Step::e_dump_id);
    }

    Status end_entry(std::uint8_t data_state)
    {
        if (data_state != k_offset_not_set && data_state != k_offset_set && data_state != k_offset_no_data) {
            return corrupt("an unknown data state " + std::to_string(data_state) + " in TOC entry " +
                           std::to_string(dump_id));
        }
        if (desc == "TABLE" && !tag_overlong && !schema_overlong) {
            tables.emplace(schema, tag);
        }
        entry.dump_id = dump_id;
        entry.desc = desc;
        entry.schema = schema;
        entry.name = tag;
        entry.has_data = data_state != k_offset_no_data;
        summary.toc.push_back(std::move(entry));
        entry = TocEntry{};
        if (data_state != k_offset_no_data) {
            if (desc == "TABLE DATA" && (tag_overlong || schema_overlong || tag.empty())) {
                return corrupt("a TABLE DATA entry (" + std::to_string(dump_id) + ") without a valid table name");
            }
            by_id[dump_id] = summary.data.size();
            summary.data.push_back(DataEntry{.dump_id = dump_id,
                                             .desc = desc,
                                             .schema = schema,
                                             .name = tag,
                                             .table_entry = tables.contains({schema, tag})});
        }
        begin_entry();
        return {};
    }

    // A fixed-size item or an int is complete: act on it and say what comes next.
    Status on_value()
    {
        switch (step) {
        case Step::magic:
            if (std::memcmp(buf.data(), "PGDMP", 5) != 0) {
                return corrupt("not a pg_dump custom-format archive (no PGDMP signature)");
            }
            want_fixed(Step::version, 3);
            return {};
        case Step::version:
            summary.version_major = buf[0];
            summary.version_minor = buf[1];
            summary.version_rev = buf[2];
            archive_version = version(buf[0], buf[1]);
            want_fixed(Step::int_size, 1);
            return {};
        case Step::int_size:
            if (buf[0] < 1 || buf[0] > 8) {
                return corrupt("an integer size of " + std::to_string(buf[0]) + " bytes");
            }
            summary.int_size = buf[0];
            if (archive_version < k_oldest || archive_version > k_newest) {
                unsupported("archive version " + std::to_string(summary.version_major) + "." +
                            std::to_string(summary.version_minor) +
                            " (this dbkeep reads 1.10 to 1.16, pg_dump 8.4 to 17)");
                return {};
            }
            want_fixed(Step::offset_size, 1);
            return {};
        case Step::offset_size:
            if (buf[0] < 1 || buf[0] > 16) {
                return corrupt("an offset size of " + std::to_string(buf[0]) + " bytes");
            }
            summary.offset_size = buf[0];
            want_fixed(Step::format, 1);
            return {};
        case Step::format:
            if (buf[0] != k_format_custom) {
                return corrupt("archive format " + std::to_string(buf[0]) + ", not custom (1)");
            }
            if (archive_version >= version(1, 15)) {
                want_fixed(Step::compression_byte, 1);
            } else {
                want_int(Step::compression_int);
            }
            return {};
        case Step::compression_byte:
        case Step::compression_int: {
            std::int64_t c = step == Step::compression_byte ? buf[0] : value;
            if (c != 0) {
                unsupported("its data is compressed (compression " + std::to_string(c) + ")");
                return {};
            }
            created_left = 7;
            want_int(Step::created);
            return {};
        }
        case Step::created:
            if (--created_left > 0) {
                want_int(Step::created);
            } else {
                want_string(Step::database, true);
            }
            return {};
        case Step::toc_count:
            if (value < 0) {
                return corrupt("a negative TOC entry count");
            }
            summary.toc_entries = value;
            entries_left = value;
            begin_entry();
            return {};
        case Step::e_dump_id:
            if (value <= 0 || value > INT32_MAX) {
                return corrupt("a TOC entry id " + std::to_string(value) + " out of range");
            }
            if (!ids.emplace(value, true).second) {
                return corrupt("TOC entry id " + std::to_string(value) + " listed twice");
            }
            dump_id = value;
            want_int(Step::e_had_dumper);
            return {};
        case Step::e_had_dumper:
            entry.had_dumper = value != 0;
            want_string(Step::e_table_oid, keep_toc);
            return {};
        case Step::e_section:
            entry.section = static_cast<int>(std::clamp<std::int64_t>(value, 0, 100));
            want_string(Step::e_defn, desc == "ENCODING");
            return {};
        case Step::e_relkind: want_string(Step::e_owner, keep_toc); return {};
        case Step::e_data_state:
            want_fixed(Step::e_offset, static_cast<std::size_t>(summary.offset_size));
            value = buf[0];
            return {};
        case Step::e_offset: return end_entry(static_cast<std::uint8_t>(value));
        case Step::block_type:
            if (buf[0] != k_block_data && buf[0] != k_block_large_objects) {
                return corrupt("an unknown block type " + std::to_string(buf[0]));
            }
            value = buf[0];
            want_int(Step::block_id);
            remaining = buf[0]; // the block's type, kept while its id is read
            return {};
        case Step::block_id: {
            auto it = by_id.find(value);
            if (it == by_id.end()) {
                return corrupt("a data block for entry " + std::to_string(value) +
                               ", which the TOC lists without data");
            }
            auto& e = summary.data[it->second];
            if (e.seen) {
                return corrupt("a second data block for entry " + std::to_string(value));
            }
            e.seen = true;
            block = it->second;
            if (remaining == k_block_data) {
                counting_rows = e.desc == "TABLE DATA";
                copy_ended = false;
                line = Line::start;
                want_int(Step::chunk_length);
            } else {
                counting_rows = false;
                want_int(Step::lo_oid);
            }
            return {};
        }
        case Step::chunk_length:
        case Step::lo_chunk_length:
            if (value < 0) {
                return corrupt("a negative data chunk length");
            }
            if (value == 0) {
                if (step == Step::lo_chunk_length) {
                    want_int(Step::lo_oid);
                    return {};
                }
                end_rows();
                want_fixed(Step::block_type, 1);
                return {};
            }
            remaining = value;
            step = step == Step::chunk_length ? Step::chunk : Step::lo_chunk;
            item = Item::chunk_body;
            return {};
        case Step::lo_oid:
            if (value == 0) {
                want_fixed(Step::block_type, 1);
                return {};
            }
            if (value < 0 || value > UINT32_MAX) {
                return corrupt("a large object oid " + std::to_string(value) + " out of range");
            }
            ++summary.data[block].large_objects;
            ++summary.large_objects;
            want_int(Step::lo_chunk_length);
            return {};
        default: return corrupt("an internal reader state");
        }
    }

    // A string is complete (text, text_null, text_overlong).
    Status on_string()
    {
        switch (step) {
        case Step::database:
            summary.database = text;
            want_string(Step::server_version, true);
            return {};
        case Step::server_version:
            summary.server_version = text;
            want_string(Step::dump_version, true);
            return {};
        case Step::dump_version:
            summary.dump_version = text;
            want_int(Step::toc_count);
            return {};
        case Step::e_table_oid:
            entry.table_oid = text;
            want_string(Step::e_oid, keep_toc);
            return {};
        case Step::e_oid:
            entry.oid = text;
            want_string(Step::e_tag, true);
            return {};
        case Step::e_tag:
            tag = text;
            tag_overlong = text_overlong;
            want_string(Step::e_desc, true);
            return {};
        case Step::e_desc:
            desc = text;
            if (archive_version >= version(1, 11)) {
                want_int(Step::e_section);
            } else {
                want_string(Step::e_defn, desc == "ENCODING");
            }
            return {};
        case Step::e_defn:
            entry.has_definition = text_length > 0;
            if (desc == "ENCODING") {
                // SET client_encoding = 'LATIN1';
                auto q1 = text.find('\'');
                auto q2 = q1 == std::string::npos ? q1 : text.find('\'', q1 + 1);
                if (q2 != std::string::npos && q2 - q1 - 1 <= 32) {
                    std::string name = text.substr(q1 + 1, q2 - q1 - 1);
                    if (std::all_of(name.begin(), name.end(), [](char c) {
                            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                   c == '_';
                        })) {
                        summary.encoding = name;
                    }
                }
            }
            want_string(Step::e_drop, false);
            return {};
        case Step::e_drop: want_string(Step::e_copy, false); return {};
        case Step::e_copy: want_string(Step::e_namespace, true); return {};
        case Step::e_namespace:
            schema = text;
            schema_overlong = text_overlong;
            want_string(Step::e_tablespace, false);
            return {};
        case Step::e_tablespace:
            if (archive_version >= version(1, 14)) {
                want_string(Step::e_table_am, false);
            } else {
                want_string(Step::e_owner, keep_toc);
            }
            return {};
        case Step::e_table_am:
            if (archive_version >= version(1, 16)) {
                want_int(Step::e_relkind);
            } else {
                want_string(Step::e_owner, keep_toc);
            }
            return {};
        case Step::e_owner:
            entry.owner = text;
            want_string(Step::e_with_oids, false);
            return {};
        case Step::e_with_oids: want_string(Step::e_dependency, true); return {};
        case Step::e_dependency:
            if (text_null) {
                want_fixed(Step::e_data_state, 1);
            } else {
                // A dump id in decimal; anything else is no dependency pg_restore could follow either.
                char* end = nullptr;
                const long long id = text.empty() || text_overlong ? 0 : std::strtoll(text.c_str(), &end, 10);
                if (id > 0 && end != nullptr && *end == '\0') {
                    entry.deps.push_back(id);
                }
                want_string(Step::e_dependency, true);
            }
            return {};
        default: return corrupt("an internal reader state");
        }
    }

    // The end of a TABLE DATA block: a last line without a newline is a row too.
    void end_rows()
    {
        if (counting_rows && !copy_ended && line != Line::start && line != Line::backslash_dot) {
            ++summary.data[block].rows;
        }
        counting_rows = false;
    }

    // COPY text: every raw newline ends a row, except the one ending a `\.` line, after which nothing counts.
    void count_rows(const std::uint8_t* p, const std::uint8_t* end)
    {
        auto& rows = summary.data[block].rows;
        while (p < end && !copy_ended) {
            if (line == Line::other) {
                const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
                if (nl == nullptr) {
                    return;
                }
                ++rows;
                line = Line::start;
                p = static_cast<const std::uint8_t*>(nl) + 1;
                continue;
            }
            const std::uint8_t c = *p++;
            switch (line) {
            case Line::start:
                line = c == '\n' ? (++rows, Line::start) : c == '\\' ? Line::backslash : Line::other;
                break;
            case Line::backslash:
                line = c == '\n' ? (++rows, Line::start) : c == '.' ? Line::backslash_dot : Line::other;
                break;
            case Line::backslash_dot:
                if (c == '\n') {
                    copy_ended = true;
                    line = Line::start;
                } else {
                    line = Line::other;
                }
                break;
            case Line::other: break;
            }
        }
    }

    Status feed(Bytes data)
    {
        if (error) {
            return std::unexpected(*error);
        }
        std::size_t pos = 0;
        while (pos < data.size()) {
            switch (item) {
            case Item::none: offset += data.size() - pos; return {};
            case Item::fixed:
            case Item::integer:
            case Item::string_length: {
                std::size_t n = std::min(need - have, data.size() - pos);
                std::memcpy(buf.data() + have, data.data() + pos, n);
                have += n;
                pos += n;
                offset += n;
                if (have < need) {
                    return {};
                }
                have = 0;
                if (item == Item::fixed) {
                    if (auto st = on_value(); !st) {
                        return st;
                    }
                    break;
                }
                auto v = decode_int();
                if (!v) {
                    return std::unexpected(v.error());
                }
                if (item == Item::integer) {
                    value = *v;
                    if (auto st = on_value(); !st) {
                        return st;
                    }
                    break;
                }
                // A string's length.
                text_length = *v;
                if (*v == -1) {
                    text_null = true;
                    if (auto st = on_string(); !st) {
                        return st;
                    }
                } else if (*v < -1 || *v > k_max_string) {
                    return corrupt("a string length of " + std::to_string(*v));
                } else if (*v == 0) {
                    if (auto st = on_string(); !st) {
                        return st;
                    }
                } else {
                    remaining = *v;
                    item = Item::string_body;
                }
                break;
            }
            case Item::string_body: {
                auto n = static_cast<std::size_t>(
                    std::min<std::int64_t>(remaining, static_cast<std::int64_t>(data.size() - pos)));
                if (keep_text) {
                    std::size_t room = k_max_kept_string - std::min(text.size(), k_max_kept_string);
                    std::size_t take = std::min(room, n);
                    text.append(reinterpret_cast<const char*>(data.data() + pos), take);
                    text_overlong = text_overlong || take < n;
                }
                pos += n;
                offset += n;
                remaining -= static_cast<std::int64_t>(n);
                if (remaining == 0) {
                    if (auto st = on_string(); !st) {
                        return st;
                    }
                }
                break;
            }
            case Item::chunk_body: {
                auto n = static_cast<std::size_t>(
                    std::min<std::int64_t>(remaining, static_cast<std::int64_t>(data.size() - pos)));
                if (counting_rows) {
                    count_rows(data.data() + pos, data.data() + pos + n);
                }
                summary.data[block].data_bytes += n;
                pos += n;
                offset += n;
                remaining -= static_cast<std::int64_t>(n);
                if (remaining == 0) {
                    if (step == Step::chunk) {
                        want_int(Step::chunk_length);
                    } else {
                        want_int(Step::lo_chunk_length);
                    }
                }
                break;
            }
            }
        }
        return {};
    }
};

bool listed_by_pg_restore(const TocEntry& entry, bool create)
{
    const std::string& d = entry.desc;
    if (d == "ENCODING" || d == "STDSTRINGS" || d == "SEARCHPATH") {
        return false;
    }
    if (d == "DATABASE" || d == "DATABASE PROPERTIES") {
        return create;
    }
    // Entries without a dumper that pg_restore still counts as data.
    const bool large_object = entry.name.starts_with("LARGE OBJECT ");
    const bool data_like =
        d == "SEQUENCE SET" || d == "BLOB" || ((d == "ACL" || d == "COMMENT" || d == "SECURITY LABEL") && large_object);
    return entry.had_dumper || data_like || entry.has_definition;
}

const char* section_name(int section) noexcept
{
    switch (section) {
    case 1: return "none";
    case 2: return "pre-data";
    case 3: return "data";
    case 4: return "post-data";
    default: return "";
    }
}

Reader::Reader(bool keep_toc) : m_state(std::make_unique<State>())
{
    m_state->keep_toc = keep_toc;
    m_state->want_fixed(Step::magic, 5);
}

Reader::~Reader() = default;

Status Reader::feed(Bytes data)
{
    return m_state->feed(data);
}

Status Reader::finish()
{
    auto& s = *m_state;
    if (s.error) {
        return std::unexpected(*s.error);
    }
    if (s.step == Step::rest) {
        return {};
    }
    if (s.step != Step::block_type || s.have != 0) {
        const char* where = s.step < Step::toc_count    ? "in its header"
                            : s.step < Step::block_type ? "in its table of contents"
                                                        : "inside a data block";
        return s.corrupt(std::string("the archive ends ") + where + " (truncated)");
    }
    for (const auto& e : s.summary.data) {
        if (!e.seen) {
            return s.corrupt("the archive ends before the data of TOC entry " + std::to_string(e.dump_id) +
                             " (truncated)");
        }
    }
    return {};
}

const Summary& Reader::summary() const noexcept
{
    return m_state->summary;
}

} // namespace dbkeep::engine::pgdump
