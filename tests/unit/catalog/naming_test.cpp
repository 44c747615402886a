#include "catalog/naming.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <set>

using namespace dbkeep::catalog;
using namespace std::chrono;

namespace {

TimePoint utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0, int ms = 0)
{
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s} + milliseconds{ms};
}

} // namespace

TEST(Naming, BackupIdEncodesTheUtcStartTimeAndTheSuffix)
{
    EXPECT_EQ(make_backup_id(utc(2026, 11, 25, 1, 2, 3, 999), "a1b2c3"), "20261125T010203Z-a1b2c3");
    EXPECT_EQ(make_backup_id(utc(1999, 12, 31, 23, 59, 59), "000000"), "19991231T235959Z-000000");
}

TEST(Naming, RandomSuffixIsSixLowercaseHexCharactersThatVary)
{
    std::set<std::string> seen;
    for (int i = 0; i < 50; ++i) {
        auto s = random_suffix();
        ASSERT_EQ(s.size(), 6u) << s;
        for (char c : s) {
            EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << s;
        }
        seen.insert(s);
    }
    EXPECT_GT(seen.size(), 40u);
}

TEST(Naming, BackupTimeRoundTripsThroughTheId)
{
    for (auto t : {utc(2026, 11, 25), utc(2024, 2, 29, 12, 30, 45), utc(1999, 12, 31, 23, 59, 59), utc(2000, 1, 1),
                   utc(2038, 1, 19, 3, 14, 8), utc(1970, 1, 1)}) {
        auto id = make_backup_id(t, random_suffix());
        auto back = backup_time(id);
        ASSERT_TRUE(back) << id;
        EXPECT_EQ(*back, t) << id;
    }
    // Sub-second precision is not part of the id.
    EXPECT_EQ(backup_time(make_backup_id(utc(2026, 1, 2, 3, 4, 5, 678), "abcdef")), utc(2026, 1, 2, 3, 4, 5));
}

TEST(Naming, BackupTimeRejectsMalformedIds)
{
    for (const char* bad :
         {"", "20261125T000000Z", "20261125T000000Z-a1b2c", "20261125T000000Z-a1b2c3d", "20261125X000000Z-a1b2c3",
          "20261125T000000X-a1b2c3", "20261125T000000Z_a1b2c3", "2026112xT000000Z-a1b2c3", "20261125T00000xZ-a1b2c3",
          "20261125T000000Z-A1B2C3", "20261125T000000Z-../../", "20261125T000000Z-a1b2g3", "20261325T000000Z-a1b2c3",
          "20261100T000000Z-a1b2c3", "20261132T000000Z-a1b2c3", "20260230T000000Z-a1b2c3", "20250229T000000Z-a1b2c3",
          "20261125T240000Z-a1b2c3", "20261125T006000Z-a1b2c3"}) {
        EXPECT_FALSE(backup_time(bad)) << bad;
    }
    EXPECT_TRUE(backup_time("20240229T000000Z-a1b2c3")); // a leap day
}

TEST(Naming, KeysFollowTheStorageLayout)
{
    const std::string id = "20261125T000000Z-a1b2c3";
    EXPECT_EQ(backup_folder("orders", id), "orders/2026/11/");
    EXPECT_EQ(object_key("orders", id, "pgdump", false), "orders/2026/11/20261125T000000Z-a1b2c3.pgdump.zst");
    EXPECT_EQ(object_key("orders", id, "pgdump", true), "orders/2026/11/20261125T000000Z-a1b2c3.pgdump.zst.age");
    EXPECT_EQ(object_key("cache", "20260105T101010Z-ffffff", "rdb", false),
              "cache/2026/01/20260105T101010Z-ffffff.rdb.zst");
    EXPECT_EQ(manifest_key("orders", id), "orders/2026/11/20261125T000000Z-a1b2c3.manifest.json");
    EXPECT_EQ(lease_key("orders"), "orders/lease.json");
    EXPECT_EQ(target_prefix("orders"), "orders/");
    // Every key of a target lives under its prefix.
    for (const auto& key :
         {object_key("orders", id, "pgdump", true), manifest_key("orders", id), lease_key("orders")}) {
        EXPECT_TRUE(key.starts_with(target_prefix("orders"))) << key;
    }
}

TEST(Naming, IdFromManifestKey)
{
    const std::string id = "20261125T000000Z-a1b2c3";
    EXPECT_EQ(id_from_manifest_key(manifest_key("orders", id)), id);
    EXPECT_EQ(id_from_manifest_key("prefix/orders/2026/11/" + id + ".manifest.json"), id);
    EXPECT_EQ(id_from_manifest_key(id + ".manifest.json"), id);
}

TEST(Naming, IdFromManifestKeyRejectsOtherKeys)
{
    for (const auto& key : std::vector<std::string>{
             std::string("orders/2026/11/20261125T000000Z-a1b2c3.pgdump.zst"), std::string("orders/lease.json"),
             std::string("orders/2026/11/.manifest.json"), std::string(".manifest.json"),
             std::string("orders/2026/11/20261125T000000Z-a1b2c3.manifest.json.tmp-0a1b2c3d"),
             std::string("orders/2026/11/20261125T000000Z-a1b2c.manifest.json"),
             std::string("orders/2026/11/notanid-000000-a1b2c3.manifest.json"),
             std::string("orders/2026/11/20261125T000000Z-a1b2c3.manifest.jsonx"),
             std::string("orders/2026/11/x20261125T000000Z-a1b2c3.manifest.json"), std::string("")}) {
        EXPECT_FALSE(id_from_manifest_key(key)) << key;
    }
}

TEST(Naming, IdFromObjectKey)
{
    const std::string id = "20261125T000000Z-a1b2c3";
    EXPECT_EQ(id_from_object_key(object_key("orders", id, "pgdump", false)), id);
    EXPECT_EQ(id_from_object_key(object_key("orders", id, "rdb", true)), id);
    EXPECT_EQ(id_from_object_key(id + ".anything"), id);
}

TEST(Naming, IdFromObjectKeyRejectsManifestsAndOtherKeys)
{
    const std::string id = "20261125T000000Z-a1b2c3";
    for (const auto& key :
         std::vector<std::string>{manifest_key("orders", id), lease_key("orders"), "orders/2026/11/" + id,
                                  "orders/2026/11/" + id + "x.pgdump.zst", "orders/2026/11/short.pgdump.zst",
                                  std::string("orders/2026/11/20261125T000000Z-A1B2C3.pgdump.zst"),
                                  std::string("orders/2026/11/README.txt-with-a-long-enough-name"), std::string("")}) {
        EXPECT_FALSE(id_from_object_key(key)) << key;
    }
}

TEST(Naming, ValidTargetNames)
{
    for (const char* good : {"orders", "Orders_EU-1", "a", "db.prod", "a.b.c", "0", "x-", "-"}) {
        EXPECT_TRUE(valid_target_name(good)) << good;
    }
    EXPECT_TRUE(valid_target_name(std::string(64, 'a')));
    for (const char* bad : {"", ".hidden", "..", "a..b", "a/b", "a b", "a\\b", "ä", "a:b", "../x"}) {
        EXPECT_FALSE(valid_target_name(bad)) << bad;
    }
    EXPECT_FALSE(valid_target_name(std::string(65, 'a')));
}

TEST(Naming, PartKeysAreNumberedInTheBackupsFolderAndBelongToItsId)
{
    const std::string id = "20261125T000000Z-a1b2c3";
    EXPECT_EQ(part_key("orders", id, 1, false), "orders/2026/11/20261125T000000Z-a1b2c3.part-0001.copy.zst");
    EXPECT_EQ(part_key("orders", id, 9999, true), "orders/2026/11/20261125T000000Z-a1b2c3.part-9999.copy.zst.age");
    EXPECT_EQ(id_from_object_key(part_key("orders", id, 12, false)), id);
    EXPECT_FALSE(id_from_manifest_key(part_key("orders", id, 12, false)));
}
