// The streaming pipeline: a Sink takes bytes; stages (zstd, age, sha256, counter) are Sinks that wrap the
// next Sink and derive from Stage (stage.hpp), which implements the contract below once. A Source is the
// mirror image used by restore.
//
// Flush contract (pgBackRest's filter model): write() may buffer; finish() flushes everything buffered,
// writes any trailer, calls finish() on the wrapped sink and makes the data final (a storage writer
// commits). abort() discards: it never commits, releases resources, and calls abort() on the wrapped sink.
// After finish() or abort() no other call is allowed but abort(), which is then a no-op. A sink destroyed
// without finish() behaves as if abort() was called. Sinks are not thread-safe.
#pragma once

#include "core/bytes.hpp"
#include "core/error.hpp"

#include <cstddef>
#include <memory>

namespace dbkeep::stream {

class Sink {
public:
    virtual ~Sink() = default;
    virtual Status write(Bytes data) = 0;
    virtual Status finish() = 0;
    virtual void abort() noexcept = 0;
};

// read() fills up to out.size() bytes and returns how many; 0 means the end of the stream. A Source that
// detects corruption (bad checksum, truncated frame) returns an error of kind corruption, never a short
// clean end.
class Source {
public:
    virtual ~Source() = default;
    virtual Result<std::size_t> read(MutableBytes out) = 0;
};

// Reads `source` to its end into `sink` (not finished: the caller decides), in chunks of `chunk` bytes.
Result<std::uint64_t> copy(Source& source, Sink& sink, std::size_t chunk = 1 << 20);

// Reads a whole (small) source into a string; fails with `corruption` when it exceeds max_bytes.
Result<std::string> read_all(Source& source, std::size_t max_bytes = 64 << 20);

// A Source over an in-memory string (kept alive by the source).
std::unique_ptr<Source> make_string_source(std::string data);

// A Sink appending into a string owned by the caller; finish() does nothing more.
std::unique_ptr<Sink> make_string_sink(std::string& out);

} // namespace dbkeep::stream
