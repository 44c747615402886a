// Byte counting as a pass-through stage: the raw size of a dump, counted as it flows to the next stage.
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

} // namespace dbkeep::stream
