// Which keys `dbkeep repair` may give a manifest: only the object keys a target's naming implies.
#include "job/repair.hpp"

#include <gtest/gtest.h>

using dbkeep::job::parse_orphan_key;

TEST(RepairKeys, AcceptsThePlainAndTheEncryptedObjectKeyOfTheTarget)
{
    auto plain = parse_orphan_key("cache", "rdb", "cache/2026/11/20261125T000000Z-a1b2c3.rdb.zst");
    ASSERT_TRUE(plain) << plain.error().to_string();
    EXPECT_EQ(plain->id, "20261125T000000Z-a1b2c3");
    EXPECT_FALSE(plain->encrypted);

    auto encrypted = parse_orphan_key("orders", "pgdump", "orders/2026/11/20261125T000000Z-a1b2c3.pgdump.zst.age");
    ASSERT_TRUE(encrypted) << encrypted.error().to_string();
    EXPECT_EQ(encrypted->id, "20261125T000000Z-a1b2c3");
    EXPECT_TRUE(encrypted->encrypted);
}

TEST(RepairKeys, RefusesKeysTheTargetDoesNotWrite)
{
    const struct {
        const char* key;
        const char* why;
    } k_cases[] = {
        {"cache/2026/11/20261125T000000Z-a1b2c3.pgdump.zst", "another engine's format"},
        {"shop/2026/11/20261125T000000Z-a1b2c3.rdb.zst", "another target's folder"},
        {"cache/2026/10/20261125T000000Z-a1b2c3.rdb.zst", "a month folder its id does not imply"},
        {"cache/2026/11/20261125T000000Z-a1b2c3.rdb", "not compressed"},
        {"cache/2026/11/20261125T000000Z-a1b2c3.rdb.zst.age.bak", "an extra suffix"},
        {"cache/2026/11/20261125T000000Z-A1B2C3.rdb.zst", "an id that is not valid"},
        {"cache/2026/11/x/20261125T000000Z-a1b2c3.rdb.zst", "a deeper folder"},
        {"cache/2026/11/20261125T000000Z-a1b2c3.manifest.json", "a manifest"},
    };
    for (const auto& c : k_cases) {
        auto r = parse_orphan_key("cache", "rdb", c.key);
        ASSERT_FALSE(r) << c.key << ": " << c.why;
        EXPECT_EQ(r.error().kind, dbkeep::ErrorKind::corruption) << c.key;
        EXPECT_NE(r.error().to_string().find(c.key), std::string::npos) << r.error().to_string();
    }
}

// What repair leaves alone says what to do with it instead.
TEST(RepairKeys, APartOfAParallelDumpIsLeftAloneAndPruneOrphansNamedForIt)
{
    auto r = parse_orphan_key("app", "pgdump", "app/2026/11/20261125T000000Z-a1b2c3.part-0001.copy.zst");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, dbkeep::ErrorKind::corruption);
    EXPECT_NE(r.error().message.find("a part of a parallel dump whose manifest is lost"), std::string::npos)
        << r.error().to_string();
    EXPECT_EQ(r.error().hint, "`dbkeep prune app --orphans` deletes it, with the backup's other orphaned objects");
}

TEST(RepairKeys, AKeyOfAnotherEngineIsLeftAloneWithWhereItMayBelong)
{
    auto r = parse_orphan_key("cache", "rdb", "cache/2026/11/20261125T000000Z-a1b2c3.pgdump.zst");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("not a key this target writes"), std::string::npos) << r.error().to_string();
    EXPECT_EQ(r.error().hint, "if it belongs elsewhere, move it there; `dbkeep prune cache --orphans` deletes it");
}
