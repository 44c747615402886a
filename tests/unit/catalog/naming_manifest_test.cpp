// Object naming and the manifest format.
#include "catalog/manifest.hpp"
#include "catalog/naming.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::catalog;
using namespace std::chrono;

namespace {
TimePoint at(int y, unsigned mo, unsigned d, int h, int mi, int s)
{
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = static_cast<int>(mo) - 1;
    tm.tm_mday = static_cast<int>(d);
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return system_clock::from_time_t(timegm(&tm));
}

Manifest full_manifest()
{
    Manifest m;
    m.id = "20261125T000000Z-a1b2c3";
    m.target = "orders";
    m.engine = "postgres";
    m.server_version = "15.18";
    m.tool = "pg_dump";
    m.tool_version = "15.18";
    m.started_at = "2026-11-25T00:00:00.000Z";
    m.finished_at = "2026-11-25T00:01:02.345Z";
    m.started_unix_ms = 1795564800000;
    m.finished_unix_ms = 1795564862345;
    m.object_key = "orders/2026/11/20261125T000000Z-a1b2c3.pgdump.zst.age";
    m.raw_bytes = 123456789012;
    m.stored_bytes = 9876543210;
    m.sha256 = std::string(64, 'a');
    m.compression_level = 5;
    m.encryption = "age";
    m.encryption_recipients = {"age1aaa", "age1bbb"};
    m.runner = "docker container pg";
    m.dbkeep_version = "0.1.0";
    m.stats = {{"public.orders", 5000000}, {"billing.Invoices", 0}};
    m.details = {{"pg_dump_path", "/usr/bin/pg_dump"}};
    return m;
}
} // namespace

TEST(Naming, BackupIdEncodesTheUtcStartAndRoundTrips)
{
    auto t = at(2026, 11, 25, 7, 8, 9);
    auto id = make_backup_id(t, "0f0f0f");
    EXPECT_EQ(id, "20261125T070809Z-0f0f0f");
    EXPECT_EQ(backup_time(id), t);
    EXPECT_FALSE(backup_time("20261125T070809Z"));
    EXPECT_FALSE(backup_time("2026112xT070809Z-0f0f0f"));
    EXPECT_EQ(random_suffix().size(), 6u);
    EXPECT_NE(random_suffix() + random_suffix() + random_suffix(), random_suffix() + random_suffix() + random_suffix());
}

TEST(Naming, KeysFollowTheDocumentedLayout)
{
    const std::string id = "20260102T030405Z-abcdef";
    EXPECT_EQ(object_key("orders", id, "pgdump", false), "orders/2026/01/20260102T030405Z-abcdef.pgdump.zst");
    EXPECT_EQ(object_key("cache", id, "rdb", true), "cache/2026/01/20260102T030405Z-abcdef.rdb.zst.age");
    EXPECT_EQ(manifest_key("orders", id), "orders/2026/01/20260102T030405Z-abcdef.manifest.json");
    EXPECT_EQ(lease_key("orders"), "orders/lease.json");
    EXPECT_EQ(target_prefix("orders"), "orders/");
    EXPECT_EQ(id_from_manifest_key(manifest_key("orders", id)), id);
    EXPECT_EQ(id_from_object_key(object_key("orders", id, "pgdump", true)), id);
    EXPECT_FALSE(id_from_object_key(manifest_key("orders", id)));
    EXPECT_FALSE(id_from_manifest_key(object_key("orders", id, "pgdump", false)));
    EXPECT_FALSE(id_from_manifest_key("orders/lease.json"));
    EXPECT_FALSE(id_from_object_key("orders/lease.json"));
    EXPECT_FALSE(id_from_object_key("orders/2026/01/notes.txt"));
}

TEST(Naming, TimesFormatAndParseAsRfc3339)
{
    auto t = at(2026, 2, 28, 23, 59, 58) + milliseconds(7);
    EXPECT_EQ(format_time(t), "2026-02-28T23:59:58.007Z");
    EXPECT_EQ(parse_time("2026-02-28T23:59:58.007Z"), t);
    EXPECT_EQ(parse_time("2026-03-01T01:59:58.007+02:00"), t);
    EXPECT_EQ(parse_time("2026-02-28T18:59:58.007-05:00"), t);
    EXPECT_EQ(parse_time("2026-02-28"), at(2026, 2, 28, 0, 0, 0));
    EXPECT_EQ(parse_time("2026-02-28T23:59:58"), at(2026, 2, 28, 23, 59, 58));
    EXPECT_FALSE(parse_time("yesterday"));
    EXPECT_FALSE(parse_time("2026-13-01"));
    EXPECT_FALSE(parse_time("2026-02-28T25:00:00Z"));
    EXPECT_FALSE(parse_time("2026-02-28T10:00:00Zjunk"));
}

TEST(Naming, TargetNamesAreSafeAsKeyPrefixes)
{
    for (const char* ok : {"orders", "orders-db", "a_b.c", "X1"}) {
        EXPECT_TRUE(valid_target_name(ok)) << ok;
    }
    for (const char* bad : {"", ".hidden", "a/b", "a b", "a..b", "ü"}) {
        EXPECT_FALSE(valid_target_name(bad)) << bad;
    }
    EXPECT_FALSE(valid_target_name(std::string(65, 'a')));
}

TEST(Manifest, RoundTripsEveryField)
{
    auto m = full_manifest();
    auto parsed = parse_manifest(to_json(m), "k");
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    EXPECT_EQ(to_json(*parsed), to_json(m));
    EXPECT_EQ(parsed->raw_bytes, 123456789012u);
    EXPECT_EQ(parsed->stats.at("public.orders"), 5000000);
    EXPECT_EQ(parsed->encryption_recipients, m.encryption_recipients);
    EXPECT_EQ(parsed->details, m.details);
}

TEST(Manifest, GoldenVersionOneParses)
{
    // Written by format 1; readers must keep accepting it (and ignore unknown fields).
    const std::string golden = R"({
  "dbkeep_version": "0.1.0", "details": {"database": "app"}, "engine": "postgres",
  "finished_at": "2026-11-25T03:33:05.071Z", "finished_unix_ms": 1795577585071, "format": 1,
  "id": "20261125T033304Z-42e3f1",
  "object": {"compression": "zstd", "compression_level": 3, "encryption": "",
             "key": "app/2026/11/20261125T033304Z-42e3f1.pgdump.zst", "raw_bytes": 4390709, "recipients": [],
             "sha256": "810ead796bba6a837eae943f36415afedd92dbcdb901779430fce4eb8378d784", "stored_bytes": 2106300},
  "runner": "local", "server_version": "15.18", "started_at": "2026-11-25T03:33:04.928Z",
  "started_unix_ms": 1795577584928, "stats": {"public.t": 100000, "s2.MixedCase": 2},
  "target": "app", "tool": "pg_dump", "tool_version": "15.18", "some_future_field": {"x": 1}
})";
    auto m = parse_manifest(golden, "app/2026/11/20261125T033304Z-42e3f1.manifest.json");
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_EQ(m->id, "20261125T033304Z-42e3f1");
    EXPECT_EQ(m->stored_bytes, 2106300u);
    EXPECT_EQ(m->stats.at("s2.MixedCase"), 2);
    EXPECT_EQ(m->object_key, "app/2026/11/20261125T033304Z-42e3f1.pgdump.zst");
}

TEST(Manifest, RejectsNewerFormatsMissingFieldsAndGarbage)
{
    auto m = full_manifest();
    m.format = 2;
    auto newer = parse_manifest(to_json(m), "k");
    ASSERT_FALSE(newer);
    EXPECT_EQ(newer.error().kind, ErrorKind::corruption);
    EXPECT_NE(newer.error().hint.find("upgrade"), std::string::npos);
    auto missing = parse_manifest(R"({"format": 1, "id": "x", "target": "t", "engine": "postgres"})", "k");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, ErrorKind::corruption);
    auto garbage = parse_manifest("{not json", "the/key");
    ASSERT_FALSE(garbage);
    EXPECT_NE(garbage.error().to_string().find("the/key"), std::string::npos);
}
