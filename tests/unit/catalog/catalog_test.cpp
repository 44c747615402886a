#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "core/time.hpp"
#include "storage/local.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::catalog;
using namespace std::chrono;

namespace {

TimePoint utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0)
{
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

// After every backup the tests below write, except those meant to be dated in the future.
const TimePoint k_now = utc(2026, 12, 1);

class CatalogTest : public ::testing::Test {
protected:
    CatalogTest() : m_storage(storage::make_local_storage({.root = m_dir / "repo"})) {}

    // Writes a backup's object and, unless told not to, its manifest. Returns the id.
    std::string add_backup(const std::string& target, TimePoint start, const std::string& suffix,
                           bool with_manifest = true)
    {
        std::string id = make_backup_id(start, suffix);
        Manifest m;
        m.id = id;
        m.target = target;
        m.engine = "postgres";
        m.object_key = object_key(target, id, "pgdump", false);
        m.stored_bytes = 4;
        m.sha256 = std::string(64, 'a');
        m.started_at = format_rfc3339(start);
        EXPECT_TRUE(storage::put_object(*m_storage, m.object_key, "data"));
        if (with_manifest) {
            EXPECT_TRUE(storage::put_object(*m_storage, manifest_key(target, id), to_json(m)));
        }
        return id;
    }

    std::vector<std::string> ids(const Listing& listing)
    {
        std::vector<std::string> out;
        for (const auto& m : listing.backups) {
            out.push_back(m.id);
        }
        return out;
    }

    static std::vector<std::string> unreadable_keys(const Listing& listing)
    {
        std::vector<std::string> out;
        for (const auto& u : listing.unreadable) {
            out.push_back(u.key);
        }
        return out;
    }

    test::TempDir m_dir;
    std::unique_ptr<storage::Storage> m_storage;
};

} // namespace

TEST_F(CatalogTest, EmptyStorageListsNothing)
{
    auto l = list_backups(*m_storage, "orders");
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_TRUE(l->backups.empty());
    EXPECT_TRUE(l->orphans.empty());
    EXPECT_TRUE(l->unreadable.empty());
}

TEST_F(CatalogTest, ListsBackupsNewestFirstAcrossMonthsAndYears)
{
    auto b = add_backup("orders", utc(2026, 11, 25), "000001");
    auto a = add_backup("orders", utc(2025, 12, 31, 23, 59, 59), "000002");
    auto d = add_backup("orders", utc(2026, 12, 1), "000003");
    auto c = add_backup("orders", utc(2026, 11, 25, 0, 0, 1), "000004");
    auto l = list_backups(*m_storage, "orders");
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_EQ(ids(*l), (std::vector<std::string>{d, c, b, a}));
    EXPECT_TRUE(l->orphans.empty());
    EXPECT_TRUE(l->unreadable.empty());
    EXPECT_EQ(l->backups.front().object_key, object_key("orders", d, "pgdump", false));
}

TEST_F(CatalogTest, ListsOnlyTheNamedTarget)
{
    auto mine = add_backup("orders", utc(2026, 11, 25), "000001");
    add_backup("orders2", utc(2026, 11, 26), "000002");
    add_backup("order", utc(2026, 11, 27), "000003", false);
    auto l = list_backups(*m_storage, "orders");
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_EQ(ids(*l), std::vector<std::string>{mine});
    EXPECT_TRUE(l->orphans.empty());
}

TEST_F(CatalogTest, ObjectsWithoutManifestAreReportedAsOrphans)
{
    auto kept = add_backup("orders", utc(2026, 11, 25), "000001");
    auto orphan = add_backup("orders", utc(2026, 11, 26), "000002", false);
    ASSERT_TRUE(storage::put_object(*m_storage, lease_key("orders"), "{}"));
    auto l = list_backups(*m_storage, "orders");
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_EQ(ids(*l), std::vector<std::string>{kept});
    EXPECT_EQ(l->orphans, std::vector<std::string>{object_key("orders", orphan, "pgdump", false)});
    EXPECT_TRUE(l->unreadable.empty());
}

TEST_F(CatalogTest, UnreadableManifestsAreReportedAndTheRestIsListed)
{
    auto good = add_backup("orders", utc(2026, 11, 25), "000001");
    auto garbled = add_backup("orders", utc(2026, 11, 26), "000002");
    ASSERT_TRUE(storage::put_object(*m_storage, manifest_key("orders", garbled), "{ not json"));
    auto newer = add_backup("orders", utc(2026, 11, 27), "000003");
    ASSERT_TRUE(
        storage::put_object(*m_storage, manifest_key("orders", newer),
                            R"({"format": 99, "id": ")" + newer + R"(", "target": "orders", "engine": "postgres"})"));
    auto l = list_backups(*m_storage, "orders");
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_EQ(ids(*l), std::vector<std::string>{good});
    EXPECT_EQ(unreadable_keys(*l),
              (std::vector<std::string>{manifest_key("orders", garbled), manifest_key("orders", newer)}));
    // Their data is not an orphan: a prune of orphans must never delete it.
    EXPECT_TRUE(l->orphans.empty()) << l->orphans.front();
}

TEST_F(CatalogTest, ManifestNamingAnotherBackupOrTargetIsUnreadable)
{
    auto a = add_backup("orders", utc(2026, 11, 25), "000001");
    auto b = add_backup("orders", utc(2026, 11, 26), "000002");
    // b's manifest says it is a; a manifest copied from another target says so.
    auto a_text = storage::get_object(*m_storage, manifest_key("orders", a));
    ASSERT_TRUE(a_text);
    ASSERT_TRUE(storage::put_object(*m_storage, manifest_key("orders", b), *a_text));
    auto other = add_backup("cache", utc(2026, 11, 27), "000003");
    auto other_text = storage::get_object(*m_storage, manifest_key("cache", other));
    ASSERT_TRUE(other_text);
    ASSERT_TRUE(storage::put_object(*m_storage, "orders/2026/11/" + other + ".manifest.json", *other_text));

    auto l = list_backups(*m_storage, "orders");
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_EQ(ids(*l), std::vector<std::string>{a});
    EXPECT_EQ(l->unreadable.size(), 2u);
}

TEST_F(CatalogTest, ManifestWhoseObjectKeyIsNotTheOneItsIdImpliesIsUnreadable)
{
    auto victim = add_backup("cache", utc(2026, 11, 20), "00000a");
    auto good = add_backup("orders", utc(2026, 11, 25), "000001");
    // Hostile or broken manifests under orders/: each names an object its own target, id and format do not.
    auto make = [&](const std::string& suffix, const std::string& object, const std::string& engine = "postgres",
                    const std::string& encryption = "") {
        const std::string id = make_backup_id(utc(2026, 11, 26), suffix);
        Manifest m;
        m.id = id;
        m.target = "orders";
        m.engine = engine;
        m.object_key = object.empty() ? object_key("orders", id, "pgdump", false) : object;
        m.encryption = encryption;
        m.stored_bytes = 4;
        m.sha256 = std::string(64, 'a');
        EXPECT_TRUE(storage::put_object(*m_storage, manifest_key("orders", id), to_json(m)));
        return manifest_key("orders", id);
    };
    std::vector<std::string> bad = {
        make("0000b1", object_key("cache", victim, "pgdump", false)),      // another target's backup
        make("0000b2", "orders/2026/11/../../cache/2026/11/x.pgdump.zst"), // a path out of the folder
        make("0000b3",
             object_key("orders", make_backup_id(utc(2026, 11, 25), "000001"), "pgdump", false)),     // another id
        make("0000b4", "orders/2026/11/" + make_backup_id(utc(2026, 11, 26), "0000b4") + ".rdb.zst"), // wrong format
        make("0000b5", "", "postgres", "age"), // says encrypted, names the plain object
        make("0000b6", "", "mysql"),           // an engine this dbkeep does not know
    };
    // A manifest that is not where its id puts it (another month's folder).
    const std::string moved = "orders/2026/10/" + make_backup_id(utc(2026, 11, 27), "0000b7") + ".manifest.json";
    ASSERT_TRUE(storage::put_object(*m_storage, moved, "{}"));
    bad.push_back(moved);
    std::sort(bad.begin(), bad.end());

    auto l = list_backups(*m_storage, "orders");
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_EQ(ids(*l), std::vector<std::string>{good});
    auto got = unreadable_keys(*l);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, bad);
    for (const auto& u : l->unreadable) {
        EXPECT_FALSE(u.reason.empty()) << u.key;
    }
    const auto& first = *std::find_if(l->unreadable.begin(), l->unreadable.end(),
                                      [&](const auto& u) { return u.key.find("0000b1") != std::string::npos; });
    EXPECT_NE(first.reason.find("is not the one its target, id, engine and encryption imply"), std::string::npos)
        << first.reason;
    EXPECT_NE(first.reason.find(object_key("orders", make_backup_id(utc(2026, 11, 26), "0000b1"), "pgdump", false)),
              std::string::npos)
        << first.reason;
    // A restore or verify finds only real backups.
    EXPECT_FALSE(find_backup(*m_storage, "orders", make_backup_id(utc(2026, 11, 26), "0000b1"), k_now));
}

TEST_F(CatalogTest, BackupsDatedInTheFutureAreNotTheLastSuccess)
{
    const TimePoint now = utc(2026, 11, 30, 12);
    auto real = add_backup("orders", utc(2026, 11, 30), "000001");
    auto ahead = add_backup("orders", utc(2027, 11, 30), "000002");
    auto near = add_backup("orders", now + minutes(4), "000003"); // a clock a few minutes ahead is normal
    auto l = list_backups(*m_storage, "orders");
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_EQ(ids(*l), (std::vector<std::string>{ahead, near, real}));
    EXPECT_TRUE(dated_in_future(ahead, now));
    EXPECT_FALSE(dated_in_future(near, now));
    ASSERT_NE(newest_trusted(*l, now), nullptr);
    EXPECT_EQ(newest_trusted(*l, now)->id, near);
    auto found = last_success(*m_storage, "orders", now - minutes(10));
    ASSERT_TRUE(found) << found.error().to_string();
    ASSERT_TRUE(*found);
    EXPECT_EQ(**found, utc(2026, 11, 30)) << "at 11:50 the 12:04 backup is ahead too";
}

TEST_F(CatalogTest, LatestIsNeverABackupDatedInTheFuture)
{
    const TimePoint now = utc(2026, 11, 30, 12);
    auto real = add_backup("orders", utc(2026, 11, 30), "000001");
    auto ahead = add_backup("orders", utc(2027, 11, 30), "000002");
    for (const char* selector : {"latest", ""}) {
        auto m = find_backup(*m_storage, "orders", selector, now);
        ASSERT_TRUE(m) << m.error().to_string();
        EXPECT_EQ(m->id, real) << "a year-ahead backup is not the latest";
    }
    // Nor is it "the newest at or before" a time past it.
    auto at = find_backup(*m_storage, "orders", "2030-01-01T00:00:00Z", now);
    ASSERT_TRUE(at) << at.error().to_string();
    EXPECT_EQ(at->id, real);
    // Named by its id, it is found: it is kept and restorable.
    auto by_id = find_backup(*m_storage, "orders", ahead, now);
    ASSERT_TRUE(by_id) << by_id.error().to_string();
    EXPECT_EQ(by_id->id, ahead);

    // When every backup is ahead, "latest" fails and names the backup and how to restore it anyway.
    auto l = list_backups(*m_storage, "orders");
    ASSERT_TRUE(l) << l.error().to_string();
    Listing only_ahead = *l;
    only_ahead.backups.erase(only_ahead.backups.begin() + 1);
    ASSERT_EQ(ids(only_ahead), std::vector<std::string>{ahead});
    auto none = select_backup(only_ahead, "orders", "latest", now);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().kind, ErrorKind::not_found);
    EXPECT_NE(none.error().to_string().find("dated after this machine's clock"), std::string::npos)
        << none.error().to_string();
    EXPECT_NE(none.error().to_string().find("--backup " + ahead), std::string::npos) << none.error().to_string();
}

TEST_F(CatalogTest, OversizedManifestIsUnreadableNotFatal)
{
    auto good = add_backup("orders", utc(2026, 11, 25), "000001");
    auto huge = add_backup("orders", utc(2026, 11, 26), "000002");
    ASSERT_TRUE(storage::put_object(*m_storage, manifest_key("orders", huge), std::string((16 << 20) + 1, ' ')));
    auto l = list_backups(*m_storage, "orders");
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_EQ(ids(*l), std::vector<std::string>{good});
    EXPECT_EQ(unreadable_keys(*l), std::vector<std::string>{manifest_key("orders", huge)});
}

TEST_F(CatalogTest, FindsLatest)
{
    add_backup("orders", utc(2026, 11, 24), "000001");
    auto newest = add_backup("orders", utc(2026, 11, 25), "000002");
    for (const char* selector : {"latest", ""}) {
        auto m = find_backup(*m_storage, "orders", selector, k_now);
        ASSERT_TRUE(m) << m.error().to_string();
        EXPECT_EQ(m->id, newest);
        EXPECT_EQ(m->target, "orders");
    }
}

TEST_F(CatalogTest, FindsById)
{
    auto older = add_backup("orders", utc(2026, 11, 24), "000001");
    add_backup("orders", utc(2026, 11, 25), "000002");
    auto m = find_backup(*m_storage, "orders", older, k_now);
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_EQ(m->id, older);
}

TEST_F(CatalogTest, FindsTheNewestAtOrBeforeATime)
{
    auto a = add_backup("orders", utc(2026, 11, 24, 0, 0, 0), "000001");
    auto b = add_backup("orders", utc(2026, 11, 25, 0, 0, 0), "000002");
    auto c = add_backup("orders", utc(2026, 11, 26, 0, 0, 0), "000003");
    auto at = [&](const std::string& when) {
        auto m = find_backup(*m_storage, "orders", when, k_now);
        EXPECT_TRUE(m) << when << ": " << m.error().to_string();
        return m ? m->id : std::string();
    };
    EXPECT_EQ(at("2026-11-25T00:00:00Z"), b); // exactly at
    EXPECT_EQ(at("2026-11-25T23:59:59Z"), b);
    EXPECT_EQ(at("2026-11-24T23:59:59.999Z"), a);
    EXPECT_EQ(at("2026-11-25T01:00:00+02:00"), a); // 23:00 UTC the day before
    EXPECT_EQ(at("2026-11-25"), b);
    EXPECT_EQ(at("2030-01-01T00:00:00Z"), c);
}

TEST_F(CatalogTest, NotFoundMessages)
{
    auto none = find_backup(*m_storage, "orders", "latest", k_now);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().kind, ErrorKind::not_found);
    EXPECT_EQ(none.error().to_string(), "find backup of orders: no backups in local " + (m_dir / "repo").string());

    add_backup("orders", utc(2026, 11, 24), "000001");

    auto before = find_backup(*m_storage, "orders", "2026-11-23T00:00:00Z", k_now);
    ASSERT_FALSE(before);
    EXPECT_EQ(before.error().kind, ErrorKind::not_found);
    EXPECT_EQ(before.error().to_string(),
              "find backup of orders: no backup at or before 2026-11-23T00:00:00Z (the oldest backup is "
              "20261124T000000Z-000001: give --at a time after it, or --backup 20261124T000000Z-000001)");

    auto unknown = find_backup(*m_storage, "orders", "20261124T000000Z-ffffff", k_now);
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().kind, ErrorKind::not_found);
    EXPECT_EQ(unknown.error().to_string(), "find backup of orders: no backup with id 20261124T000000Z-ffffff "
                                           "(run `dbkeep list orders` to see the ids)");
}

TEST_F(CatalogTest, AnOrphanIsNeverFound)
{
    add_backup("orders", utc(2026, 11, 24), "000001");
    auto orphan = add_backup("orders", utc(2026, 11, 25), "000002", false);
    auto latest = find_backup(*m_storage, "orders", "latest", k_now);
    ASSERT_TRUE(latest);
    EXPECT_NE(latest->id, orphan);
    EXPECT_FALSE(find_backup(*m_storage, "orders", orphan, k_now));
}

// newest_backup is newest_trusted(list_backups(...)) without reading every manifest: the newest valid one
// wins over a newer unreadable one and one dated in the future; a target with none has none.
TEST_F(CatalogTest, NewestBackupSkipsUnreadableAndFutureManifestsLikeTheListing)
{
    const TimePoint now = utc(2026, 11, 30, 12);
    add_backup("orders", utc(2026, 11, 28), "000001");
    auto good = add_backup("orders", utc(2026, 11, 29), "000002");
    auto broken = add_backup("orders", utc(2026, 11, 30), "000003");
    ASSERT_TRUE(storage::put_object(*m_storage, manifest_key("orders", broken), "{\"trunc"));
    add_backup("orders", utc(2027, 11, 30), "000004");
    auto newest = newest_backup(*m_storage, "orders", now);
    ASSERT_TRUE(newest) << newest.error().to_string();
    ASSERT_TRUE(newest->has_value());
    EXPECT_EQ((*newest)->id, good);
    auto listing = list_backups(*m_storage, "orders");
    ASSERT_TRUE(listing);
    ASSERT_NE(newest_trusted(*listing, now), nullptr);
    EXPECT_EQ(newest_trusted(*listing, now)->id, (*newest)->id);
    auto none = newest_backup(*m_storage, "cache", now);
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
}

// Issue 17: a parallel dump's parts. Their keys are checked against the backup's id, so a manifest can never
// make prune delete (or restore read) another backup's object; a listed part is no orphan.
TEST_F(CatalogTest, PartsAreListedWithTheirBackupAndAManifestPointingElsewhereIsUnreadable)
{
    auto good = add_backup("orders", utc(2026, 11, 25), "000001");
    auto rogue = add_backup("orders", utc(2026, 11, 26), "000002");
    auto with_parts = [&](const std::string& id, const std::string& part_key_text) {
        auto text = storage::get_object(*m_storage, manifest_key("orders", id), 1 << 20);
        EXPECT_TRUE(text);
        auto m = parse_manifest(*text, id);
        EXPECT_TRUE(m);
        Part p;
        p.key = part_key_text;
        p.stored_bytes = 4;
        p.sha256 = std::string(64, 'b');
        p.details = {{"table", "big"}};
        m->parts.push_back(p);
        EXPECT_TRUE(storage::put_object(*m_storage, part_key_text, "part"));
        EXPECT_TRUE(storage::put_object(*m_storage, manifest_key("orders", id), to_json(*m)));
    };
    with_parts(good, part_key("orders", good, 1, false));
    with_parts(rogue, object_key("orders", good, "pgdump", false)); // names good's data object as its part
    auto l = list_backups(*m_storage, "orders");
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_EQ(ids(*l), std::vector<std::string>{good});
    ASSERT_EQ(l->backups[0].parts.size(), 1u);
    EXPECT_EQ(l->backups[0].parts[0].details.at("table"), "big");
    EXPECT_EQ(object_keys(l->backups[0]), (std::vector<std::string>{object_key("orders", good, "pgdump", false),
                                                                    part_key("orders", good, 1, false)}));
    EXPECT_EQ(unreadable_keys(*l), std::vector<std::string>{manifest_key("orders", rogue)});
    EXPECT_TRUE(l->orphans.empty()) << l->orphans.front();
}

// A whole PostgreSQL server's data object is the globals' SQL: `.sql.zst`, only with layout server and parts.
TEST(ExpectedObjectKey, AWholeServerStoresItsGlobalsAsSql)
{
    Manifest m;
    m.id = make_backup_id(utc(2026, 11, 25), "000001");
    m.target = "main";
    m.engine = "postgres";
    EXPECT_EQ(expected_object_key(m), object_key("main", m.id, "pgdump", false));
    m.details["layout"] = "server";
    EXPECT_EQ(expected_object_key(m), object_key("main", m.id, "pgdump", false)) << "no parts: not a server";
    m.parts.push_back(Part{});
    EXPECT_EQ(expected_object_key(m), object_key("main", m.id, "sql", false));
    m.engine = "redis";
    EXPECT_EQ(expected_object_key(m), object_key("main", m.id, "rdb", false));
}
