// libFuzzer target for the streaming RDB parser: arbitrary bytes, fed in arbitrary pieces, with values captured,
// must never crash, hang or read out of bounds, and must end in a clean result or an error.
#include "engine/redis/rdb.hpp"

#include <cstddef>
#include <cstdint>

using namespace dbkeep;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1) {
        return 0;
    }
    // The first byte picks the piece size, so that resuming in the middle of every primitive gets exercised.
    std::size_t piece = 1 + data[0] % 17;
    Bytes input(data + 1, size - 1);
    std::uint64_t checksum = 0;
    engine::rdb::Parser parser(
        engine::rdb::ParserOptions{.capture_values = (data[0] & 0x80) == 0},
        [&](const engine::rdb::Entry& e) -> Status {
            checksum ^= engine::rdb::crc64(0, e.value) ^ e.key.size() ^ static_cast<std::uint64_t>(e.idle_s) ^
                        static_cast<std::uint64_t>(e.freq);
            auto payload = engine::rdb::dump_payload(e.type, e.value, 10);
            checksum ^= payload.size();
            return {};
        },
        [&](std::string_view code) -> Status {
            checksum ^= code.size();
            return {};
        });
    for (std::size_t pos = 0; pos < input.size(); pos += piece) {
        auto n = parser.feed(input.subspan(pos, std::min(piece, input.size() - pos)));
        if (!n || parser.done()) {
            break;
        }
    }
    (void)parser.finish();
    // LZF on its own, with an output length taken from the input.
    if (input.size() > 2) {
        std::size_t out_len = (static_cast<std::size_t>(input[0]) << 8 | input[1]) % 8192;
        (void)engine::rdb::lzf_decompress(input.subspan(2), out_len);
    }
    return checksum == 0xdeadbeef ? 1 : 0;
}
