#include "stream/counting.hpp"
#include "stream/sha256.hpp"
#include "support/random_bytes.hpp"
#include "support/recording_sink.hpp"

#include "core/hex.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::stream;
using dbkeep::test::random_bytes;
using dbkeep::test::RecordingSink;

namespace {

} // namespace

TEST(Sha256, KnownAnswers)
{
    // FIPS 180-2 examples.
    EXPECT_EQ(sha256_hex(as_bytes("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex(as_bytes("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex(as_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(sha256_hex(as_bytes(std::string(1000000, 'a'))),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, ToHexIsLowercaseAndCoversEveryByte)
{
    const std::uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    EXPECT_EQ(to_hex(Bytes(bytes, sizeof bytes)), "00017f80abff");
    EXPECT_EQ(to_hex(Bytes()), "");
}

TEST(Sha256, HashingSinkPassesBytesThroughAndDigestsThem)
{
    auto input = random_bytes(3 * 65536 + 17, 1);
    RecordingSink next;
    HashingSink h(next);
    // Uneven writes, including an empty one.
    std::size_t sizes[] = {0, 1, 4095, 65536, 100000};
    std::size_t off = 0;
    for (std::size_t i = 0; off < input.size(); ++i) {
        std::size_t n = std::min(sizes[i % std::size(sizes)], input.size() - off);
        ASSERT_TRUE(h.write(as_bytes(std::string_view(input).substr(off, n))));
        off += n;
    }
    ASSERT_TRUE(h.finish());
    EXPECT_EQ(next.data, input);
    EXPECT_EQ(next.finishes, 1);
    EXPECT_EQ(next.aborts, 0);
    EXPECT_EQ(h.bytes(), input.size());
    EXPECT_EQ(h.hex_digest(), sha256_hex(as_bytes(input)));
}

TEST(Sha256, HashingSinkOfNothingIsTheEmptyDigest)
{
    RecordingSink next;
    HashingSink h(next);
    ASSERT_TRUE(h.finish());
    EXPECT_EQ(h.bytes(), 0u);
    EXPECT_EQ(h.hex_digest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, HashingSinkAbortPropagates)
{
    RecordingSink next;
    HashingSink h(next);
    ASSERT_TRUE(h.write(as_bytes("abc")));
    h.abort();
    EXPECT_EQ(next.aborts, 1);
    EXPECT_EQ(next.finishes, 0);
    EXPECT_TRUE(h.hex_digest().empty());
}

TEST(Sha256, HashingSourceDigestsWhatItReads)
{
    auto input = random_bytes(200000, 2);
    auto src = make_string_source(input);
    HashingSource h(*src);
    std::string got;
    std::uint8_t buf[777];
    for (;;) {
        auto n = h.read(buf);
        ASSERT_TRUE(n);
        if (*n == 0) {
            break;
        }
        got.append(reinterpret_cast<const char*>(buf), *n);
    }
    EXPECT_EQ(got, input);
    EXPECT_EQ(h.bytes(), input.size());
    EXPECT_EQ(h.hex_digest(), sha256_hex(as_bytes(input)));
    // Reading past the end changes nothing.
    auto again = h.read(buf);
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, 0u);
    EXPECT_EQ(h.hex_digest(), sha256_hex(as_bytes(input)));
}

TEST(Sha256, HashingSourceOfNothingIsTheEmptyDigest)
{
    auto src = make_string_source("");
    HashingSource h(*src);
    std::uint8_t buf[16];
    auto n = h.read(buf);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 0u);
    EXPECT_EQ(h.bytes(), 0u);
    EXPECT_EQ(h.hex_digest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, SinkAndSourceAgree)
{
    auto input = random_bytes(1 << 20, 3);
    RecordingSink stored;
    HashingSink hs(stored);
    ASSERT_TRUE(hs.write(as_bytes(input)));
    ASSERT_TRUE(hs.finish());

    auto src = make_string_source(stored.data);
    HashingSource hr(*src);
    RecordingSink out;
    auto n = copy(hr, out, 4096);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, input.size());
    EXPECT_EQ(hr.hex_digest(), hs.hex_digest());
}

TEST(Sha256, CountingSinkCountsAndPassesThrough)
{
    RecordingSink next;
    CountingSink c(next);
    ASSERT_TRUE(c.write(as_bytes("hello ")));
    ASSERT_TRUE(c.write(as_bytes("")));
    ASSERT_TRUE(c.write(as_bytes("world")));
    ASSERT_TRUE(c.finish());
    EXPECT_EQ(c.bytes(), 11u);
    EXPECT_EQ(next.data, "hello world");
    EXPECT_EQ(next.finishes, 1);
    c.abort(); // after finish(): a no-op (sink.hpp)
    EXPECT_EQ(next.aborts, 0);
}
