// Prune deletes only what its own listing returned (issue 13: "lose nothing, trust nothing"). A manifest that
// passes every check (catalog.hpp) names its objects by the keys its target and id imply, but it is still
// storage's word, not the listing's: when the listing does not show an object the manifest names (a stale or
// eventually consistent listing, a file the listing skips, an object lost before), prune leaves that key
// alone. The storage below is in memory, records every key prune asks it to remove, and can hold objects
// that exist but that its listing does not return.
#include "catalog/manifest.hpp"
#include "catalog/naming.hpp"
#include "config/config.hpp"
#include "core/time.hpp"
#include "job/scheduled.hpp"
#include "schedule/cron.hpp"
#include "storage/storage.hpp"
#include "stream/sink.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

using namespace dbkeep;
using namespace std::chrono;

namespace {

TimePoint utc(int y, unsigned mo, unsigned d)
{
    return sys_days{year{y} / month{mo} / day{d}};
}

const TimePoint k_now = utc(2026, 12, 1);

// Objects in a map. `hidden` keys exist (stat, read and remove reach them) but list() never returns them.
class MemoryStorage final : public storage::Storage {
public:
    std::map<std::string, std::string> objects;
    std::set<std::string> hidden;
    std::vector<std::string> removed; // every key remove() was asked for, in order

    Result<std::unique_ptr<storage::ObjectWriter>> open_writer(const std::string& key) override
    {
        return fail(ErrorKind::failed, "write", key, "the test storage is written directly");
    }
    Result<std::unique_ptr<stream::Source>> open_reader(const std::string& key, storage::ByteRange range) override
    {
        std::lock_guard lock(m_mutex);
        auto it = objects.find(key);
        if (it == objects.end()) {
            return fail(ErrorKind::not_found, "read", key, "no such object");
        }
        std::string data = it->second.substr(std::min<std::size_t>(range.offset, it->second.size()));
        if (range.length) {
            data.resize(std::min<std::size_t>(data.size(), *range.length));
        }
        return stream::make_string_source(std::move(data));
    }
    Result<storage::ObjectInfo> stat(const std::string& key) override
    {
        std::lock_guard lock(m_mutex);
        auto it = objects.find(key);
        if (it == objects.end()) {
            return fail(ErrorKind::not_found, "stat", key, "no such object");
        }
        return storage::ObjectInfo{.key = key, .size = it->second.size(), .modified_unix = 0};
    }
    Result<std::vector<storage::ObjectInfo>> list(const std::string& prefix) override
    {
        std::lock_guard lock(m_mutex);
        std::vector<storage::ObjectInfo> out;
        for (const auto& [key, data] : objects) {
            if (key.starts_with(prefix) && !hidden.contains(key)) {
                out.push_back({.key = key, .size = data.size(), .modified_unix = 0});
            }
        }
        return out;
    }
    Status remove(const std::vector<std::string>& keys) override
    {
        std::lock_guard lock(m_mutex);
        for (const auto& key : keys) {
            removed.push_back(key);
            objects.erase(key);
        }
        return {};
    }
    Result<bool> create_if_absent(const std::string& key, const std::string& bytes) override
    {
        std::lock_guard lock(m_mutex);
        return objects.emplace(key, bytes).second;
    }
    bool supports_conditional_create() const override { return true; }
    std::string describe() const override { return "memory"; }
    std::vector<Finding> probe(const std::string& key_prefix) override
    {
        (void)key_prefix;
        return {};
    }

private:
    std::mutex m_mutex;
};

// A valid backup of `target` started at `start`: its manifest (which passes every catalog check) and its
// object. Returns the manifest.
catalog::Manifest add_backup(MemoryStorage& storage, const std::string& target, TimePoint start,
                             const std::string& suffix)
{
    catalog::Manifest m;
    m.id = catalog::make_backup_id(start, suffix);
    m.target = target;
    m.engine = "postgres";
    m.object_key = catalog::object_key(target, m.id, "pgdump", false);
    m.stored_bytes = 4;
    m.sha256 = std::string(64, 'a');
    m.started_at = format_rfc3339(start);
    storage.objects[m.object_key] = "data";
    storage.objects[catalog::manifest_key(target, m.id)] = catalog::to_json(m);
    return m;
}

config::TargetConfig keep_last_one(const std::string& name)
{
    config::TargetConfig t;
    t.name = name;
    t.zone = schedule::find_zone("UTC");
    t.keep.last = 1;
    return t;
}

} // namespace

// Guards the listed() check on a removed backup's objects in job::run_prune (src/job/scheduled.cpp): without it,
// prune removes the object a valid manifest names although its own listing never returned that key.
TEST(Prune, AnObjectTheListingDidNotReturnIsNeverRemovedWhateverItsManifestSays)
{
    MemoryStorage storage;
    auto old = add_backup(storage, "orders", utc(2026, 11, 1), "000001");
    auto gone = add_backup(storage, "orders", utc(2026, 11, 2), "000002");
    auto newest = add_backup(storage, "orders", utc(2026, 11, 3), "000003");
    storage.hidden.insert(old.object_key);  // there, but not listed
    storage.objects.erase(gone.object_key); // lost: neither listed nor there

    testing::internal::CaptureStderr();
    auto r = job::run_prune(keep_last_one("orders"), storage, {}, k_now);
    const std::string log = testing::internal::GetCapturedStderr();
    ASSERT_TRUE(r) << r.error().to_string();

    // Retention removes both older backups: their manifests were listed and go.
    ASSERT_EQ(r->decisions.size(), 3U);
    EXPECT_TRUE(r->decisions[0].keep);
    EXPECT_FALSE(r->decisions[1].keep);
    EXPECT_FALSE(r->decisions[2].keep);
    EXPECT_FALSE(storage.objects.contains(catalog::manifest_key("orders", old.id)));
    EXPECT_FALSE(storage.objects.contains(catalog::manifest_key("orders", gone.id)));
    EXPECT_TRUE(storage.objects.contains(newest.object_key));

    // Their objects were not listed: prune never asked to remove them, and the hidden one is still there.
    EXPECT_TRUE(storage.objects.contains(old.object_key)) << "prune removed an object its listing did not return";
    EXPECT_EQ(std::count(storage.removed.begin(), storage.removed.end(), old.object_key), 0);
    EXPECT_EQ(std::count(storage.removed.begin(), storage.removed.end(), gone.object_key), 0);
    EXPECT_EQ(storage.removed, (std::vector<std::string>{catalog::manifest_key("orders", gone.id),
                                                         catalog::manifest_key("orders", old.id)}));

    // And it says so, naming the key it left alone.
    EXPECT_NE(log.find("not in the listing"), std::string::npos) << log;
    EXPECT_NE(log.find(old.object_key), std::string::npos) << log;
    EXPECT_NE(log.find(gone.object_key), std::string::npos) << log;
}

// A manifest that does not parse stops prune before it removes anything, and the hint says where to look.
TEST(Prune, AnUnreadableManifestRemovesNothingAndNamesListToInspectIt)
{
    MemoryStorage storage;
    add_backup(storage, "orders", utc(2026, 11, 1), "000001");
    auto newest = add_backup(storage, "orders", utc(2026, 11, 3), "000003");
    const std::string key = catalog::manifest_key("orders", newest.id);
    storage.objects[key] = storage.objects[key].substr(0, storage.objects[key].size() / 2);

    auto r = job::run_prune(keep_last_one("orders"), storage, {}, k_now);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::corruption);
    EXPECT_NE(r.error().message.find("unreadable manifest " + key), std::string::npos) << r.error().to_string();
    EXPECT_EQ(r.error().hint, "inspect it (`dbkeep list orders`), then repair or remove it by hand");
    EXPECT_TRUE(storage.removed.empty());
}
