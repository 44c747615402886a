// The pure parts of the parallel PostgreSQL dump (src/engine/postgres/parallel.cpp): how tables are cut into
// ctid chunks, the statements that copy them, and reading a part's details back from a manifest (input, never
// trusted).
#include "engine/postgres/dump.hpp"
#include "engine/postgres/parallel.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::engine::pg;

namespace {

// Every page from 0 is covered once, in order, and only the last chunk is open-ended.
void expect_covering(const std::vector<Chunk>& chunks, std::uint64_t pages)
{
    ASSERT_FALSE(chunks.empty());
    std::uint64_t next = 0;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
        EXPECT_EQ(chunks[i].first_page, next) << i;
        if (i + 1 < chunks.size()) {
            ASSERT_TRUE(chunks[i].end_page) << i;
            EXPECT_GT(*chunks[i].end_page, chunks[i].first_page) << i;
            next = *chunks[i].end_page;
        } else {
            EXPECT_FALSE(chunks[i].end_page);
            EXPECT_LE(chunks[i].first_page, pages);
        }
    }
}

} // namespace

TEST(ParallelDump, ATableGetsAtLeastOneChunkPerJobAndAtMostChunkPagesEach)
{
    auto c = plan_chunks("public", "big", {"id"}, 1600, 4, 100000);
    EXPECT_EQ(c.size(), 16u); // 4 per connection
    expect_covering(c, 1600);
    EXPECT_EQ(*c[0].end_page, 100u);

    c = plan_chunks("public", "big", {"id"}, 1001, 2, 100);
    EXPECT_EQ(c.size(), 12u); // ceil(1001 / 100) = 11, rounded up to a multiple of the 2 connections
    expect_covering(c, 1001);
    for (std::size_t i = 0; i + 1 < c.size(); ++i) {
        EXPECT_LE(*c[i].end_page - c[i].first_page, 100u);
    }
}

TEST(ParallelDump, ATinyOrEmptyTableGetsOneOpenEndedChunk)
{
    auto c = plan_chunks("public", "t", {"id"}, 0, 8, 100);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].first_page, 0u);
    EXPECT_FALSE(c[0].end_page);
    c = plan_chunks("public", "t", {"id"}, 3, 8, 100);
    EXPECT_EQ(c.size(), 3u);
    expect_covering(c, 3);
}

TEST(ParallelDump, StatementsQuoteEveryNameAndBoundTheRangeByCtid)
{
    Chunk c{"Odd \"S\"", "Tab le", {"col \"1\"", "plain"}, 10, 20};
    EXPECT_EQ(chunk_copy_out_sql(c), "COPY (SELECT \"col \"\"1\"\"\", \"plain\" FROM ONLY \"Odd \"\"S\"\"\".\"Tab le\" "
                                     "WHERE ctid >= '(10,0)'::tid AND ctid < '(20,0)'::tid) TO STDOUT");
    EXPECT_EQ(chunk_copy_in_sql(c), "COPY \"Odd \"\"S\"\"\".\"Tab le\" (\"col \"\"1\"\"\", \"plain\") FROM STDIN");
    c.first_page = 0;
    c.end_page.reset();
    EXPECT_EQ(chunk_copy_out_sql(c),
              "COPY (SELECT \"col \"\"1\"\"\", \"plain\" FROM ONLY \"Odd \"\"S\"\"\".\"Tab le\") TO STDOUT");
    c.columns.clear();
    EXPECT_EQ(chunk_copy_in_sql(c), "COPY \"Odd \"\"S\"\"\".\"Tab le\" FROM STDIN");
    EXPECT_EQ(exact_table_pattern("Odd \"S\"", "Tab.le*"), "\"Odd \"\"S\"\"\".\"Tab.le*\"");
}

TEST(ParallelDump, DetailsRoundTripAndMalformedOnesAreCorruption)
{
    Chunk c{"public", "big", {"id", "na\"me"}, 5, 9};
    auto back = chunk_from_details(chunk_details(c));
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(back->schema, "public");
    EXPECT_EQ(back->table, "big");
    EXPECT_EQ(back->columns, c.columns);
    EXPECT_EQ(back->first_page, 5u);
    EXPECT_EQ(back->end_page, std::optional<std::uint64_t>(9));
    c.end_page.reset();
    back = chunk_from_details(chunk_details(c));
    ASSERT_TRUE(back);
    EXPECT_FALSE(back->end_page);

    const auto good = chunk_details(Chunk{"public", "big", {"id"}, 5, 9});
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{{"format", "binary"},
                                                                                     {"table", ""},
                                                                                     {"columns", "id"},
                                                                                     {"columns", "[1]"},
                                                                                     {"columns", "[\"\"]"},
                                                                                     {"first_page", "-1"},
                                                                                     {"first_page", "5x"},
                                                                                     {"end_page", "5"},
                                                                                     {"end_page", "3"}}) {
        auto d = good;
        d[key] = value;
        auto r = chunk_from_details(d);
        ASSERT_FALSE(r) << key << "=" << value;
        EXPECT_EQ(r.error().kind, ErrorKind::corruption) << key << "=" << value;
    }
    auto d = good;
    d.erase("schema");
    EXPECT_FALSE(chunk_from_details(d));
}
