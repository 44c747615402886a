// The custom-format archive reader (src/engine/postgres/custom_format) on the small archives kept as fuzz seeds
// (tests/fuzz/corpus-pgdump, written by pg_dump 15 with --compress=0; each file's first byte is the fuzzer's
// piece-size selector): without a server, so it also runs under the sanitizers. The live cross-checks against
// pg_restore -l and count(*) are in tests/integration/postgres_archive_test.cpp.
#include "engine/postgres/custom_format.hpp"
#include "engine/postgres/dump.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

using namespace dbkeep;

namespace {

std::string seed(const std::string& name)
{
    std::ifstream in(std::string(DBKEEP_SOURCE_DIR) + "/tests/fuzz/corpus-pgdump/" + name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.empty() ? s : s.substr(1);
}

Status read(engine::pgdump::Reader& r, const std::string& data, std::size_t piece)
{
    Bytes all = as_bytes(data);
    for (std::size_t pos = 0; pos < all.size(); pos += piece) {
        if (auto st = r.feed(all.subspan(pos, std::min(piece, all.size() - pos))); !st) {
            return st;
        }
    }
    return r.finish();
}

std::map<std::string, std::int64_t> rows(const engine::pgdump::Summary& s)
{
    std::map<std::string, std::int64_t> out;
    for (const auto& e : s.data) {
        if (e.desc == "TABLE DATA") {
            out[e.schema + "." + e.name] = e.rows;
        }
    }
    return out;
}

} // namespace

TEST(PgDumpArchive, CountsCopyRowsWithEscapedTabsNewlinesAndBackslashesInAnyChunking)
{
    const auto a = seed("copy-escapes.pgdump");
    ASSERT_GT(a.size(), 100u);
    for (std::size_t piece : {std::size_t{1}, std::size_t{3}, std::size_t{64}, a.size()}) {
        engine::pgdump::Reader r;
        ASSERT_TRUE(read(r, a, piece).has_value()) << piece;
        const auto& s = r.summary();
        EXPECT_EQ(s.database, "s1");
        EXPECT_EQ(s.encoding, "UTF8");
        // t holds 1 x\ty, 2 new\nline, 3 \\., 4 NULL; e is empty.
        EXPECT_EQ(rows(s), (std::map<std::string, std::int64_t>{{"public.e", 0}, {"public.t", 4}})) << piece;
        EXPECT_EQ(s.large_objects, 0);
        EXPECT_GT(s.toc_entries, 4);
    }
}

TEST(PgDumpArchive, CountsLargeObjectsIncludingAnEmptyOne)
{
    engine::pgdump::Reader r;
    ASSERT_TRUE(read(r, seed("large-objects.pgdump"), 5).has_value());
    EXPECT_EQ(r.summary().large_objects, 2);
    EXPECT_EQ(rows(r.summary()), (std::map<std::string, std::int64_t>{{"public.one", 1}}));
}

TEST(PgDumpArchive, KeepsQuotedSchemaAndTableNamesAsBytes)
{
    engine::pgdump::Reader r;
    ASSERT_TRUE(read(r, seed("quoted-schema.pgdump"), 7).has_value());
    // "Q t" holds an empty string and a lone \. value (written \\.): two rows.
    EXPECT_EQ(rows(r.summary()), (std::map<std::string, std::int64_t>{{"s.Q t", 2}}));
}

TEST(PgDumpArchive, TruncatedOrCorruptInputIsACorruptionErrorThatSticks)
{
    const auto a = seed("copy-escapes.pgdump");
    for (std::size_t n = 0; n < a.size(); ++n) {
        engine::pgdump::Reader r;
        auto st = read(r, a.substr(0, n), 13);
        ASSERT_FALSE(st.has_value()) << n;
        EXPECT_EQ(st.error().kind, ErrorKind::corruption) << n;
    }
    engine::pgdump::Reader r;
    auto st = read(r, "PGDMX" + a.substr(5), a.size());
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().kind, ErrorKind::corruption);
    EXPECT_NE(st.error().message.find("PGDMP"), std::string::npos) << st.error().message;
    EXPECT_FALSE(r.feed(as_bytes(a)).has_value()) << "an error sticks";
}

TEST(PgDumpArchive, ANewerArchiveVersionIsReadWithoutCounts)
{
    auto a = seed("copy-escapes.pgdump");
    a[6] = 99; // version 1.99
    engine::pgdump::Reader r;
    ASSERT_TRUE(read(r, a, 100).has_value());
    EXPECT_FALSE(r.summary().supported);
    EXPECT_NE(r.summary().unsupported.find("1.99"), std::string::npos) << r.summary().unsupported;
}

// `dbkeep repair` reads a stored archive back through inspect_archive: the stats and details a dump records.
TEST(PgDumpArchive, InspectGivesTheStatisticsADumpRecords)
{
    const std::string archive = seed("large-objects.pgdump");
    ASSERT_FALSE(archive.empty());
    auto source = stream::make_string_source(archive);
    auto info = engine::pg::inspect_archive(*source);
    ASSERT_TRUE(info) << info.error().to_string();
    EXPECT_EQ(info->stats, (std::map<std::string, std::int64_t>{{"public.one", 1}}));
    EXPECT_EQ(info->details["large_objects"], "2");
    EXPECT_EQ(info->details["tables_with_data"], "1");
    EXPECT_EQ(info->tool, "pg_dump");
    EXPECT_TRUE(info->tool_version.starts_with("15")) << info->tool_version;
    EXPECT_TRUE(info->server_version.starts_with("15")) << info->server_version;

    auto cut = stream::make_string_source(archive.substr(0, archive.size() - 1));
    auto truncated = engine::pg::inspect_archive(*cut);
    ASSERT_FALSE(truncated);
    EXPECT_EQ(truncated.error().kind, ErrorKind::corruption);
}
