#include "engine/redis/payload.hpp"
#include "engine/redis/rdb.hpp"
#include "engine/redis/redis.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace dbkeep;
using namespace dbkeep::engine;

namespace {

std::string unhex(std::string_view spaced)
{
    std::string hex;
    for (char ch : spaced) {
        if (ch != ' ') {
            hex.push_back(ch);
        }
    }
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    return out;
}

std::string le(std::uint64_t v, int n)
{
    std::string out;
    for (int i = 0; i < n; ++i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    return out;
}

std::string length(std::uint64_t n)
{
    if (n < 64) {
        return std::string(1, static_cast<char>(n));
    }
    if (n < 16384) {
        return std::string{static_cast<char>(0x40 | (n >> 8)), static_cast<char>(n & 0xff)};
    }
    std::string out(1, static_cast<char>(0x80));
    for (int i = 3; i >= 0; --i) {
        out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
    return out;
}

std::string str(std::string_view s)
{
    return length(s.size()) + std::string(s);
}

// A complete RDB: header, body, EOF opcode and the CRC64 trailer.
std::string rdb_file(const std::string& body, int version = 10, bool checksum = true)
{
    std::string v = std::to_string(version);
    std::string f = "REDIS" + std::string(4 - v.size(), '0') + v + body + "\xff";
    return f + le(checksum ? rdb::crc64(0, as_bytes(f)) : 0, 8);
}

// DUMP payloads taken from redis-server 7.0.15 (type byte + value + rdb version + crc64).
struct Sample {
    const char* key;
    const char* dump_hex;
};
const std::vector<Sample> k_samples = {
    {"s", "000568656c6c6f0a006372df766534200a"},
    {"i", "00c139300a009d94ea2793fc08b9"},
    {"neg", "00c0f90a005e26d130d7a242ab"},
    {"big", "00c2701101000a0001a408fe953095a5"},
    {"lzf", "00c30940c8016161e0bb000161610a001f99f72e01b20de3"},
    {"l", "1201021414000000050081610281620281630201010201ff0a00cb19745cc3eafb0d"},
    {"si", "0b0e02000000030000000100020003000a00a5025ce26d6e4d1b"},
    {"sl", "02030163016201610a005ea67e5623750bab"},
    {"z", "1114140000000400816102010181620283322e3504ff0a00d44c6ea4f644d9d7"},
    {"h", "1013130000000400816602817602816702817702ff0a00d9dec5c9160fb235"},
    {"st",
     "130110000001a210d90b3a00000000000000001d1d0000000a0001010001010181660200010201000100018176020401ff0181000001"
     "a210d90b3a0081000001a210d90b3a000000010102673181000001a210d90b3a000101000001a210d90b3a000000000000000042"
     "0bd910a20100000101026331420bd910a201000001000001a210d90b3a00000000000000000a000a2b2b51303ddf11"},
    {"lq", "1203020a0a0000000100817802ff020a0a0000000100817902ff020a0a0000000100817a02ff0a00d78b6ce527b53b2b"},
    {"sp", "0204c004c003c002c0010a00c8dd089d4d7576de"},
    {"zs", "050301630000000000000840016200000000000000400161000000000000f03f0a00a91cb304ca068424"},
    {"hp", "04030163c0030162c0020161c0010a00ddbe0ec114f077c1"},
};

std::string record_from_dump(const std::string& key, const std::string& dump)
{
    return dump.substr(0, 1) + str(key) + dump.substr(1, dump.size() - 11);
}

struct Collected {
    std::vector<std::string> keys;
    std::vector<std::string> values;
    std::vector<int> types, dbs;
    std::vector<std::int64_t> expires;
    std::vector<std::int64_t> idles;
    std::vector<int> freqs;
    std::vector<std::string> functions;
};

struct Run {
    Collected c;
    Result<std::size_t> consumed = 0;
    Status finished;
    rdb::Summary summary;
};

Run parse(const std::string& data, std::size_t chunk = 0, bool capture = true)
{
    Run run;
    rdb::Parser p(
        rdb::ParserOptions{.capture_values = capture},
        [&](const rdb::Entry& e) -> Status {
            run.c.keys.emplace_back(e.key);
            run.c.values.emplace_back(as_chars(e.value));
            run.c.types.push_back(e.type);
            run.c.dbs.push_back(e.db);
            run.c.expires.push_back(e.expire_ms);
            run.c.idles.push_back(e.idle_s);
            run.c.freqs.push_back(e.freq);
            return {};
        },
        [&](std::string_view code) -> Status {
            run.c.functions.emplace_back(code);
            return {};
        });
    std::size_t total = 0;
    if (chunk == 0) {
        chunk = data.size() + 1;
    }
    for (std::size_t pos = 0; pos < data.size(); pos += chunk) {
        auto n = p.feed(as_bytes(std::string_view(data).substr(pos, chunk)));
        if (!n) {
            run.consumed = n;
            run.finished = p.finish();
            return run;
        }
        total += *n;
    }
    run.consumed = total;
    run.finished = p.finish();
    run.summary = p.summary();
    return run;
}

} // namespace

TEST(Crc64, MatchesTheRedisKnownVector)
{
    EXPECT_EQ(rdb::crc64(0, as_bytes("123456789")), 0xe9c6d914c4b8d9caULL);
}

TEST(Crc64, IsTheSameWhenComputedInPieces)
{
    std::string data(1000, 'x');
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<char>(i * 31);
    }
    auto whole = rdb::crc64(0, as_bytes(data));
    auto part = rdb::crc64(rdb::crc64(0, as_bytes(std::string_view(data).substr(0, 333))),
                           as_bytes(std::string_view(data).substr(333)));
    EXPECT_EQ(whole, part);
}

TEST(Lzf, DecompressesLiteralsAndOverlappingBackReferences)
{
    // From redis: 200 x 'a' compressed: literal "a", then back references of distance 1.
    auto out = rdb::lzf_decompress(as_bytes(unhex("0161 61e0bb000161 61")), 200);
    ASSERT_TRUE(out.has_value()) << out.error().to_string();
    EXPECT_EQ(*out, std::string(200, 'a'));
}

TEST(Lzf, RejectsReferencesBeforeTheStartAndWrongLengths)
{
    EXPECT_FALSE(rdb::lzf_decompress(as_bytes(unhex("2005")), 3).has_value()); // back reference with empty output
    EXPECT_FALSE(rdb::lzf_decompress(as_bytes(unhex("0261")), 3).has_value()); // literal run past the input
    EXPECT_FALSE(rdb::lzf_decompress(as_bytes(unhex("0061")), 2).has_value()); // shorter than announced
}

TEST(ModuleName, DecodesTheNineCharacterNameFromTheId)
{
    // Encode "ReJSON-RL" with encoding version 3 as redis does: 6 bits per character, then 10 bits of version.
    const std::string charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::uint64_t id = 0;
    for (char ch : std::string("ReJSON-RL")) {
        id = (id << 6) | charset.find(ch);
    }
    id = (id << 10) | 3;
    EXPECT_EQ(rdb::module_name(id), "ReJSON-RL");
}

TEST(RdbParser, ParsesEveryTypeRedis7WritesAndRebuildsTheExactDumpPayload)
{
    std::string body = "\xfa" + str("redis-ver") + str("7.0.15") + "\xfe" + length(0) + "\xfb" + length(15) + length(0);
    for (const auto& s : k_samples) {
        body += record_from_dump(s.key, unhex(s.dump_hex));
    }
    auto file = rdb_file(body);
    for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{64}}) {
        auto run = parse(file, chunk);
        ASSERT_TRUE(run.consumed.has_value()) << run.consumed.error().to_string();
        ASSERT_TRUE(run.finished.has_value()) << run.finished.error().to_string();
        EXPECT_EQ(*run.consumed, file.size());
        ASSERT_EQ(run.c.keys.size(), k_samples.size());
        for (std::size_t i = 0; i < k_samples.size(); ++i) {
            EXPECT_EQ(run.c.keys[i], k_samples[i].key);
            auto dump = unhex(k_samples[i].dump_hex);
            EXPECT_EQ(run.c.types[i], static_cast<std::uint8_t>(dump[0])) << k_samples[i].key;
            EXPECT_EQ(rdb::dump_payload(static_cast<std::uint8_t>(run.c.types[i]), as_bytes(run.c.values[i]), 10), dump)
                << k_samples[i].key << " with chunk " << chunk;
        }
        EXPECT_EQ(run.summary.rdb_version, 10);
        EXPECT_EQ(run.summary.aux.at("redis-ver"), "7.0.15");
        EXPECT_EQ(run.summary.keys_per_db.at(0), static_cast<std::int64_t>(k_samples.size()));
        EXPECT_TRUE(run.summary.checksum_verified);
    }
}

TEST(RdbParser, DecodesIntegerAndLzfEncodedKeysAndAuxValues)
{
    std::string lzf_key = unhex("c30940c8016161e0bb000161 61");               // 200 x 'a'
    std::string body = "\xfa" + str("redis-bits") + unhex("c040") +           // int8 64
                       "\xfa" + str("ctime") + unhex("c2 60 79 fe ff") +      // int32 -100000
                       std::string("\x00", 1) + unhex("c139 30") + str("v") + // key 12345
                       std::string("\x00", 1) + lzf_key + str("w");
    auto run = parse(rdb_file(body));
    ASSERT_TRUE(run.finished.has_value()) << run.finished.error().to_string();
    EXPECT_EQ(run.summary.aux.at("redis-bits"), "64");
    EXPECT_EQ(run.summary.aux.at("ctime"), "-100000");
    ASSERT_EQ(run.c.keys.size(), 2u);
    EXPECT_EQ(run.c.keys[0], "12345");
    EXPECT_EQ(run.c.keys[1], std::string(200, 'a'));
    EXPECT_EQ(run.c.values[1], str("w"));
}

TEST(RdbParser, TracksDatabasesExpiriesFunctionsAndTheIdleTimeAndFrequencyOfEachKey)
{
    // Opcodes as rdb.h numbers them: IDLE 0xF8 (248), FREQ 0xF9 (249), MODULE_AUX 0xF7 (247).
    std::string body = "\xfe" + length(0) + std::string("\x00", 1) + str("a") + str("1") + //
                       "\xfe" + length(3) + "\xfb" + length(2) + length(1) +               //
                       "\xfc" + le(1'800'000'000'123ULL, 8) + "\xf8" + length(500) + std::string("\x00", 1) + str("b") +
                       str("2") + //
                       "\xfd" + le(1'800'000'000ULL, 4) + "\xf9" + "\x05" + std::string("\x00", 1) + str("c") +
                       str("3") + "\xf5" + str("#!lua name=lib\nreturn 1") + "\xf4" + length(1) + length(2) + length(3);
    auto run = parse(rdb_file(body, 11));
    ASSERT_TRUE(run.finished.has_value()) << run.finished.error().to_string();
    ASSERT_EQ(run.c.keys.size(), 3u);
    EXPECT_EQ(run.c.dbs, (std::vector<int>{0, 3, 3}));
    EXPECT_EQ(run.c.expires, (std::vector<std::int64_t>{-1, 1'800'000'000'123LL, 1'800'000'000'000LL}));
    // IDLE and FREQ belong to the key that follows them only.
    EXPECT_EQ(run.c.idles, (std::vector<std::int64_t>{-1, 500, -1}));
    EXPECT_EQ(run.c.freqs, (std::vector<int>{-1, -1, 5}));
    EXPECT_EQ(run.summary.keys_per_db.at(0), 1);
    EXPECT_EQ(run.summary.keys_per_db.at(3), 2);
    EXPECT_EQ(run.summary.keys_with_expiry, 2);
    ASSERT_EQ(run.c.functions.size(), 1u);
    EXPECT_EQ(run.c.functions[0], "#!lua name=lib\nreturn 1");
}

// The fuzz corpus's seeds (a piece-size byte, then an RDB) include files real redis-server 7.0 wrote under LRU and
// LFU policies, with and without compression and checksums and with small thresholds: each parses, and every
// key of an LFU file has its counter, of an LRU file its idle time.
TEST(RdbParser, ParsesEverySeedOfTheFuzzCorpus)
{
    const std::filesystem::path dir = std::filesystem::path(DBKEEP_SOURCE_DIR) / "tests/fuzz/corpus";
    int files = 0;
    for (const auto& f : std::filesystem::directory_iterator(dir)) {
        SCOPED_TRACE(f.path().filename().string());
        std::ifstream in(f.path(), std::ios::binary);
        std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        ASSERT_FALSE(data.empty());
        auto run = parse(data.substr(1), 7);
        ASSERT_TRUE(run.finished.has_value()) << run.finished.error().to_string();
        const std::string name = f.path().filename().string();
        for (std::size_t i = 0; i < run.c.keys.size(); ++i) {
            if (name.find("lfu") != std::string::npos) {
                EXPECT_GE(run.c.freqs[i], 0) << run.c.keys[i];
                EXPECT_EQ(run.c.idles[i], -1) << run.c.keys[i];
            } else if (name.find("lru") != std::string::npos) {
                EXPECT_GE(run.c.idles[i], 0) << run.c.keys[i];
                EXPECT_EQ(run.c.freqs[i], -1) << run.c.keys[i];
            }
        }
        ++files;
    }
    EXPECT_GE(files, 7);
}

TEST(RdbParser, ParsesStreamsOfVersionThreeWithConsumerActiveTime)
{
    std::string value = length(0) +                                                   // no listpack nodes
                        length(0) + length(5) + length(1) +                           // length, last id
                        length(0) + length(0) + length(0) + length(0) + length(3) +   // first id, max deleted, added
                        length(1) + str("g") + length(5) + length(1) + length(3) +    // group, last id, entries read
                        length(1) + std::string(16, '\x01') + le(42, 8) + length(1) + // group PEL
                        length(1) + str("consumer") + le(43, 8) + le(44, 8) +         // consumer, seen, active
                        length(1) + std::string(16, '\x01');                          // consumer PEL
    std::string body =
        std::string(1, '\x15') + str("stream") + value + std::string("\x00", 1) + str("after") + str("x");
    auto run = parse(rdb_file(body, 11));
    ASSERT_TRUE(run.finished.has_value()) << run.finished.error().to_string();
    ASSERT_EQ(run.c.keys.size(), 2u);
    EXPECT_EQ(run.c.values[0], value);
    EXPECT_EQ(run.c.keys[1], "after");
}

TEST(RdbParser, ReportsTruncationAtEveryLengthAsCorruption)
{
    std::string body;
    for (const auto& s : k_samples) {
        body += record_from_dump(s.key, unhex(s.dump_hex));
    }
    auto file = rdb_file(body);
    for (std::size_t n = 0; n < file.size(); ++n) {
        auto run = parse(file.substr(0, n), 3);
        ASSERT_FALSE(run.finished.has_value()) << "prefix of " << n << " bytes";
        EXPECT_EQ(run.finished.error().kind, ErrorKind::corruption);
    }
}

TEST(RdbParser, RejectsAChecksumMismatchAndAcceptsADisabledChecksum)
{
    auto file = rdb_file(std::string("\x00", 1) + str("k") + str("value"));
    file[13] ^= 0x01; // flips a bit inside the value: same structure, wrong CRC
    auto bad = parse(file);
    ASSERT_FALSE(bad.consumed.has_value());
    EXPECT_EQ(bad.consumed.error().kind, ErrorKind::corruption);
    EXPECT_NE(bad.consumed.error().message.find("crc64"), std::string::npos);

    auto unchecked = parse(rdb_file(std::string("\x00", 1) + str("k") + str("value"), 10, false));
    ASSERT_TRUE(unchecked.finished.has_value());
    EXPECT_FALSE(unchecked.summary.checksum_verified);
}

TEST(RdbParser, StopsAtTheEndAndLeavesTheFollowingBytesUnconsumed)
{
    auto file = rdb_file(std::string("\x00", 1) + str("k") + str("v"));
    auto run = parse(file + "0123456789012345678901234567890123456789");
    ASSERT_TRUE(run.consumed.has_value());
    EXPECT_EQ(*run.consumed, file.size());
    EXPECT_TRUE(run.finished.has_value());
}

TEST(RdbParser, NamesTheModuleWhenTheRdbHoldsModuleData)
{
    const std::string charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::uint64_t id = 0;
    for (char ch : std::string("MBbloom--")) {
        id = (id << 6) | charset.find(ch);
    }
    id = (id << 10) | 2;
    std::string enc(1, static_cast<char>(0x81));
    for (int i = 7; i >= 0; --i) {
        enc.push_back(static_cast<char>((id >> (8 * i)) & 0xff));
    }
    for (const auto& body : {std::string(1, '\x07') + str("bf") + enc, std::string("\xf7") + enc}) {
        auto run = parse(rdb_file(body));
        ASSERT_FALSE(run.consumed.has_value());
        EXPECT_NE(run.consumed.error().message.find("MBbloom--"), std::string::npos) << run.consumed.error().message;
        EXPECT_NE(run.consumed.error().hint.find("back up this server with the module's own tools"), std::string::npos)
            << run.consumed.error().hint;
    }
}

TEST(RdbParser, RejectsUnknownTypesBadSignaturesAndNewerVersions)
{
    EXPECT_EQ(parse(rdb_file(std::string(1, '\x42') + str("k") + str("v"))).consumed.error().kind,
              ErrorKind::corruption);
    EXPECT_EQ(parse("RADIS0010\xff").consumed.error().kind, ErrorKind::corruption);
    auto newer = parse(rdb_file("", 99));
    ASSERT_FALSE(newer.consumed.has_value());
    EXPECT_EQ(newer.consumed.error().kind, ErrorKind::failed);
    EXPECT_NE(newer.consumed.error().message.find("rdb version 99 is not supported"), std::string::npos)
        << newer.consumed.error().message;
    EXPECT_EQ(newer.consumed.error().hint, "use a dbkeep release that knows this redis version");
}

// Opcode 0xf6 (RDB_OPCODE_FUNCTION_PRE_GA): functions as redis 7.0's release candidates saved them, a format no
// released redis reads or writes.
TEST(RdbParser, RefusesFunctionsInTheFormatOfRedisReleaseCandidates)
{
    auto run =
        parse(rdb_file(std::string("\xf6") + str("#!lua name=lib\nredis.register_function('f', function() end)")));
    ASSERT_FALSE(run.consumed.has_value());
    EXPECT_EQ(run.consumed.error().kind, ErrorKind::failed);
    EXPECT_NE(run.consumed.error().message.find("redis 7.0 release candidates"), std::string::npos)
        << run.consumed.error().message;
    EXPECT_EQ(run.consumed.error().hint, "save the data with a released redis version");
}

TEST(RdbParser, StreamsALargeStringInSmallPiecesWithAndWithoutCapture)
{
    std::string big(3 << 20, 'x');
    for (std::size_t i = 0; i < big.size(); i += 4096) {
        big[i] = static_cast<char>('a' + (i / 4096) % 26);
    }
    auto file = rdb_file(std::string("\x00", 1) + str("big") + str(big));
    auto captured = parse(file, 65536, true);
    ASSERT_TRUE(captured.finished.has_value()) << captured.finished.error().to_string();
    ASSERT_EQ(captured.c.values.size(), 1u);
    EXPECT_EQ(captured.c.values[0], str(big));
    auto counted = parse(file, 65536, false);
    ASSERT_TRUE(counted.finished.has_value());
    EXPECT_EQ(counted.summary.keys, 1);
    EXPECT_TRUE(counted.c.values[0].empty());
}

TEST(RdbParser, ParsesOldFormatsWithoutChecksumAndOldDoubles)
{
    // RDB version 4: no CRC trailer; a zset of type 3 stores scores as length-prefixed text (253-255: nan/inf).
    std::string body = std::string(1, '\x03') + str("z") + length(3) + str("a") + "\x03" + "1.5" + str("b") + "\xfe" +
                       str("c") + "\xff";
    std::string file = "REDIS0004" + body + "\xff";
    auto run = parse(file);
    ASSERT_TRUE(run.finished.has_value()) << run.finished.error().to_string();
    EXPECT_EQ(run.c.keys, (std::vector<std::string>{"z"}));
}

TEST(RedisInfo, ParsesKeyspaceLines)
{
    auto ks =
        parse_redis_keyspace("# Keyspace\r\ndb0:keys=12,expires=1,avg_ttl=5\r\ndb3:keys=4,expires=0,avg_ttl=0\r\n");
    EXPECT_EQ(ks, (std::map<std::string, std::int64_t>{{"db0", 12}, {"db3", 4}}));
    EXPECT_EQ(parse_redis_info("# Server\r\nredis_version:7.0.15\r\n").at("redis_version"), "7.0.15");
}

// `dbkeep repair` reads a stored RDB back through inspect_rdb: the stats and details fill_info gives a dump.
TEST(RdbInspect, GivesTheStatisticsADumpRecordsAndRejectsWhatIsNotOneWholeRdb)
{
    // db 0: two keys; db 5: one key (SELECTDB 0xfe).
    const std::string body = std::string("\x00", 1) + str("a") + str("1") + std::string("\x00", 1) + str("b") +
                             str("2") + "\xfe" + length(5) + std::string("\x00", 1) + str("c") + str("3");
    const std::string file = rdb_file(body);
    auto source = stream::make_string_source(file);
    auto info = redis::inspect_rdb(*source);
    ASSERT_TRUE(info) << info.error().to_string();
    EXPECT_EQ(info->stats, (std::map<std::string, std::int64_t>{{"db0", 2}, {"db5", 1}}));
    EXPECT_EQ(info->details["rdb_version"], "10");
    EXPECT_EQ(info->details["rdb_bytes"], std::to_string(file.size()));
    EXPECT_EQ(info->details["rdb_checksum"], "verified");

    auto followed = stream::make_string_source(file + "junk");
    auto extra = redis::inspect_rdb(*followed);
    ASSERT_FALSE(extra);
    EXPECT_EQ(extra.error().kind, ErrorKind::corruption);
    EXPECT_NE(extra.error().message.find("data follows the end"), std::string::npos) << extra.error().to_string();

    auto cut = stream::make_string_source(file.substr(0, file.size() - 3));
    auto truncated = redis::inspect_rdb(*cut);
    ASSERT_FALSE(truncated);
    EXPECT_EQ(truncated.error().kind, ErrorKind::corruption);
}
