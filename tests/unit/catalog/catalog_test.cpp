#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "core/time.hpp"
#include "storage/local.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::catalog;
using namespace std::chrono;

namespace {

TimePoint utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0)
{
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

class CatalogTest : public ::testing::Test {
protected:
    CatalogTest() : m_storage(storage::make_local_storage({.root = m_dir / "repo"})) {}

    // Writes a backup's object and, unless told not to, its manifest. Returns the id.
    std::string add_backup(const std::string& target, TimePoint start, const std::string& suffix,
                           bool with_manifest = true)
    {
        const std::string id = make_backup_id(start, suffix);
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
    EXPECT_EQ(l->unreadable,
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

TEST_F(CatalogTest, OversizedManifestIsUnreadableNotFatal)
{
    auto good = add_backup("orders", utc(2026, 11, 25), "000001");
    auto huge = add_backup("orders", utc(2026, 11, 26), "000002");
    ASSERT_TRUE(storage::put_object(*m_storage, manifest_key("orders", huge), std::string((16 << 20) + 1, ' ')));
    auto l = list_backups(*m_storage, "orders");
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_EQ(ids(*l), std::vector<std::string>{good});
    EXPECT_EQ(l->unreadable, std::vector<std::string>{manifest_key("orders", huge)});
}

TEST_F(CatalogTest, FindsLatest)
{
    add_backup("orders", utc(2026, 11, 24), "000001");
    auto newest = add_backup("orders", utc(2026, 11, 25), "000002");
    for (const char* selector : {"latest", ""}) {
        auto m = find_backup(*m_storage, "orders", selector);
        ASSERT_TRUE(m) << m.error().to_string();
        EXPECT_EQ(m->id, newest);
        EXPECT_EQ(m->target, "orders");
    }
}

TEST_F(CatalogTest, FindsById)
{
    auto older = add_backup("orders", utc(2026, 11, 24), "000001");
    add_backup("orders", utc(2026, 11, 25), "000002");
    auto m = find_backup(*m_storage, "orders", older);
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_EQ(m->id, older);
}

TEST_F(CatalogTest, FindsTheNewestAtOrBeforeATime)
{
    auto a = add_backup("orders", utc(2026, 11, 24, 0, 0, 0), "000001");
    auto b = add_backup("orders", utc(2026, 11, 25, 0, 0, 0), "000002");
    auto c = add_backup("orders", utc(2026, 11, 26, 0, 0, 0), "000003");
    auto at = [&](const std::string& when) {
        auto m = find_backup(*m_storage, "orders", when);
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
    auto none = find_backup(*m_storage, "orders", "latest");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().kind, ErrorKind::not_found);
    EXPECT_EQ(none.error().to_string(), "find backup of orders: no backups in local " + (m_dir / "repo").string());

    add_backup("orders", utc(2026, 11, 24), "000001");

    auto before = find_backup(*m_storage, "orders", "2026-11-23T00:00:00Z");
    ASSERT_FALSE(before);
    EXPECT_EQ(before.error().kind, ErrorKind::not_found);
    EXPECT_EQ(before.error().to_string(), "find backup of orders: no backup at or before 2026-11-23T00:00:00Z");

    auto unknown = find_backup(*m_storage, "orders", "20261124T000000Z-ffffff");
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().kind, ErrorKind::not_found);
    EXPECT_EQ(unknown.error().to_string(), "find backup of orders: no backup with id 20261124T000000Z-ffffff "
                                           "(run `dbkeep list orders` to see the ids)");
}

TEST_F(CatalogTest, AnOrphanIsNeverFound)
{
    add_backup("orders", utc(2026, 11, 24), "000001");
    auto orphan = add_backup("orders", utc(2026, 11, 25), "000002", false);
    auto latest = find_backup(*m_storage, "orders", "latest");
    ASSERT_TRUE(latest);
    EXPECT_NE(latest->id, orphan);
    EXPECT_FALSE(find_backup(*m_storage, "orders", orphan));
}
