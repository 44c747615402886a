// An RDB on its way to the sink: every byte parsed and checksummed as it is copied, so that a dump that is
// cut short, corrupt or followed by other data fails before it is committed.
#pragma once

#include "core/error.hpp"
#include "engine/engine.hpp"
#include "engine/redis/rdb.hpp"
#include "runner/runner.hpp"
#include "stream/sink.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace dbkeep::engine::redis {

// Read size of the dump loops.
inline constexpr std::size_t k_chunk = 1 << 20;

// Feeds bytes to the RDB parser and to the sink, in step. The sink must outlive it.
class PayloadPump {
public:
    explicit PayloadPump(stream::Sink& out) : m_out(out) {}

    // Parses data and writes the part that belongs to the RDB to the sink; returns how many bytes that was
    // (the rest follows the RDB's end). Fails as the parser or the sink fails.
    Result<std::size_t> push(Bytes data);

    rdb::Parser& parser() { return m_parser; }
    // The bytes written to the sink so far.
    std::uint64_t bytes() const { return m_bytes; }

private:
    stream::Sink& m_out;
    rdb::Parser m_parser;
    std::uint64_t m_bytes = 0;
};

// Pumps a process's stdout through pump to its end. Up to `trailing` bytes may follow the RDB's end (and
// are dropped); more fail with ErrorKind::corruption. A parser or sink error is wrapped as
// "<operation> <object>". On any failure the process is killed (not reaped); the caller waits for it,
// judges its exit status and finishes the parser.
Status pump_process(runner::Process& proc, PayloadPump& pump, std::size_t trailing, const std::string& operation,
                    const std::string& object);

// Records what the parsed RDB says in info: rdb version, server version (when info has none yet), bytes,
// keys with expiry, checksum, function libraries, and key counts per db as stats.
void fill_info(DumpInfo& info, const rdb::Summary& s, std::uint64_t bytes);

// The DumpInfo a dump records through fill_info, read back from a stored RDB (the raw stream): key counts per
// db as stats, rdb and server version (the redis-ver aux field), rdb_bytes and the rest in details. Reads in to
// its end. Fails with ErrorKind::corruption when in is not one complete RDB (truncated, malformed, a CRC
// mismatch, data after its end), ErrorKind::failed for content the parser does not support, in's error when
// reading fails, ErrorKind::cancelled on cancel::requested().
// types: when not null, each key's type is counted in it by rdb_type_name ("string" -> keys).
Result<DumpInfo> inspect_rdb(stream::Source& in, std::map<std::string, std::int64_t>* types = nullptr);

// The logical type of an RDB type byte: "string", "list", "set", "zset", "hash", "stream", "module", or
// "type N" for a byte this dbkeep does not know. Pure.
std::string rdb_type_name(std::uint8_t type);

} // namespace dbkeep::engine::redis
