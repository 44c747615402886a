// A streaming parser for Redis RDB files (versions 1 to 12): bytes are pushed in as they arrive, keys come out
// with their database, type, expiry and serialized value, and the CRC64 trailer is verified at the end.
#pragma once

#include "core/bytes.hpp"
#include "core/error.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dbkeep::engine::rdb {

// The newest RDB version the parser reads.
inline constexpr int k_max_rdb_version = 12;

// Redis's CRC64 (Jones polynomial, reflected, init 0, no final xor): crc64(0, "123456789") = 0xe9c6d914c4b8d9ca.
std::uint64_t crc64(std::uint64_t crc, Bytes data) noexcept;

// LZF decompression of `in` into exactly `out_len` bytes; corruption when the input is malformed.
Result<std::string> lzf_decompress(Bytes in, std::size_t out_len);

// The 9-character name of a module type from its 64-bit module id ("ReJSON-RL", "MBbloom--").
std::string module_name(std::uint64_t module_id);

// The DUMP/RESTORE payload of one value: type byte + value bytes + rdb version (2 bytes LE) + CRC64 (8 bytes LE).
std::string dump_payload(std::uint8_t type, Bytes value, int rdb_version);

// One key of the file. The views are valid only during the callback.
struct Entry {
    int db = 0;
    std::uint8_t type = 0;       // RDB type byte (0 string, 4 hash, 18 quicklist 2, 21 stream v3, ...)
    std::int64_t expire_ms = -1; // absolute unix time in ms; -1: no expiry
    std::int64_t idle_s = -1;    // LRU idle time in seconds (IDLE opcode, LRU policies); -1: none recorded
    int freq = -1;               // LFU counter 0-255 (FREQ opcode, LFU policies); -1: none recorded
    std::string_view key;        // empty unless ParserOptions::capture_values
    Bytes value;                 // the bytes after the type byte; empty unless ParserOptions::capture_values
};

struct ParserOptions {
    // Collect each key's name and serialized value for the callback. Memory then grows with the largest single
    // value; without it the parser holds only a few bytes whatever the value sizes.
    bool capture_values = false;
};

// What the file said about itself, filled while parsing.
struct Summary {
    int rdb_version = 0;
    std::map<std::string, std::string> aux; // "redis-ver" -> "7.0.15", "ctime", ...
    std::map<int, std::int64_t> keys_per_db;
    std::int64_t keys = 0;
    std::int64_t keys_with_expiry = 0; // may be gone by the time the dump is restored
    std::int64_t functions = 0;
    bool checksum_verified = false; // false when the writer disabled checksums (trailer of zeros)
};

class Parser {
public:
    // Called for each key, in file order; an error stops the parse and is returned by feed().
    using KeyHandler = std::function<Status(const Entry&)>;
    // Called for each function library (the library's source code).
    using FunctionHandler = std::function<Status(std::string_view code)>;

    explicit Parser(ParserOptions options = {}, KeyHandler on_key = {}, FunctionHandler on_function = {});
    ~Parser();
    Parser(const Parser&) = delete;
    Parser& operator=(const Parser&) = delete;

    // Consumes bytes. Returns how many were consumed: all of them, unless the RDB's end (the CRC trailer) lies
    // inside `data`, in which case the bytes after it are not consumed. After the end, consumes nothing.
    // Errors: corruption for malformed input or a CRC mismatch, failed for unsupported content (module types).
    Result<std::size_t> feed(Bytes data);

    // True once the EOF opcode and the trailer were read and checked.
    bool done() const noexcept;

    // Call at the end of input: corruption when the RDB is truncated.
    Status finish() const;

    const Summary& summary() const noexcept;

private:
    struct State;
    std::unique_ptr<State> m_state;
};

} // namespace dbkeep::engine::rdb
