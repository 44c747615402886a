#include "engine/redis/rdb.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cstring>
#include <optional>

namespace dbkeep::engine::rdb {
namespace {

constexpr std::uint64_t k_crc_poly_reflected = 0x95ac9329ac4bc9b5ULL;
// Largest string we collect in memory (key names, aux fields, function code): Redis's proto-max-bulk-len.
constexpr std::uint64_t k_max_collected = 512ull << 20;

struct CrcTables {
    std::array<std::array<std::uint64_t, 256>, 8> t{};
    CrcTables()
    {
        for (std::uint64_t i = 0; i < 256; ++i) {
            std::uint64_t crc = i;
            for (int k = 0; k < 8; ++k) {
                crc = (crc & 1) ? (crc >> 1) ^ k_crc_poly_reflected : crc >> 1;
            }
            t[0][i] = crc;
        }
        for (std::size_t k = 1; k < 8; ++k) {
            for (std::size_t i = 0; i < 256; ++i) {
                t[k][i] = t[0][t[k - 1][i] & 0xff] ^ (t[k - 1][i] >> 8);
            }
        }
    }
};

const CrcTables& crc_tables()
{
    static const CrcTables tables;
    return tables;
}

std::uint64_t load_le(const std::uint8_t* p, int n)
{
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}

std::uint64_t load_be(const std::uint8_t* p, int n)
{
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
        v = (v << 8) | p[i];
    }
    return v;
}

std::unexpected<Error> corrupt(std::string message)
{
    return fail(ErrorKind::corruption, "parse rdb", "", std::move(message));
}

// A value's layout as a tiny program: each instruction reads one primitive; loops read a count.
enum class Op : std::uint8_t { str, len, raw, old_double, loop, end, module };
struct Instr {
    Op op;
    std::uint16_t arg; // raw: byte count; loop: index of its end; end: index of its loop
};

class ProgramBuilder {
public:
    ProgramBuilder& str() { return add(Op::str); }
    ProgramBuilder& len() { return add(Op::len); }
    ProgramBuilder& raw(std::uint16_t n) { return add(Op::raw, n); }
    ProgramBuilder& old_double() { return add(Op::old_double); }
    ProgramBuilder& module() { return add(Op::module); }
    ProgramBuilder& loop()
    {
        m_open.push_back(m_code.size());
        return add(Op::loop);
    }
    ProgramBuilder& end()
    {
        auto start = m_open.back();
        m_open.pop_back();
        add(Op::end, static_cast<std::uint16_t>(start));
        m_code[start].arg = static_cast<std::uint16_t>(m_code.size() - 1);
        return *this;
    }
    std::vector<Instr> build() { return std::move(m_code); }

private:
    ProgramBuilder& add(Op op, std::uint16_t arg = 0)
    {
        m_code.push_back({op, arg});
        return *this;
    }
    std::vector<Instr> m_code;
    std::vector<std::size_t> m_open;
};

std::vector<Instr> stream_program(int version)
{
    ProgramBuilder b;
    b.loop().str().str().end(); // listpack nodes: master entry id, listpack
    b.len().len().len();        // length, last id (ms, seq)
    if (version >= 2) {
        b.len().len().len().len().len(); // first id, max deleted id, entries added
    }
    b.loop().str().len().len(); // consumer groups: name, last delivered id
    if (version >= 2) {
        b.len(); // entries read
    }
    b.loop().raw(16).raw(8).len().end(); // group PEL: id, delivery time, delivery count
    b.loop().str().raw(8);               // consumers: name, seen time
    if (version >= 3) {
        b.raw(8); // active time
    }
    b.loop().raw(16).end(); // consumer PEL ids
    b.end();                // consumers
    b.end();                // groups
    return b.build();
}

struct Programs {
    std::array<std::vector<Instr>, 256> by_type;
    Programs()
    {
        auto blob = ProgramBuilder().str().build();
        for (int t : {0, 9, 10, 11, 12, 13, 16, 17, 20}) {
            by_type[t] = blob;
        }
        by_type[1] = ProgramBuilder().loop().str().end().build();
        by_type[2] = by_type[1];
        by_type[14] = by_type[1];
        by_type[3] = ProgramBuilder().loop().str().old_double().end().build();
        by_type[4] = ProgramBuilder().loop().str().str().end().build();
        by_type[5] = ProgramBuilder().loop().str().raw(8).end().build();
        by_type[7] = ProgramBuilder().module().build();
        by_type[15] = stream_program(1);
        by_type[18] = ProgramBuilder().loop().len().str().end().build();
        by_type[19] = stream_program(2);
        by_type[21] = stream_program(3);
        // Redis 7.4 hashes with field expiry: minimum expiry, then fields with their own TTLs, or a listpack.
        by_type[24] = ProgramBuilder().raw(8).loop().len().str().str().end().build();
        by_type[25] = ProgramBuilder().raw(8).str().build();
    }
};

const Programs& programs()
{
    static const Programs p;
    return p;
}

// Parses a length at p: bytes used, 0 when more input is needed, -1 when invalid.
int peek_length(const std::uint8_t* p, std::size_t avail, std::uint64_t& len, bool& encoded)
{
    if (avail < 1) {
        return 0;
    }
    std::uint8_t b = p[0];
    encoded = false;
    switch (b >> 6) {
    case 0: len = b & 0x3f; return 1;
    case 1:
        if (avail < 2) {
            return 0;
        }
        len = (static_cast<std::uint64_t>(b & 0x3f) << 8) | p[1];
        return 2;
    case 3:
        len = b & 0x3f;
        encoded = true;
        return 1;
    default:
        if (b == 0x80) {
            if (avail < 5) {
                return 0;
            }
            len = load_be(p + 1, 4);
            return 5;
        }
        if (b == 0x81) {
            if (avail < 9) {
                return 0;
            }
            len = load_be(p + 1, 8);
            return 9;
        }
        return -1;
    }
}

enum class Step {
    header,
    opcode,
    aux_key,
    aux_value,
    selectdb,
    resizedb,
    expire_ms,
    expire_s,
    idle,
    freq,
    module_aux,
    function,
    slot_info,
    key,
    value,
    trailer,
    done,
};

} // namespace

std::uint64_t crc64(std::uint64_t crc, Bytes data) noexcept
{
    const auto& t = crc_tables().t;
    const std::uint8_t* p = data.data();
    std::size_t n = data.size();
    while (n >= 8) {
        crc ^= load_le(p, 8);
        crc = t[7][crc & 0xff] ^ t[6][(crc >> 8) & 0xff] ^ t[5][(crc >> 16) & 0xff] ^ t[4][(crc >> 24) & 0xff] ^
              t[3][(crc >> 32) & 0xff] ^ t[2][(crc >> 40) & 0xff] ^ t[1][(crc >> 48) & 0xff] ^ t[0][crc >> 56];
        p += 8;
        n -= 8;
    }
    while (n-- > 0) {
        crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return crc;
}

Result<std::string> lzf_decompress(Bytes in, std::size_t out_len)
{
    std::string out;
    out.reserve(std::min<std::size_t>(out_len, 1 << 20)); // the announced length is not trusted for allocation
    std::size_t i = 0;
    while (i < in.size()) {
        std::size_t ctrl = in[i++];
        if (ctrl < 32) {
            std::size_t n = ctrl + 1;
            if (n > in.size() - i || n > out_len - out.size()) {
                return corrupt("lzf literal run overruns its buffer");
            }
            out.append(reinterpret_cast<const char*>(in.data() + i), n);
            i += n;
            continue;
        }
        std::size_t n = ctrl >> 5;
        if (n == 7) {
            if (i >= in.size()) {
                return corrupt("lzf back reference is truncated");
            }
            n += in[i++];
        }
        if (i >= in.size()) {
            return corrupt("lzf back reference is truncated");
        }
        std::size_t back = ((ctrl & 0x1f) << 8) + in[i++] + 1;
        n += 2;
        if (back > out.size() || n > out_len - out.size()) {
            return corrupt("lzf back reference points outside its buffer");
        }
        std::size_t from = out.size() - back;
        for (std::size_t k = 0; k < n; ++k) {
            out.push_back(out[from + k]); // byte by byte: the source may overlap what is being written
        }
    }
    if (out.size() != out_len) {
        return corrupt("lzf data decompresses to " + std::to_string(out.size()) + " bytes, expected " +
                       std::to_string(out_len));
    }
    return out;
}

std::string module_name(std::uint64_t module_id)
{
    static constexpr std::string_view k_charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string name(9, '?');
    std::uint64_t id = module_id >> 10; // the low 10 bits are the module's encoding version
    for (int j = 8; j >= 0; --j) {
        name[static_cast<std::size_t>(j)] = k_charset[id & 63];
        id >>= 6;
    }
    return name;
}

std::string dump_payload(std::uint8_t type, Bytes value, int rdb_version)
{
    std::string p;
    p.reserve(value.size() + 11);
    p.push_back(static_cast<char>(type));
    p.append(as_chars(value));
    p.push_back(static_cast<char>(rdb_version & 0xff));
    p.push_back(static_cast<char>((rdb_version >> 8) & 0xff));
    std::uint64_t crc = crc64(0, as_bytes(p));
    for (int i = 0; i < 8; ++i) {
        p.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
    }
    return p;
}

struct Parser::State {
    ParserOptions options;
    KeyHandler on_key;
    FunctionHandler on_function;
    Summary summary;
    std::optional<Error> failed;

    std::vector<std::uint8_t> buf;
    std::size_t pos = 0;
    std::uint64_t crc = 0;
    std::size_t crc_pos = 0;
    bool crc_active = true;

    Step step = Step::header;
    int db = 0;
    std::int64_t expire = -1;
    std::int64_t idle = -1; // the next key's IDLE (seconds), -1 when none came
    int freq = -1;          // the next key's FREQ (0-255), -1 when none came
    std::uint8_t type = 0;

    // The string being read: header parsed (phase 1) and body bytes left.
    int str_phase = 0;
    bool str_collect = false;
    bool str_lzf = false;
    std::uint64_t str_left = 0;
    std::uint64_t str_ulen = 0;
    std::string str;

    std::string aux_key;
    std::string key;
    std::string value;
    bool capturing = false;
    std::size_t cap_pos = 0;
    const std::vector<Instr>* program = nullptr;
    std::size_t pc = 0;
    std::vector<std::uint64_t> loops;

    std::size_t avail() const { return buf.size() - pos; }
    const std::uint8_t* here() const { return buf.data() + pos; }

    Result<bool> read_length(std::uint64_t& out)
    {
        bool encoded = false;
        int n = peek_length(here(), avail(), out, encoded);
        if (n == 0) {
            return false;
        }
        if (n < 0 || encoded) {
            return corrupt("invalid length encoding");
        }
        pos += static_cast<std::size_t>(n);
        return true;
    }

    Result<bool> read_raw(std::size_t n, std::uint64_t* out_le = nullptr)
    {
        if (avail() < n) {
            return false;
        }
        if (out_le != nullptr) {
            *out_le = load_le(here(), static_cast<int>(n));
        }
        pos += n;
        return true;
    }

    // Reads one RDB string; with collect, its decoded content lands in `str`.
    Result<bool> read_str(bool collect)
    {
        if (str_phase == 0) {
            const std::uint8_t* p = here();
            std::size_t a = avail();
            std::uint64_t len = 0;
            bool encoded = false;
            int n = peek_length(p, a, len, encoded);
            if (n == 0) {
                return false;
            }
            if (n < 0) {
                return corrupt("invalid string length");
            }
            std::size_t header = static_cast<std::size_t>(n);
            str_lzf = false;
            str_left = 0;
            if (collect) {
                str.clear();
            }
            if (!encoded) {
                str_left = len;
            } else if (len <= 2) {
                int width = 1 << len; // 1, 2 or 4 bytes, little endian, signed
                if (a < header + static_cast<std::size_t>(width)) {
                    return false;
                }
                std::uint64_t raw = load_le(p + header, width);
                std::int64_t v = width == 1   ? static_cast<std::int8_t>(raw)
                                 : width == 2 ? static_cast<std::int16_t>(raw)
                                              : static_cast<std::int32_t>(raw);
                if (collect) {
                    str = std::to_string(v);
                }
                header += static_cast<std::size_t>(width);
            } else if (len == 3) {
                std::uint64_t clen = 0, ulen = 0;
                bool e1 = false, e2 = false;
                int m = peek_length(p + header, a - header, clen, e1);
                if (m == 0) {
                    return false;
                }
                if (m < 0 || e1) {
                    return corrupt("invalid lzf length");
                }
                header += static_cast<std::size_t>(m);
                int k = peek_length(p + header, a - header, ulen, e2);
                if (k == 0) {
                    return false;
                }
                if (k < 0 || e2) {
                    return corrupt("invalid lzf length");
                }
                header += static_cast<std::size_t>(k);
                str_lzf = true;
                str_left = clen;
                str_ulen = ulen;
                if (collect && ulen > k_max_collected) {
                    return corrupt("string of " + std::to_string(ulen) + " bytes is too large");
                }
            } else {
                return corrupt("unknown string encoding " + std::to_string(len));
            }
            if (collect && str_left > k_max_collected) {
                return corrupt("string of " + std::to_string(str_left) + " bytes is too large");
            }
            if (collect && str_left > 0) {
                str.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(str_left, 1 << 20)));
            }
            pos += header;
            str_phase = 1;
            str_collect = collect;
        }
        std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(str_left, avail()));
        if (str_collect) {
            str.append(reinterpret_cast<const char*>(here()), take);
        }
        pos += take;
        str_left -= take;
        if (str_left > 0) {
            return false;
        }
        str_phase = 0;
        if (str_collect && str_lzf) {
            auto plain = lzf_decompress(as_bytes(str), static_cast<std::size_t>(str_ulen));
            if (!plain) {
                return std::unexpected(plain.error());
            }
            str = std::move(*plain);
        }
        return true;
    }

    Status module_error(std::uint64_t id)
    {
        return fail(ErrorKind::failed, "parse rdb", "", "the rdb holds data of redis module '" + module_name(id) + "'",
                    "dbkeep does not back up module data types; back up this server with the module's own tools");
    }

    Result<bool> run_program()
    {
        const auto& code = *program;
        while (pc < code.size()) {
            const Instr ins = code[pc];
            switch (ins.op) {
            case Op::str: {
                auto r = read_str(false);
                if (!r || !*r) {
                    return r;
                }
                ++pc;
                break;
            }
            case Op::len: {
                std::uint64_t v = 0;
                auto r = read_length(v);
                if (!r || !*r) {
                    return r;
                }
                ++pc;
                break;
            }
            case Op::raw: {
                auto r = read_raw(ins.arg);
                if (!r || !*r) {
                    return r;
                }
                ++pc;
                break;
            }
            case Op::old_double: {
                if (avail() < 1) {
                    return false;
                }
                std::size_t l = *here();
                std::size_t need = l >= 253 ? 1 : 1 + l; // 253..255: nan, +inf, -inf
                if (avail() < need) {
                    return false;
                }
                pos += need;
                ++pc;
                break;
            }
            case Op::loop: {
                std::uint64_t count = 0;
                auto r = read_length(count);
                if (!r || !*r) {
                    return r;
                }
                if (count == 0) {
                    pc = static_cast<std::size_t>(ins.arg) + 1;
                } else {
                    loops.push_back(count);
                    ++pc;
                }
                break;
            }
            case Op::end:
                if (--loops.back() == 0) {
                    loops.pop_back();
                    ++pc;
                } else {
                    pc = static_cast<std::size_t>(ins.arg) + 1;
                }
                break;
            case Op::module: {
                std::uint64_t id = 0;
                auto r = read_length(id);
                if (!r || !*r) {
                    return r;
                }
                return std::unexpected(module_error(id).error());
            }
            }
        }
        return true;
    }

    void flush_crc()
    {
        if (crc_active && pos > crc_pos) {
            crc = crc64(crc, Bytes(buf.data() + crc_pos, pos - crc_pos));
        }
        crc_pos = pos;
    }

    // Runs the state machine over the buffered bytes until it needs more or reaches the end.
    Status run()
    {
        for (;;) {
            switch (step) {
            case Step::header: {
                if (avail() < 9) {
                    return {};
                }
                const std::uint8_t* p = here();
                if (std::memcmp(p, "REDIS", 5) != 0) {
                    return corrupt("not an rdb file (no REDIS signature)");
                }
                int version = 0;
                for (int i = 5; i < 9; ++i) {
                    if (p[i] < '0' || p[i] > '9') {
                        return corrupt("invalid rdb version");
                    }
                    version = version * 10 + (p[i] - '0');
                }
                if (version < 1 || version > k_max_rdb_version) {
                    return fail(ErrorKind::failed, "parse rdb", "",
                                "rdb version " + std::to_string(version) + " is not supported (1 to " +
                                    std::to_string(k_max_rdb_version) + ")",
                                "use a dbkeep release that knows this redis version");
                }
                summary.rdb_version = version;
                pos += 9;
                step = Step::opcode;
                break;
            }
            case Step::opcode: {
                if (avail() < 1) {
                    return {};
                }
                std::uint8_t b = buf[pos++];
                switch (b) {
                case 0xfa: step = Step::aux_key; break;
                case 0xfe: step = Step::selectdb; break;
                case 0xfb: step = Step::resizedb; break;
                case 0xfc: step = Step::expire_ms; break;
                case 0xfd: step = Step::expire_s; break;
                // rdb.h: RDB_OPCODE_MODULE_AUX 247, RDB_OPCODE_IDLE 248, RDB_OPCODE_FREQ 249.
                case 0xf7: step = Step::module_aux; break;
                case 0xf8: step = Step::idle; break;
                case 0xf9: step = Step::freq; break;
                case 0xf5: step = Step::function; break;
                case 0xf4: step = Step::slot_info; break;
                case 0xf6:
                    return fail(ErrorKind::failed, "parse rdb", "",
                                "the rdb holds functions in the format of redis 7.0 release candidates",
                                "save the data with a released redis version");
                case 0xff:
                    if (summary.rdb_version >= 5) {
                        flush_crc();
                        crc_active = false;
                        step = Step::trailer;
                    } else {
                        step = Step::done;
                        return {};
                    }
                    break;
                default: {
                    type = b;
                    if (type == 6) {
                        return fail(ErrorKind::failed, "parse rdb", "",
                                    "the rdb holds module data in the format of redis 4.0 release candidates");
                    }
                    if (programs().by_type[type].empty()) {
                        return corrupt("unknown value type " + std::to_string(type));
                    }
                    step = Step::key;
                }
                }
                break;
            }
            case Step::aux_key: {
                auto r = read_str(true);
                if (!r || !*r) {
                    return r ? Status{} : Status(std::unexpected(r.error()));
                }
                aux_key = std::move(str);
                step = Step::aux_value;
                break;
            }
            case Step::aux_value: {
                auto r = read_str(true);
                if (!r || !*r) {
                    return r ? Status{} : Status(std::unexpected(r.error()));
                }
                summary.aux[aux_key] = std::move(str);
                step = Step::opcode;
                break;
            }
            case Step::selectdb: {
                std::uint64_t v = 0;
                auto r = read_length(v);
                if (!r || !*r) {
                    return r ? Status{} : Status(std::unexpected(r.error()));
                }
                if (v > INT_MAX) {
                    return corrupt("database number " + std::to_string(v) + " is out of range");
                }
                db = static_cast<int>(v);
                step = Step::opcode;
                break;
            }
            case Step::resizedb:
            case Step::slot_info: {
                int count = step == Step::resizedb ? 2 : 3;
                std::size_t used = 0;
                for (int i = 0; i < count; ++i) {
                    std::uint64_t v = 0;
                    bool encoded = false;
                    int n = peek_length(here() + used, avail() - used, v, encoded);
                    if (n == 0) {
                        return {};
                    }
                    if (n < 0 || encoded) {
                        return corrupt("invalid length encoding");
                    }
                    used += static_cast<std::size_t>(n);
                }
                pos += used;
                step = Step::opcode;
                break;
            }
            case Step::expire_ms:
            case Step::expire_s: {
                bool ms = step == Step::expire_ms;
                std::uint64_t v = 0;
                auto r = read_raw(ms ? 8 : 4, &v);
                if (!r || !*r) {
                    return r ? Status{} : Status(std::unexpected(r.error()));
                }
                expire =
                    ms ? static_cast<std::int64_t>(v) : static_cast<std::int64_t>(static_cast<std::int32_t>(v)) * 1000;
                step = Step::opcode;
                break;
            }
            case Step::idle: {
                std::uint64_t v = 0;
                auto r = read_length(v);
                if (!r || !*r) {
                    return r ? Status{} : Status(std::unexpected(r.error()));
                }
                idle = v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(v);
                step = Step::opcode;
                break;
            }
            case Step::freq: {
                std::uint64_t v = 0;
                auto r = read_raw(1, &v);
                if (!r || !*r) {
                    return r ? Status{} : Status(std::unexpected(r.error()));
                }
                freq = static_cast<int>(v & 0xff);
                step = Step::opcode;
                break;
            }
            case Step::module_aux: {
                std::uint64_t id = 0;
                auto r = read_length(id);
                if (!r || !*r) {
                    return r ? Status{} : Status(std::unexpected(r.error()));
                }
                return module_error(id);
            }
            case Step::function: {
                auto r = read_str(true);
                if (!r || !*r) {
                    return r ? Status{} : Status(std::unexpected(r.error()));
                }
                ++summary.functions;
                if (on_function) {
                    if (auto st = on_function(str); !st) {
                        return st;
                    }
                }
                step = Step::opcode;
                break;
            }
            case Step::key: {
                auto r = read_str(options.capture_values);
                if (!r || !*r) {
                    return r ? Status{} : Status(std::unexpected(r.error()));
                }
                if (options.capture_values) {
                    key = std::move(str);
                }
                program = &programs().by_type[type];
                pc = 0;
                loops.clear();
                capturing = options.capture_values;
                cap_pos = pos;
                value.clear();
                step = Step::value;
                break;
            }
            case Step::value: {
                auto r = run_program();
                if (!r || !*r) {
                    return r ? Status{} : Status(std::unexpected(r.error()));
                }
                if (capturing) {
                    value.append(reinterpret_cast<const char*>(buf.data() + cap_pos), pos - cap_pos);
                    cap_pos = pos;
                }
                ++summary.keys;
                if (expire >= 0) {
                    ++summary.keys_with_expiry;
                }
                ++summary.keys_per_db[db];
                if (on_key) {
                    Entry e{.db = db,
                            .type = type,
                            .expire_ms = expire,
                            .idle_s = idle,
                            .freq = freq,
                            .key = key,
                            .value = as_bytes(value)};
                    if (auto st = on_key(e); !st) {
                        return st;
                    }
                }
                expire = -1;
                idle = -1;
                freq = -1;
                if (value.capacity() > (64u << 20)) {
                    value = std::string(); // do not keep a huge buffer after a huge value
                }
                step = Step::opcode;
                break;
            }
            case Step::trailer: {
                std::uint64_t stored = 0;
                auto r = read_raw(8, &stored);
                if (!r || !*r) {
                    return r ? Status{} : Status(std::unexpected(r.error()));
                }
                if (stored != 0) {
                    if (stored != crc) {
                        return corrupt("crc64 mismatch: the rdb is damaged");
                    }
                    summary.checksum_verified = true;
                }
                step = Step::done;
                return {};
            }
            case Step::done: return {};
            }
        }
    }
};

Parser::Parser(ParserOptions options, KeyHandler on_key, FunctionHandler on_function)
    : m_state(std::make_unique<State>())
{
    m_state->options = options;
    m_state->on_key = std::move(on_key);
    m_state->on_function = std::move(on_function);
}

Parser::~Parser() = default;

Result<std::size_t> Parser::feed(Bytes data)
{
    auto& s = *m_state;
    if (s.failed) {
        return std::unexpected(*s.failed);
    }
    if (s.step == Step::done) {
        return 0;
    }
    std::size_t leftover = s.buf.size() - s.pos;
    s.buf.insert(s.buf.end(), data.begin(), data.end());
    if (auto st = s.run(); !st) {
        s.failed = st.error();
        return std::unexpected(st.error());
    }
    if (s.step == Step::done) {
        std::size_t consumed = s.pos > leftover ? s.pos - leftover : 0;
        s.buf.clear();
        s.buf.shrink_to_fit();
        s.pos = 0;
        return consumed;
    }
    s.flush_crc();
    if (s.step == Step::value && s.capturing) {
        s.value.append(reinterpret_cast<const char*>(s.buf.data() + s.cap_pos), s.pos - s.cap_pos);
        s.cap_pos = s.pos;
    }
    s.buf.erase(s.buf.begin(), s.buf.begin() + static_cast<std::ptrdiff_t>(s.pos));
    s.crc_pos -= s.pos;
    s.cap_pos = s.cap_pos >= s.pos ? s.cap_pos - s.pos : 0;
    s.pos = 0;
    return data.size();
}

bool Parser::done() const noexcept
{
    return m_state->step == Step::done;
}

Status Parser::finish() const
{
    if (m_state->failed) {
        return std::unexpected(*m_state->failed);
    }
    if (m_state->step != Step::done) {
        return corrupt("the rdb is truncated: it ended before its end marker");
    }
    return {};
}

const Summary& Parser::summary() const noexcept
{
    return m_state->summary;
}

} // namespace dbkeep::engine::rdb
