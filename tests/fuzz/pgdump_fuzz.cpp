// libFuzzer target for the streaming pg_dump custom-format reader: arbitrary bytes, fed in arbitrary pieces, must
// never crash, hang, read out of bounds or allocate without bound, and must end in a clean result or an error of
// kind corruption.
#include "engine/postgres/custom_format.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

using namespace dbkeep;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1) {
        return 0;
    }
    // The first byte picks the piece size, so that resuming in the middle of every primitive gets exercised.
    std::size_t piece = 1 + data[0] % 23;
    Bytes input(data + 1, size - 1);
    engine::pgdump::Reader reader;
    Status st;
    for (std::size_t pos = 0; pos < input.size() && st; pos += piece) {
        st = reader.feed(input.subspan(pos, std::min(piece, input.size() - pos)));
    }
    if (st) {
        st = reader.finish();
    }
    if (!st && st.error().kind != ErrorKind::corruption) {
        std::abort(); // every failure of the reader is corruption
    }
    std::uint64_t sum = 0;
    for (const auto& e : reader.summary().data) {
        sum += static_cast<std::uint64_t>(e.rows) + e.data_bytes + e.name.size() + e.schema.size();
    }
    return sum == 0xdeadbeef ? 1 : 0;
}
