// The custom-format archive reader against archives written by the real pg_dump 15: its table list, row
// counts, large objects and TOC entry count agree with `pg_restore -l` and with count(*) on the source, in any
// chunking; truncated and corrupted archives are corruption errors.
#include "engine/postgres/custom_format.hpp"
#include "support/postgres_server.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

// Rows with tabs, newlines, carriage returns, backslashes, a lone `\.` value, empty strings and NULLs; an empty
// table; two large objects; a quoted schema and table; and many tables.
std::string seed_sql()
{
    std::string sql = R"SQL(
CREATE TABLE public.tricky (id int, t text, b bytea);
INSERT INTO public.tricky VALUES
  (1, E'tab\there', E'\\x00'),
  (2, E'new\nline\r\nand cr', NULL),
  (3, E'back\\slash \\. \\N', E'\\x5c2e0a'),
  (4, E'\\.', NULL),
  (5, '', ''),
  (6, NULL, NULL),
  (7, E'.\n\\.\n', NULL);
INSERT INTO public.tricky SELECT g, repeat(E'x\ty\n\\', g % 50), NULL FROM generate_series(8, 3000) g;
CREATE TABLE public.empty_table (x int);
CREATE TABLE public.one_empty_column (x text);
INSERT INTO public.one_empty_column VALUES (''), (''), (NULL);
CREATE SCHEMA "Billing";
CREATE TABLE "Billing"."Mixed Case" (id int);
INSERT INTO "Billing"."Mixed Case" SELECT generate_series(1, 77);
SELECT lo_from_bytea(424242, decode(repeat('deadbeef', 5000), 'hex'));
SELECT lo_from_bytea(424243, '');
CREATE MATERIALIZED VIEW public.mv AS SELECT id FROM public.tricky;
CREATE SEQUENCE public.seq;
)SQL";
    for (int i = 0; i < 60; ++i) {
        sql += "CREATE TABLE public.many_" + std::to_string(i) + " AS SELECT g FROM generate_series(1, " +
               std::to_string(i * 7) + ") g;\n";
    }
    return sql;
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class PostgresArchive : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        if (!PostgresServer::skip_reason().empty()) {
            return;
        }
        s_pg = new PostgresServer();
        s_pg->create_database("app");
        s_pg->psql("app", seed_sql());
        s_dir = new TempDir();
        s_path = (s_dir->path() / "app.pgdump").string();
        auto r = run({PostgresServer::bin_dir() + "/pg_dump", "--format=custom", "--compress=0", "--file=" + s_path,
                      "--dbname=" + s_pg->url("app")});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        s_archive = new std::string(read_file(s_path));
    }
    static void TearDownTestSuite()
    {
        delete s_archive;
        delete s_dir;
        delete s_pg;
        s_archive = nullptr;
        s_dir = nullptr;
        s_pg = nullptr;
    }
    void SetUp() override
    {
        if (s_pg == nullptr) {
            GTEST_SKIP() << PostgresServer::skip_reason();
        }
    }

    // Reads `data` in pieces of `piece` bytes; the reader's verdict.
    static Status read(engine::pgdump::Reader& reader, const std::string& data, std::size_t piece)
    {
        Bytes all = as_bytes(data);
        for (std::size_t pos = 0; pos < all.size(); pos += piece) {
            if (auto st = reader.feed(all.subspan(pos, std::min(piece, all.size() - pos))); !st) {
                return st;
            }
        }
        return reader.finish();
    }

    static std::map<std::string, std::int64_t> table_rows(const engine::pgdump::Summary& s)
    {
        std::map<std::string, std::int64_t> out;
        for (const auto& e : s.data) {
            if (e.desc == "TABLE DATA") {
                out[e.schema + "." + e.name] = e.rows;
            }
        }
        return out;
    }

    static inline PostgresServer* s_pg = nullptr;
    static inline TempDir* s_dir = nullptr;
    static inline std::string s_path;
    static inline std::string* s_archive = nullptr;
};

TEST_F(PostgresArchive, TablesCountsLargeObjectsAndTocAgreeWithPgRestoreAndTheSource)
{
    engine::pgdump::Reader reader;
    ASSERT_TRUE(read(reader, *s_archive, s_archive->size()).has_value());
    const auto& s = reader.summary();
    EXPECT_TRUE(s.supported) << s.unsupported;
    EXPECT_EQ(s.database, "app");
    EXPECT_EQ(s.server_version.substr(0, 3), "15.");
    EXPECT_EQ(s.dump_version.substr(0, 3), "15.");
    EXPECT_EQ(s.encoding, "UTF8");
    EXPECT_EQ(s.version_major, 1);
    EXPECT_EQ(s.version_minor, 14);

    // pg_restore -l lists every TOC entry: "dumpId; tableoid oid DESC schema tag owner".
    auto list = run({PostgresServer::bin_dir() + "/pg_restore", "-l", s_path});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    std::istringstream lines(list.out);
    std::string line;
    std::int64_t entries = 0;
    std::map<std::string, std::int64_t> listed; // schema.table of each TABLE DATA entry
    std::int64_t blob_entries = 0;
    std::int64_t header_count = -1; // ";     TOC Entries: 140"
    while (std::getline(lines, line)) {
        if (auto at = line.find("TOC Entries: "); line.starts_with(";") && at != std::string::npos) {
            header_count = std::stoll(line.substr(at + 13));
        }
        if (line.empty() || line[0] == ';') {
            continue;
        }
        ++entries;
        if (auto at = line.find(" TABLE DATA "); at != std::string::npos) {
            std::istringstream rest(line.substr(at + 12));
            std::string schema, table;
            rest >> schema >> table;
            listed[schema + "." + table] = 0;
        }
        if (line.find(" BLOB ") != std::string::npos) {
            ++blob_entries;
        }
    }
    EXPECT_EQ(s.toc_entries, header_count);
    // The list leaves out the entries pg_restore handles itself: ENCODING, STDSTRINGS, SEARCHPATH, DATABASE.
    EXPECT_EQ(s.toc_entries, entries + 4);
    auto rows = table_rows(s);
    // pg_restore -l prints names unquoted and cut at blanks: compare the names without blanks.
    std::map<std::string, std::int64_t> ours_listed;
    for (const auto& [name, n] : rows) {
        ours_listed[name.substr(0, name.find(' '))] = 0;
    }
    EXPECT_EQ(ours_listed, listed);
    EXPECT_EQ(rows.size(), 64u); // tricky, empty_table, one_empty_column, Mixed Case, 60 many_N
    for (const auto& e : s.data) {
        EXPECT_EQ(e.table_entry, e.desc == "TABLE DATA") << e.desc << " " << e.name; // no extension tables here
    }

    // Every table's rows as the source counts them.
    for (const auto& [name, n] : rows) {
        auto dot = name.find('.');
        std::string qualified = "\"" + name.substr(0, dot) + "\".\"" + name.substr(dot + 1) + "\"";
        auto count = s_pg->psql("app", "SELECT count(*) FROM " + qualified);
        EXPECT_EQ(std::to_string(n), count) << name;
    }
    EXPECT_EQ(rows["public.tricky"], 3000);
    EXPECT_EQ(rows["public.empty_table"], 0);
    EXPECT_EQ(rows["public.one_empty_column"], 3);
    EXPECT_EQ(rows["Billing.Mixed Case"], 77);
    EXPECT_EQ(rows["public.many_59"], 59 * 7);
    EXPECT_EQ(s.large_objects, 2);
    EXPECT_EQ(blob_entries, 2);
    EXPECT_EQ(std::to_string(s.large_objects), s_pg->psql("app", "SELECT count(*) FROM pg_largeobject_metadata"));
}

TEST_F(PostgresArchive, AnyChunkingGivesTheSameCounts)
{
    engine::pgdump::Reader whole;
    ASSERT_TRUE(read(whole, *s_archive, s_archive->size()).has_value());
    for (std::size_t piece :
         {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{509}, std::size_t{4096}, std::size_t{65537}}) {
        engine::pgdump::Reader reader;
        auto st = read(reader, *s_archive, piece);
        ASSERT_TRUE(st.has_value()) << piece << ": " << st.error().to_string();
        EXPECT_EQ(table_rows(reader.summary()), table_rows(whole.summary())) << piece;
        EXPECT_EQ(reader.summary().large_objects, whole.summary().large_objects) << piece;
        EXPECT_EQ(reader.summary().toc_entries, whole.summary().toc_entries) << piece;
    }
}

TEST_F(PostgresArchive, EveryTruncationIsACorruptionError)
{
    const auto& a = *s_archive;
    std::vector<std::size_t> cuts;
    for (std::size_t n = 0; n < std::min<std::size_t>(a.size(), 4000); ++n) {
        cuts.push_back(n);
    }
    for (std::size_t n = 4000; n < a.size(); n += 61) {
        cuts.push_back(n);
    }
    cuts.push_back(a.size() - 1);
    for (auto n : cuts) {
        engine::pgdump::Reader reader;
        auto st = read(reader, a.substr(0, n), 4096);
        ASSERT_FALSE(st.has_value()) << "cut at " << n << " of " << a.size();
        EXPECT_EQ(st.error().kind, ErrorKind::corruption) << n;
        EXPECT_NE(st.error().message.find("truncated"), std::string::npos) << n << ": " << st.error().message;
    }
}

TEST_F(PostgresArchive, CorruptedArchivesAreCorruptionErrorsNeverCrashes)
{
    const auto& a = *s_archive;
    auto expect_corrupt = [](const std::string& data, const std::string& what) {
        engine::pgdump::Reader reader;
        auto st = read(reader, data, 1000);
        ASSERT_FALSE(st.has_value()) << what;
        EXPECT_EQ(st.error().kind, ErrorKind::corruption) << what;
        // Sticky: another feed says the same.
        EXPECT_FALSE(reader.feed(as_bytes("x")).has_value()) << what;
    };
    std::string bad = a;
    bad[0] = 'X';
    expect_corrupt(bad, "magic");
    bad = a;
    bad[8] = 0; // int size
    expect_corrupt(bad, "int size");
    bad = a;
    bad[10] = 3; // format: tar
    expect_corrupt(bad, "format");
    // The database name's length (after magic 5, version 3, sizes 2, format 1, compression 5, date 7*5) made
    // 2^31-1: longer than any string may be, and never allocated.
    bad = a;
    const std::size_t len_at = 5 + 3 + 2 + 1 + 5 + 35;
    bad.replace(len_at, 5, std::string("\x00\xff\xff\xff\x7f", 5));
    expect_corrupt(bad, "string length");
    // Garbage where the first data block begins: the block type of the data after the TOC.
    expect_corrupt("PGDMP" + std::string(200, '\xff'), "garbage");
    expect_corrupt(a + std::string("\x09", 1), "unknown block after the end");
    expect_corrupt(a + a.substr(a.size() - 40), "trailing bytes");

    // Random byte flips: an error is always corruption, and nothing crashes or hangs.
    std::mt19937 rng(12345);
    for (int i = 0; i < 300; ++i) {
        std::string flipped = a;
        for (int k = 0; k < 3; ++k) {
            flipped[rng() % flipped.size()] = static_cast<char>(rng() & 0xff);
        }
        engine::pgdump::Reader reader;
        auto st = read(reader, flipped, 1 + rng() % 5000);
        if (!st) {
            EXPECT_EQ(st.error().kind, ErrorKind::corruption) << st.error().to_string();
        }
    }
}

TEST_F(PostgresArchive, ACompressedArchiveIsReadWithoutCounts)
{
    auto path = (s_dir->path() / "compressed.pgdump").string();
    auto r = run({PostgresServer::bin_dir() + "/pg_dump", "--format=custom", "--compress=6", "--file=" + path,
                  "--dbname=" + s_pg->url("app")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    engine::pgdump::Reader reader;
    auto st = read(reader, read_file(path), 333);
    ASSERT_TRUE(st.has_value()) << st.error().to_string();
    EXPECT_FALSE(reader.summary().supported);
    EXPECT_NE(reader.summary().unsupported.find("compressed"), std::string::npos) << reader.summary().unsupported;
}

} // namespace
