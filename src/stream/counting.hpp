// Byte counting as a pass-through stage: the raw size of a dump, counted as it flows to the next stage (or as it
// is read back).
#pragma once

#include "stream/stage.hpp"

#include <atomic>
#include <cstdint>

namespace dbkeep::stream {

// The Stage contract of stage.hpp; bytes() counts what write() accepted, buffered nowhere. bytes() may be read
// from any thread while another writes (progress reports).
class CountingSink final : public Stage {
public:
    explicit CountingSink(Sink& next);

    std::uint64_t bytes() const noexcept { return m_bytes.load(std::memory_order_relaxed); }

private:
    Status on_write(Bytes data) override;
    Status on_finish() override;

    std::atomic<std::uint64_t> m_bytes{0};
};

// The mirror for reading: passes read() through to `in` (which must outlive it) and counts the bytes it returned.
// bytes() may be read from any thread while another reads (progress reports).
class CountingSource final : public Source {
public:
    explicit CountingSource(Source& in) : m_in(in) {}
    Result<std::size_t> read(MutableBytes out) override;

    std::uint64_t bytes() const noexcept { return m_bytes.load(std::memory_order_relaxed); }

private:
    Source& m_in;
    std::atomic<std::uint64_t> m_bytes{0};
};

// Reads `source` to its end and drops the bytes (a reader that checks at its end, e.g. a checksum, has then
// checked); returns how many there were. Fails as source fails, or with ErrorKind::cancelled on cancel::requested().
Result<std::uint64_t> drain(Source& source, std::size_t chunk = 1 << 20);

} // namespace dbkeep::stream
