// Byte counting as a pass-through stage: the raw size of a dump, counted as it flows to the next stage.
#pragma once

#include "stream/stage.hpp"

#include <cstdint>

namespace dbkeep::stream {

// The Stage contract of stage.hpp; bytes() counts what write() accepted, buffered nowhere.
class CountingSink final : public Stage {
public:
    explicit CountingSink(Sink& next);

    std::uint64_t bytes() const noexcept { return m_bytes; }

private:
    Status on_write(Bytes data) override;
    Status on_finish() override;

    std::uint64_t m_bytes = 0;
};

} // namespace dbkeep::stream
