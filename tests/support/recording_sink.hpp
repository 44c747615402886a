// The end of a pipeline in a test: records the bytes that reached it and every write, finish and abort, and
// can inject a failure or slow down, so a test checks what a stage passed on and how it closed the stream.
#pragma once

#include "stream/sink.hpp"

#include <chrono>
#include <string>

namespace dbkeep::test {

class RecordingSink final : public stream::Sink {
public:
    Status write(Bytes data) override;
    Status finish() override;
    void abort() noexcept override { ++aborts; }

    std::string data;         // every byte written, in order
    int writes = 0;           // write calls, empty ones included: a payload must arrive in pieces, never staged whole
    int finishes = 0;         // finish calls
    int aborts = 0;           // abort calls
    int fail_on_write = -1;   // that write call (1-based) fails with an injected error
    bool fail_finish = false; // finish fails with an injected error
    std::chrono::microseconds delay{0}; // each write takes this long: a slow next stage
};

} // namespace dbkeep::test
