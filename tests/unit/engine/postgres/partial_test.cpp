// Which TOC entries a partial restore (restore --table/--schema) takes: the pure selection of
// src/engine/postgres/restore.cpp over a table of contents shaped like pg_dump 15's.
#include "engine/postgres/restore.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::engine;
using namespace dbkeep::engine::pg;

namespace {

pgdump::TocEntry entry(std::int64_t id, std::string desc, std::string schema, std::string tag,
                       std::vector<std::int64_t> deps = {})
{
    return pgdump::TocEntry{.dump_id = id,
                            .desc = std::move(desc),
                            .schema = std::move(schema),
                            .name = std::move(tag),
                            .deps = std::move(deps),
                            .has_data = false};
}

// billing.invoices (serial id, an index, a comment), public.customers, public.orders with a foreign key to
// customers, and a trigger on orders calling a function.
std::vector<pgdump::TocEntry> toc()
{
    return {entry(1, "SCHEMA", "", "billing"),
            entry(2, "COMMENT", "", "SCHEMA billing", {1}),
            entry(3, "FUNCTION", "public", "touch()"),
            entry(10, "TABLE", "billing", "invoices", {1}),
            entry(11, "SEQUENCE", "billing", "invoices_id_seq", {1}),
            entry(12, "SEQUENCE OWNED BY", "billing", "invoices_id_seq", {11}),
            entry(13, "COMMENT", "billing", "TABLE invoices", {10}),
            entry(20, "TABLE", "public", "customers"),
            entry(30, "TABLE", "public", "orders"),
            entry(14, "DEFAULT", "billing", "invoices id", {10, 11}),
            entry(15, "TABLE DATA", "billing", "invoices", {10}),
            entry(21, "TABLE DATA", "public", "customers", {20}),
            entry(31, "TABLE DATA", "public", "orders", {30}),
            entry(16, "SEQUENCE SET", "billing", "invoices_id_seq", {11}),
            entry(17, "CONSTRAINT", "billing", "invoices invoices_pkey", {10}),
            entry(22, "CONSTRAINT", "public", "customers customers_pkey", {20}),
            entry(32, "CONSTRAINT", "public", "orders orders_pkey", {30}),
            entry(18, "INDEX", "billing", "invoices_total", {10}),
            entry(33, "TRIGGER", "public", "orders touch", {30, 3}),
            entry(34, "FK CONSTRAINT", "public", "orders orders_customer_id_fkey", {30, 22})};
}

} // namespace

TEST(PartialRestore, ATableComesWithItsDataIndexesSequenceAndMissingSchema)
{
    auto s = select_entries(toc(), {"billing.invoices"}, {}, {"public"});
    EXPECT_EQ(s.ids, (std::vector<std::int64_t>{1, 2, 10, 11, 12, 13, 14, 15, 16, 17, 18}));
    EXPECT_EQ(s.tables,
              (std::set<std::pair<std::string, std::string>>{{"billing", "invoices"}, {"billing", "invoices_id_seq"}}));
    // The schema exists in the destination: neither it nor its comment.
    s = select_entries(toc(), {"invoices"}, {}, {"public", "billing"});
    EXPECT_EQ(s.ids, (std::vector<std::int64_t>{10, 11, 12, 13, 14, 15, 16, 17, 18}));
}

TEST(PartialRestore, ForeignKeysAndTriggersComeOnlyWithWhatTheyReferTo)
{
    auto s = select_entries(toc(), {"orders"}, {}, {"public"});
    EXPECT_EQ(s.ids, (std::vector<std::int64_t>{30, 31, 32})) << "no trigger (its function), no foreign key";
    s = select_entries(toc(), {"public.orders", "customers"}, {}, {"public"});
    EXPECT_EQ(s.ids, (std::vector<std::int64_t>{20, 30, 21, 31, 22, 32, 34}));
}

TEST(PartialRestore, ASchemaTakesEverythingInIt)
{
    auto s = select_entries(toc(), {}, {"billing"}, {"public"});
    EXPECT_EQ(s.ids, (std::vector<std::int64_t>{1, 2, 10, 11, 12, 13, 14, 15, 16, 17, 18}));
    EXPECT_EQ(s.schemas, (std::set<std::string>{"billing"}));
}

TEST(PartialRestore, NamesTheDumpLacksAreListed)
{
    EXPECT_TRUE(missing_names(toc(), {"orders", "billing.invoices"}, {"billing"}).empty());
    EXPECT_EQ(missing_names(toc(), {"nope", "billing.orders", "touch()"}, {"public", "audit"}),
              (std::vector<std::string>{"table nope", "table billing.orders", "table touch()", "schema audit"}));
}

// verify --restore makes and drops its scratch database: exactly the server's own databases are refused, not a
// name that merely starts like one.
TEST(ReservedDatabase, ExactlyPostgresTemplate0AndTemplate1)
{
    for (const char* name : {"postgres", "template0", "template1"}) {
        EXPECT_TRUE(reserved_database(name)) << name;
    }
    for (const char* name : {"", "templates_scratch", "template", "template2", "Postgres", "postgres2", "scratch"}) {
        EXPECT_FALSE(reserved_database(name)) << name;
    }
}
