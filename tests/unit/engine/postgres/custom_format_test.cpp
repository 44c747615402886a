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

namespace {

// The reader's TOC entries as `pg_restore -l` prints them (its PrintTOCSummary line), those it lists only.
std::vector<std::string> listed(const engine::pgdump::Summary& s)
{
    std::vector<std::string> out;
    for (const auto& e : s.toc) {
        if (engine::pgdump::listed_by_pg_restore(e)) {
            out.push_back(std::to_string(e.dump_id) + "; " + e.table_oid + " " + e.oid + " " + e.desc + " " +
                          (e.schema.empty() ? "-" : e.schema) + " " + e.name + " " + e.owner);
        }
    }
    return out;
}

} // namespace

// The expected lines are `pg_restore -l` (PostgreSQL 15) of the same seeds, its comment lines left out.
TEST(PgDumpArchive, KeepsTheTocEntriesThatPgRestoreLists)
{
    engine::pgdump::Reader r(true);
    ASSERT_TRUE(read(r, seed("copy-escapes.pgdump"), 11).has_value());
    EXPECT_EQ(listed(r.summary()), (std::vector<std::string>{
                                       "215; 1259 16392 TABLE public e postgres",
                                       "214; 1259 16387 TABLE public t postgres",
                                       "3343; 0 16392 TABLE DATA public e postgres",
                                       "3342; 0 16387 TABLE DATA public t postgres",
                                   }));
    // Every entry is kept, the ones pg_restore handles specially too, with its section.
    EXPECT_EQ(static_cast<std::int64_t>(r.summary().toc.size()), r.summary().toc_entries);
    bool encoding = false;
    for (const auto& e : r.summary().toc) {
        encoding = encoding || e.desc == "ENCODING";
        if (e.desc == "TABLE DATA") {
            EXPECT_STREQ(engine::pgdump::section_name(e.section), "data");
            EXPECT_TRUE(e.had_dumper);
        }
        if (e.desc == "TABLE") {
            EXPECT_STREQ(engine::pgdump::section_name(e.section), "pre-data");
            EXPECT_TRUE(e.has_definition);
        }
    }
    EXPECT_TRUE(encoding);

    engine::pgdump::Reader lo(true);
    ASSERT_TRUE(read(lo, seed("large-objects.pgdump"), 2).has_value());
    EXPECT_EQ(listed(lo.summary()), (std::vector<std::string>{
                                        "214; 1259 16395 TABLE public one postgres",
                                        "3339; 2613 77 BLOB - 77 postgres",
                                        "3340; 2613 78 BLOB - 78 postgres",
                                        "3338; 0 16395 TABLE DATA public one postgres",
                                        "3341; 0 0 BLOBS - BLOBS ",
                                    }));

    engine::pgdump::Reader plain;
    ASSERT_TRUE(read(plain, seed("copy-escapes.pgdump"), 64).has_value());
    // Without keep_toc the entries are kept (a partial restore picks from them) without their owners and ids.
    ASSERT_FALSE(plain.summary().toc.empty());
    for (const auto& e : plain.summary().toc) {
        EXPECT_TRUE(e.owner.empty() && e.oid.empty()) << e.dump_id << " " << e.desc;
    }
}

// `dbkeep show` reads an archive through object_contents: the TOC as pg_restore -l lists it, with each table's rows.
TEST(PgDumpArchive, ContentsListTheTocWithRowsAndLeaveOtherDataUnread)
{
    auto source = stream::make_string_source(seed("quoted-schema.pgdump"));
    auto c = engine::pg::object_contents(*source, {});
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(c->kind, "pg_dump custom archive");
    EXPECT_EQ(c->counts, (std::map<std::string, std::int64_t>{{"s.Q t", 2}}));
    ASSERT_EQ(c->columns, (std::vector<std::string>{"id", "table_oid", "oid", "section", "desc", "schema", "name",
                                                    "owner", "rows"}));
    ASSERT_EQ(c->entries.size(), 3u);
    EXPECT_EQ(c->entries[0],
              (std::vector<std::string>{"6", "2615", "16398", "pre-data", "SCHEMA", "-", "s", "postgres", ""}));
    EXPECT_EQ(c->entries[2],
              (std::vector<std::string>{"3339", "0", "16399", "data", "TABLE DATA", "s", "Q t", "postgres", "2"}));
    EXPECT_EQ(c->facts["encoding"], "UTF8");

    auto copy = stream::make_string_source("1\tx\n2\ty\n");
    auto chunk = engine::pg::object_contents(*copy, {{"format", "copy-text"}, {"table", "t"}});
    ASSERT_TRUE(chunk) << chunk.error().to_string();
    EXPECT_EQ(chunk->kind, "copy-text");
    EXPECT_TRUE(chunk->entries.empty());
}
