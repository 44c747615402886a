#include "stream/zstd.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/recording_sink.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <gtest/gtest.h>
#include <random>
#include <thread>
#include <zstd.h>

using namespace dbkeep;
using namespace dbkeep::stream;
using dbkeep::test::random_bytes;
using dbkeep::test::RecordingSink;

namespace {

// A source handing out at most `chunk` bytes per read, to exercise every buffer boundary.
class ChunkedSource final : public Source {
public:
    ChunkedSource(std::string data, std::size_t chunk) : m_data(std::move(data)), m_chunk(chunk) {}
    Result<std::size_t> read(MutableBytes out) override
    {
        std::size_t n = std::min({out.size(), m_chunk, m_data.size() - m_pos});
        std::copy_n(m_data.data() + m_pos, n, reinterpret_cast<char*>(out.data()));
        m_pos += n;
        return n;
    }

private:
    std::string m_data;
    std::size_t m_chunk;
    std::size_t m_pos = 0;
};

// Text-like data that compresses, but not to nothing.
std::string compressible_bytes(std::size_t n, std::uint64_t seed)
{
    static constexpr std::string_view k_words[] = {"orders ", "customer ", "42 ",    "NULL ", "2026-11-25 ",
                                                   "\\N\t",   "zürich ",   "total ", "\n"};
    std::mt19937_64 rng(seed);
    std::string s;
    s.reserve(n + 16);
    while (s.size() < n) {
        s += k_words[rng() % std::size(k_words)];
        if (rng() % 4 == 0) {
            s += std::to_string(rng() % 100000);
        }
    }
    s.resize(n);
    return s;
}

std::string compress(const std::string& data, ZstdOptions options, std::size_t chunk = 1 << 20)
{
    RecordingSink sink;
    auto z = make_zstd_compressor(sink, options);
    for (std::size_t off = 0; off < data.size(); off += chunk) {
        auto st = z->write(as_bytes(std::string_view(data).substr(off, chunk)));
        EXPECT_TRUE(st) << st.error().to_string();
    }
    auto st = z->finish();
    EXPECT_TRUE(st) << st.error().to_string();
    EXPECT_EQ(sink.finishes, 1);
    EXPECT_EQ(sink.aborts, 0);
    return sink.data;
}

Result<std::string> decompress(const std::string& compressed, std::size_t out_chunk = 1 << 16,
                               std::size_t in_chunk = std::string::npos)
{
    ChunkedSource src(compressed, in_chunk);
    auto z = make_zstd_decompressor(src);
    std::string out;
    std::vector<std::uint8_t> buf(out_chunk);
    for (;;) {
        auto n = z->read(buf);
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            return out;
        }
        out.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
}

// Whether the bytes are exactly one zstd frame.
bool single_frame(const std::string& compressed)
{
    std::size_t n = ZSTD_findFrameCompressedSize(compressed.data(), compressed.size());
    return !ZSTD_isError(n) && n == compressed.size();
}

} // namespace

TEST(Zstd, RoundTripsSeveralSizes)
{
    const std::vector<std::string> inputs = {"", "x", compressible_bytes((1 << 20) + 3, 1), random_bytes(20 << 20, 2)};
    for (const auto& input : inputs) {
        for (int workers : {0, 2}) {
            auto c = compress(input, {.level = 3, .workers = workers, .adaptive = false});
            EXPECT_TRUE(single_frame(c)) << input.size();
            auto d = decompress(c);
            ASSERT_TRUE(d) << input.size() << " bytes, " << workers << " workers: " << d.error().to_string();
            EXPECT_EQ(d->size(), input.size());
            EXPECT_TRUE(*d == input) << input.size() << " bytes, " << workers << " workers";
        }
    }
}

TEST(Zstd, CompressesCompressibleData)
{
    auto input = compressible_bytes(4 << 20, 3);
    auto c = compress(input, {.level = 3, .workers = 2});
    EXPECT_LT(c.size(), input.size() / 3);
}

TEST(Zstd, ManySmallWritesRoundTrip)
{
    auto input = compressible_bytes(300000, 4);
    auto c = compress(input, {.level = 1, .workers = 0}, 7);
    auto d = decompress(c);
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_TRUE(*d == input);
}

TEST(Zstd, DecompressesThroughTinyBuffersOnBothSides)
{
    // The end of the frame reached while output is still pending must not look like truncation.
    auto input = compressible_bytes((1 << 20) + 3, 5);
    auto c = compress(input, {.level = 3, .workers = 0});
    for (auto [out_chunk, in_chunk] : std::vector<std::pair<std::size_t, std::size_t>>{
             {1, std::string::npos}, {7, 5}, {4096, std::string::npos}, {1 << 16, 1}, {100000, 3}}) {
        auto d = decompress(c, out_chunk, in_chunk);
        ASSERT_TRUE(d) << out_chunk << "/" << in_chunk << ": " << d.error().to_string();
        EXPECT_TRUE(*d == input) << out_chunk << "/" << in_chunk;
    }
}

TEST(Zstd, OutputIsReadableByTheZstdCommand)
{
    if (!test::have_program("zstd")) {
        GTEST_SKIP() << "zstd command not installed";
    }
    test::TempDir dir;
    auto input = compressible_bytes((1 << 20) + 3, 6);
    test::write_file(dir / "x.zst", compress(input, {.level = 3, .workers = 2}));
    auto r = test::run({"zstd", "-dc", (dir / "x.zst").string()}, {.timeout = std::chrono::seconds(60)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(r.out == input) << r.out.size() << " bytes out of " << input.size();
    // And the frame carries a checksum that the command checks.
    auto list = test::run({"zstd", "-lv", (dir / "x.zst").string()});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    EXPECT_NE(list.out.find("XXH64"), std::string::npos) << list.out;
}

TEST(Zstd, ReadsWhatTheZstdCommandWrote)
{
    if (!test::have_program("zstd")) {
        GTEST_SKIP() << "zstd command not installed";
    }
    test::TempDir dir;
    auto input = compressible_bytes(500000, 7);
    test::write_file(dir / "x", input);
    auto r = test::run({"zstd", "-q", "-19", "--check", (dir / "x").string(), "-o", (dir / "x.zst").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto d = decompress(test::read_file(dir / "x.zst"));
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_TRUE(*d == input);
}

TEST(Zstd, TruncatedStreamIsCorruption)
{
    auto input = compressible_bytes(1 << 20, 8);
    auto c = compress(input, {.level = 3, .workers = 0});
    for (std::size_t keep :
         {std::size_t{4}, std::size_t{5}, std::size_t{12}, c.size() / 2, c.size() - 4, c.size() - 1}) {
        auto d = decompress(c.substr(0, keep));
        ASSERT_FALSE(d) << "kept " << keep << " of " << c.size();
        EXPECT_EQ(d.error().kind, ErrorKind::corruption) << d.error().to_string();
    }
}

TEST(Zstd, TruncatedEmptyFrameIsCorruption)
{
    auto c = compress("", {.level = 3, .workers = 0});
    auto d = decompress(c.substr(0, c.size() - 1));
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, ErrorKind::corruption);
}

TEST(Zstd, BitFlipIsCorruption)
{
    auto input = compressible_bytes(1 << 20, 9);
    auto c = compress(input, {.level = 3, .workers = 0});
    // In the data, and in the trailing checksum (the last 4 bytes).
    for (std::size_t pos : {c.size() / 3, c.size() / 2, c.size() - 2}) {
        auto bad = c;
        bad[pos] = static_cast<char>(bad[pos] ^ 0x10);
        auto d = decompress(bad);
        ASSERT_FALSE(d) << "flip at " << pos << " of " << c.size();
        EXPECT_EQ(d.error().kind, ErrorKind::corruption) << d.error().to_string();
    }
}

TEST(Zstd, EmptyInputIsAnError)
{
    auto d = decompress("");
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, ErrorKind::corruption);
    EXPECT_EQ(d.error().message, "empty input: not a zstd stream");
}

TEST(Zstd, GarbageIsCorruption)
{
    auto d = decompress("this is not a zstd frame at all, just text");
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, ErrorKind::corruption);
    // A valid frame followed by garbage.
    auto e = decompress(compress("hello", {.workers = 0}) + "garbage!");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().kind, ErrorKind::corruption);
}

TEST(Zstd, ConcatenatedFramesDecodeAsOneStream)
{
    auto c = compress("hello ", {.workers = 0}) + compress("world", {.workers = 2});
    auto d = decompress(c, 3);
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(*d, "hello world");
}

TEST(Zstd, AbortPropagatesToTheNextSinkOnce)
{
    RecordingSink sink;
    auto z = make_zstd_compressor(sink, {.workers = 2});
    ASSERT_TRUE(z->write(as_bytes(compressible_bytes(100000, 10))));
    z->abort();
    EXPECT_EQ(sink.aborts, 1);
    EXPECT_EQ(sink.finishes, 0);
    z->abort(); // a no-op now
    z.reset();
    EXPECT_EQ(sink.aborts, 1);
    EXPECT_EQ(sink.finishes, 0);
}

TEST(Zstd, DestructionWithoutFinishAborts)
{
    RecordingSink sink;
    {
        auto z = make_zstd_compressor(sink, {.workers = 0});
        ASSERT_TRUE(z->write(as_bytes(std::string(1000, 'a'))));
    }
    EXPECT_EQ(sink.aborts, 1);
    EXPECT_EQ(sink.finishes, 0);
}

TEST(Zstd, AbortAfterFinishDoesNothing)
{
    RecordingSink sink;
    auto z = make_zstd_compressor(sink, {.workers = 0});
    ASSERT_TRUE(z->write(as_bytes(std::string("abc"))));
    ASSERT_TRUE(z->finish());
    z->abort();
    z.reset();
    EXPECT_EQ(sink.finishes, 1);
    EXPECT_EQ(sink.aborts, 0);
}

TEST(Zstd, WriteOrFinishAfterFinishIsAnError)
{
    RecordingSink sink;
    auto z = make_zstd_compressor(sink, {.workers = 0});
    ASSERT_TRUE(z->finish());
    EXPECT_FALSE(z->write(as_bytes(std::string("late"))));
    EXPECT_FALSE(z->finish());
    EXPECT_EQ(sink.finishes, 1);
}

TEST(Zstd, FailureOfTheNextSinkIsReturned)
{
    RecordingSink sink;
    sink.fail_on_write = 1;
    auto z = make_zstd_compressor(sink, {.level = 1, .workers = 0});
    // Random data cannot be buffered away: the first output reaches the failing sink during write or finish.
    auto st = z->write(as_bytes(random_bytes(4 << 20, 11)));
    if (st) {
        st = z->finish();
    }
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().message, "injected failure");
    z.reset();
    EXPECT_EQ(sink.finishes, 0);
}

TEST(Zstd, FailedFinishOfTheNextSinkIsReturned)
{
    RecordingSink sink;
    sink.fail_finish = true;
    auto z = make_zstd_compressor(sink, {.workers = 0});
    ASSERT_TRUE(z->write(as_bytes(std::string("abc"))));
    auto st = z->finish();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().message, "injected failure");
}

namespace {

const std::string& pool()
{
    static const std::string k_pool = compressible_bytes(8 << 20, 100);
    return k_pool;
}
constexpr std::size_t k_pool_chunk = 256 << 10;

// Feeds slices of the pool, as fast as memory allows, for `how_long`; returns the bytes written.
std::uint64_t feed_pool(Sink& z, std::uint64_t total, std::chrono::milliseconds how_long)
{
    auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < how_long) {
        auto st = z.write(as_bytes(std::string_view(pool()).substr(total % pool().size(), k_pool_chunk)));
        EXPECT_TRUE(st) << st.error().to_string();
        if (!st) {
            break;
        }
        total += k_pool_chunk;
    }
    return total;
}

// Decodes as a stream and compares with the pool, slice by slice (the input is too large to keep twice).
::testing::AssertionResult decodes_to_pool(std::string compressed, std::uint64_t total)
{
    if (!single_frame(compressed)) {
        return ::testing::AssertionFailure() << "not a single zstd frame";
    }
    ChunkedSource src(std::move(compressed), std::string::npos);
    auto d = make_zstd_decompressor(src);
    std::vector<std::uint8_t> buf(k_pool_chunk);
    std::uint64_t pos = 0;
    for (;;) {
        auto n = d->read(buf);
        if (!n) {
            return ::testing::AssertionFailure() << n.error().to_string();
        }
        if (*n == 0) {
            break;
        }
        for (std::size_t done = 0; done < *n;) {
            std::size_t off = (pos + done) % pool().size();
            std::size_t len = std::min(*n - done, pool().size() - off);
            if (std::memcmp(buf.data() + done, pool().data() + off, len) != 0) {
                return ::testing::AssertionFailure() << "differs in the " << len << " bytes at " << pos + done;
            }
            done += len;
        }
        pos += *n;
    }
    if (pos != total) {
        return ::testing::AssertionFailure() << "decoded " << pos << " bytes of " << total;
    }
    return ::testing::AssertionSuccess();
}

} // namespace

TEST(Zstd, AdaptiveLevelKeepsASingleValidFrameWhenTheCompressorFallsBehind)
{
    // Input fed as fast as memory allows: the compressor is the bottleneck for over a second, so the adaptive
    // logic lowers the level mid-frame. The output must stay one standard frame that decodes to the input.
    for (int workers : {0, 2}) {
        RecordingSink sink;
        auto z = make_zstd_compressor(sink, {.level = 9, .workers = workers, .adaptive = true});
        auto total = feed_pool(*z, 0, std::chrono::milliseconds(1100));
        ASSERT_TRUE(z->finish());
        EXPECT_TRUE(decodes_to_pool(std::move(sink.data), total)) << workers << " workers";
    }
}

TEST(Zstd, AdaptiveLevelKeepsAValidFrameWhenItStepsBackUp)
{
    // First the compressor falls behind (the level drops), then the next stage becomes the slow one (the
    // compressor idles and the level steps back up toward the configured one).
    RecordingSink sink;
    auto z = make_zstd_compressor(sink, {.level = 9, .workers = 2, .adaptive = true});
    auto total = feed_pool(*z, 0, std::chrono::milliseconds(1100));
    sink.delay = std::chrono::milliseconds(3);
    total = feed_pool(*z, total, std::chrono::milliseconds(1100));
    ASSERT_TRUE(z->finish());
    EXPECT_TRUE(decodes_to_pool(std::move(sink.data), total));
}

// zstd_next_level: the adaptation's decision, from one window's measurements (no timing involved).
namespace {

// A window of one second in which `mib` MiB arrived.
ZstdWindow window(double mib, double blocked, double cpu, double idle)
{
    return {.seconds = 1.0,
            .input_bytes = mib * 1048576,
            .blocked_seconds = blocked,
            .cpu_seconds = cpu,
            .idle_cores = idle};
}

} // namespace

TEST(ZstdAdapt, AFastProducerOnASaturatedMachineLowersTheLevelWithoutAnyStall)
{
    // Issue 17: pg_dump and its server use the cores; the compressor keeps up (it blocks 10% of the time) but
    // the CPU it spends at this rate is what slows the producer. The old stall-only rule kept level 3 here.
    auto w = window(150, 0.10, 0.9, 0.05);
    EXPECT_EQ(zstd_next_level(3, 3, w), 2);
    EXPECT_EQ(zstd_next_level(2, 3, w), 1);
    EXPECT_EQ(zstd_next_level(1, 3, w), 1); // never below 1
}

TEST(ZstdAdapt, AStalledProducerLowersTheLevelEvenWithIdleCpu)
{
    EXPECT_EQ(zstd_next_level(5, 5, window(40, 0.95, 1.0, 1.5)), 4);
    EXPECT_EQ(zstd_next_level(5, 5, window(40, 0.95, 1.0, -1)), 4); // idle CPU unknown: the stall alone
}

TEST(ZstdAdapt, ASlowProducerWithIdleCoresRaisesTheLevelBackToTheConfiguredOne)
{
    // 5 MiB/s arriving, 0.1 of a core spent, 1.8 cores idle: room for the next level's cost.
    auto w = window(5, 0.01, 0.1, 1.8);
    EXPECT_EQ(zstd_next_level(1, 3, w), 2);
    EXPECT_EQ(zstd_next_level(2, 3, w), 3);
    EXPECT_EQ(zstd_next_level(3, 3, w), 3); // never above the configured level
}

TEST(ZstdAdapt, NoRaiseWhenTheNextLevelsCostWouldNotFitTheIdleCpu)
{
    // 0.9 of a core idle, but at this rate one more level costs ~0.6 x 0.8 core: 0.5 + 0.48 > 0.9.
    EXPECT_EQ(zstd_next_level(1, 3, window(120, 0.05, 0.8, 0.9)), 1);
    // The same rate with a core and a half idle: raise.
    EXPECT_EQ(zstd_next_level(1, 3, window(120, 0.05, 0.8, 1.5)), 2);
}

TEST(ZstdAdapt, BetweenTheThresholdsTheLevelHolds)
{
    // Little idle CPU but this process barely uses any: nothing to win by lowering; not enough to raise.
    EXPECT_EQ(zstd_next_level(2, 3, window(10, 0.1, 0.1, 0.2)), 2);
    // Blocked 60% of the window: neither a stall nor slack.
    EXPECT_EQ(zstd_next_level(2, 3, window(60, 0.6, 0.5, 1.9)), 2);
    // No input in the window (the producer paused): keep the level.
    EXPECT_EQ(zstd_next_level(1, 3, window(0, 0, 0, 2.0)), 1);
    EXPECT_EQ(zstd_next_level(2, 3, ZstdWindow{}), 2);
}

TEST(ZstdAdapt, TheIdleCpuUnknownFallsBackToTheStallRule)
{
    EXPECT_EQ(zstd_next_level(3, 3, window(150, 0.10, 0.9, -1)), 3);
    EXPECT_EQ(zstd_next_level(1, 3, window(150, 0.10, 0.9, -1)), 2);
}

TEST(ZstdAdapt, ALevelOutsideTheRangeIsBroughtBackIntoIt)
{
    EXPECT_EQ(zstd_next_level(9, 3, window(10, 0.6, 0.1, 0.2)), 3);
    EXPECT_EQ(zstd_next_level(0, 3, window(10, 0.6, 0.1, 0.2)), 1);
    EXPECT_EQ(zstd_next_level(1, 1, window(10, 0.01, 0.1, 1.9)), 1);
}
