// What storage holds is checked before dbkeep acts on it (issue 13): manifests that name objects elsewhere,
// symbolic links planted under a local root, backups dated in the future, lost and truncated manifests and
// the temp files of killed runs. Real Redis servers are backed up through the dbkeep binary into local
// storage; the tests then damage the storage the way a hostile writer, a broken copy or a wrong clock does.
#include "storage/local.hpp"
#include "support/redis_fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace dbkeep;
using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {

std::string id_at(std::chrono::system_clock::time_point t, const std::string& suffix)
{
    auto secs = std::chrono::floor<std::chrono::seconds>(t);
    auto day = std::chrono::floor<std::chrono::days>(secs);
    std::chrono::year_month_day ymd{day};
    std::chrono::hh_mm_ss hms{secs - day};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ-", int(ymd.year()), unsigned(ymd.month()),
                  unsigned(ymd.day()), int(hms.hours().count()), int(hms.minutes().count()),
                  int(hms.seconds().count()));
    return buf + suffix;
}

std::string folder_of(const std::string& target, const std::string& id)
{
    return target + "/" + id.substr(0, 4) + "/" + id.substr(4, 2) + "/";
}

class UntrustedStorage : public RedisTest {
protected:
    void SetUp() override
    {
        RedisTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        m_redis = std::make_unique<RedisServer>();
        std::string load;
        for (int i = 0; i < 200; ++i) {
            load += "SET key:" + std::to_string(i) + " value-" + std::to_string(i) + "\n";
        }
        m_redis->cli({}, load);
    }

    fs::path backups() const { return m_work.backups(); }

    // Targets `cache` and `shop`, both backing up the test's Redis server.
    void write_two_targets(const std::string& cache_extra, const std::string& shop_extra) const
    {
        m_work.write_config(m_work.local_storage_yaml() +
                            "targets:\n  cache:\n    engine: redis\n    url: " + m_redis->url() + "\n" + cache_extra +
                            "  shop:\n    engine: redis\n    url: " + m_redis->url() + "\n" + shop_extra);
    }

    // A real backup of target: its manifest (parsed).
    nlohmann::json back_up(const std::string& target)
    {
        auto before = m_work.manifests();
        if (!before.empty()) {
            EXPECT_TRUE(m_work.wait_for_a_newer_backup_id());
        }
        auto r = dbkeep({"backup", target});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        for (const auto& m : m_work.manifests()) {
            if (std::find(before.begin(), before.end(), m) == before.end() && m.starts_with(target + "/")) {
                return nlohmann::json::parse(read_file(backups() / m));
            }
        }
        ADD_FAILURE() << "no new manifest for " << target;
        return {};
    }

    // A copy of a real backup under another id (object and manifest), as another run would have written it.
    // Returns the copy's manifest key. A non-empty trigger replaces the original's ("scheduled": as the nightly
    // run --due would have written it).
    std::string clone(const nlohmann::json& m, const std::string& id, bool with_manifest = true,
                      const std::string& trigger = "")
    {
        const std::string target = m["target"];
        const std::string object = folder_of(target, id) + id + ".rdb.zst";
        fs::create_directories(backups() / folder_of(target, id));
        fs::copy_file(backups() / m["object"]["key"].get<std::string>(), backups() / object);
        auto copy = m;
        copy["id"] = id;
        copy["object"]["key"] = object;
        if (!trigger.empty()) {
            copy["trigger"] = trigger;
        }
        std::string manifest = folder_of(target, id) + id + ".manifest.json";
        if (with_manifest) {
            write_file(backups() / manifest, copy.dump(2));
        }
        return manifest;
    }

    bool stored(const std::string& key) const { return fs::exists(backups() / key); }

    std::unique_ptr<RedisServer> m_redis;
};

void backdate(const fs::path& file, std::chrono::hours age)
{
    fs::last_write_time(file, fs::file_time_type::clock::now() - age);
}

} // namespace

// 1. What storage says is checked before it is acted on.

TEST_F(UntrustedStorage, PruneOfOneTargetNeverDeletesTheBackupAManifestNamesInAnother)
{
    write_two_targets("", "    keep: { last: 1 }\n");
    auto victim = back_up("cache");
    const std::string victim_key = victim["object"]["key"];
    back_up("shop");
    // A manifest under shop/ (older, so retention would remove it) whose object.key names cache's backup.
    auto hostile = victim;
    hostile["target"] = "shop";
    hostile["id"] = "20240101T000000Z-bad001";
    fs::create_directories(backups() / "shop/2024/01");
    write_file(backups() / "shop/2024/01/20240101T000000Z-bad001.manifest.json", hostile.dump(2));

    auto prune = dbkeep({"prune", "shop"});
    EXPECT_TRUE(stored(victim_key)) << "prune shop deleted cache's backup\n" << prune.out << prune.err;
    EXPECT_NE(prune.exit_code, 0) << prune.out;
    EXPECT_NE(prune.err.find("shop/2024/01/20240101T000000Z-bad001.manifest.json"), std::string::npos) << prune.err;
    EXPECT_NE(prune.err.find("is not the one its target, id, engine and encryption imply"), std::string::npos)
        << prune.err;

    auto list = dbkeep({"list", "shop"});
    EXPECT_EQ(list.exit_code, 0) << list.err;
    EXPECT_NE(list.out.find("UNREADABLE shop/2024/01/20240101T000000Z-bad001.manifest.json"), std::string::npos)
        << list.out;
    auto verify = dbkeep({"verify", "shop"});
    EXPECT_EQ(verify.exit_code, 1) << verify.out << verify.err;
    EXPECT_EQ(verify.out.find("20240101T000000Z-bad001 ok"), std::string::npos) << verify.out;
    EXPECT_EQ(dbkeep({"verify", "cache"}).exit_code, 0);
    EXPECT_TRUE(stored(victim_key));
}

TEST_F(UntrustedStorage, ASymlinkedFolderUnderTheRootIsNeitherReadNorDeleted)
{
    write_two_targets("", "    keep: { last: 1 }\n");
    auto real = back_up("cache");
    // Outside the storage: a copy of the backup laid out as target shop's folder, two backups deep.
    TempDir outside{"dbkeep-outside"};
    auto as_shop = real;
    as_shop["target"] = "shop";
    for (const char* id : {"20240101T000000Z-0ut001", "20240102T000000Z-0ut002"}) {
        auto m = as_shop;
        m["id"] = id;
        m["object"]["key"] = std::string("shop/2024/01/") + id + ".rdb.zst";
        fs::create_directories(outside / "2024/01");
        fs::copy_file(backups() / real["object"]["key"].get<std::string>(),
                      outside / (std::string("2024/01/") + id + ".rdb.zst"));
        write_file(outside / (std::string("2024/01/") + id + ".manifest.json"), m.dump(2));
    }
    const auto outside_files = list_files(outside.path());
    ASSERT_EQ(outside_files.size(), 4u);
    fs::create_directory_symlink(outside.path(), backups() / "shop");

    auto prune = dbkeep({"prune", "shop"});
    EXPECT_NE(prune.exit_code, 0) << prune.out;
    EXPECT_NE(prune.err.find("symbolic link"), std::string::npos) << prune.err;
    EXPECT_EQ(list_files(outside.path()), outside_files) << "prune deleted outside the storage";

    auto verify = dbkeep({"verify", "shop"});
    EXPECT_NE(verify.exit_code, 0) << verify.out;
    EXPECT_EQ(verify.out.find(" ok"), std::string::npos) << "verify read outside the storage: " << verify.out;
    auto list = dbkeep({"list", "shop"});
    EXPECT_NE(list.exit_code, 0) << list.out;
    EXPECT_EQ(list.out.find("20240101T000000Z-0ut001"), std::string::npos) << list.out;

    // Deeper down, a symlinked month folder is skipped: not listed, not read, not deleted.
    fs::remove(backups() / "shop");
    back_up("shop");
    fs::create_directory_symlink(outside / "2024", backups() / "shop/2024");
    auto pruned = dbkeep({"prune", "shop"});
    EXPECT_EQ(pruned.exit_code, 0) << pruned.err;
    EXPECT_NE(pruned.err.find("skipped a symbolic link"), std::string::npos) << pruned.err;
    EXPECT_EQ(list_files(outside.path()), outside_files);
    auto verified = dbkeep({"verify", "shop"});
    EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
    EXPECT_EQ(verified.out.find("0ut00"), std::string::npos) << verified.out;

    // A manifest in a real folder whose object key leads through the symlinked one (older than the real
    // backup, so `keep: {last: 1}` would remove it): neither read nor deleted.
    auto shop_manifests = m_work.manifests();
    ASSERT_EQ(shop_manifests.size(), 2u); // cache's and shop's
    const std::string shop_manifest = shop_manifests[0].starts_with("shop/") ? shop_manifests[0] : shop_manifests[1];
    auto lure = as_shop;
    const std::string lure_id = shop_manifest.substr(shop_manifest.rfind('/') + 1, 17) + "000000";
    lure["id"] = lure_id;
    lure["object"]["key"] = "shop/2024/01/20240101T000000Z-0ut001.rdb.zst";
    const std::string lure_key = shop_manifest.substr(0, shop_manifest.rfind('/') + 1) + lure_id + ".manifest.json";
    write_file(backups() / lure_key, lure.dump(2));
    auto lured_verify = dbkeep({"verify", "shop"});
    EXPECT_EQ(lured_verify.out.find(lure_id + " ok"), std::string::npos)
        << "verify read outside the storage: " << lured_verify.out;
    EXPECT_EQ(lured_verify.exit_code, 1) << lured_verify.out;
    auto lured_prune = dbkeep({"prune", "shop"});
    EXPECT_NE(lured_prune.exit_code, 0) << lured_prune.out;
    EXPECT_EQ(list_files(outside.path()), outside_files) << "prune deleted outside the storage";
}

TEST_F(UntrustedStorage, LocalStorageRefusesSymlinkedAndSpecialFiles)
{
    auto storage = storage::make_local_storage({.root = backups()});
    ASSERT_TRUE(storage::put_object(*storage, "cache/2024/01/real.rdb.zst", "inside"));
    TempDir outside{"dbkeep-outside"};
    write_file(outside / "secret", "outside");
    fs::create_symlink(outside / "secret", backups() / "cache/2024/01/link.rdb.zst");
    ASSERT_EQ(::mkfifo((backups() / "cache/2024/01/fifo.rdb.zst").c_str(), 0600), 0);

    auto link = storage->open_reader("cache/2024/01/link.rdb.zst");
    ASSERT_FALSE(link);
    EXPECT_NE(link.error().message.find("symbolic link"), std::string::npos) << link.error().to_string();
    auto fifo = storage->open_reader("cache/2024/01/fifo.rdb.zst"); // must not hang
    ASSERT_FALSE(fifo);
    EXPECT_NE(fifo.error().message.find("not a regular file"), std::string::npos) << fifo.error().to_string();
    EXPECT_FALSE(storage->stat("cache/2024/01/link.rdb.zst"));
    EXPECT_FALSE(storage->remove({"cache/2024/01/link.rdb.zst"}));
    EXPECT_EQ(read_file(outside / "secret"), "outside");
    auto listed = storage->list("cache/");
    ASSERT_TRUE(listed) << listed.error().to_string();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ(listed->front().key, "cache/2024/01/real.rdb.zst");
    // Reading, removing and writing through a symlinked folder are refused too.
    fs::create_directories(outside / "01");
    write_file(outside / "01/x.rdb.zst", "outside");
    fs::create_directory_symlink(outside.path(), backups() / "cache/2025");
    auto through = storage->open_reader("cache/2025/01/x.rdb.zst");
    ASSERT_FALSE(through);
    EXPECT_NE(through.error().message.find("symbolic link"), std::string::npos) << through.error().to_string();
    EXPECT_EQ(through.error().hint, "replace " + (backups() / "cache/2025/").string() + " with a real folder");
    EXPECT_FALSE(storage->remove({"cache/2025/01/x.rdb.zst"}));
    EXPECT_FALSE(storage::put_object(*storage, "cache/2025/01/y.rdb.zst", "y"));
    EXPECT_EQ(list_files(outside.path()), (std::vector<std::string>{"01/x.rdb.zst", "secret"}));
}

TEST_F(UntrustedStorage, FoldersAre0750AndObjects0640WhateverTheUmask)
{
    const mode_t old = ::umask(0);
    auto storage = storage::make_local_storage({.root = backups() / "deep/root"});
    auto st = storage::put_object(*storage, "cache/2026/11/obj.rdb.zst", "data");
    auto created = storage->create_if_absent("cache/lease.json", "{}");
    ::umask(old);
    ASSERT_TRUE(st) << st.error().to_string();
    ASSERT_TRUE(created && *created);
    auto mode = [](const fs::path& p) {
        struct stat s {};
        EXPECT_EQ(::lstat(p.c_str(), &s), 0) << p;
        return s.st_mode & 07777;
    };
    for (const char* folder :
         {"deep", "deep/root", "deep/root/cache", "deep/root/cache/2026", "deep/root/cache/2026/11"}) {
        EXPECT_EQ(mode(backups() / folder), 0750u) << folder;
    }
    EXPECT_EQ(mode(backups() / "deep/root/cache/2026/11/obj.rdb.zst"), 0640u);
    EXPECT_EQ(mode(backups() / "deep/root/cache/lease.json"), 0640u);
}

// 3. Time from elsewhere is not trusted.

TEST_F(UntrustedStorage, ABackupDatedAYearAheadNeitherEmptiesWithinNorSilencesDueAndFreshness)
{
    const auto now = std::chrono::system_clock::now();
    write_config(m_redis->url(), "    schedule: \"0 0 * * *\"\n");
    auto real = back_up("cache");
    const std::string future_id = id_at(now + std::chrono::days(365), "f00000");
    clone(real, future_id);
    const std::string three_days = id_at(now - std::chrono::days(3), "0d0003");
    clone(real, three_days, true, "scheduled");
    // Only the future one and an older one count as "existing": remove the one made today.
    fs::remove(backups() / (folder_of("cache", real["id"]) + real["id"].get<std::string>() + ".manifest.json"));
    fs::remove(backups() / real["object"]["key"].get<std::string>());

    auto list = dbkeep({"list", "cache"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    auto line = list.out.substr(list.out.find(future_id));
    line = line.substr(0, line.find('\n'));
    EXPECT_NE(line.find("DATED IN THE FUTURE"), std::string::npos) << list.out;

    auto check = dbkeep({"check", "cache", "--json"});
    auto findings = nlohmann::json::parse(check.out);
    bool seen = false;
    for (const auto& f : findings) {
        if (f["probe"] == "freshness") {
            seen = true;
            EXPECT_NE(f["outcome"], "pass") << f.dump();
            EXPECT_NE(f["finding"].get<std::string>().find(future_id), std::string::npos) << f.dump();
        }
    }
    EXPECT_TRUE(seen) << check.out;

    // The 00:00 run after the three-day-old backup is missing: due, whatever the future one says.
    auto due = dbkeep({"run", "--due"});
    ASSERT_EQ(due.exit_code, 0) << due.err;
    EXPECT_EQ(due.out.find("not due"), std::string::npos) << due.out;
    EXPECT_EQ(m_work.manifests().size(), 3u);

    // keep: within 7d counts from the earlier of the newest backup and now: every real backup stays.
    write_config(m_redis->url(), "    keep: { within: 7d }\n");
    auto prune = dbkeep({"prune", "cache"});
    ASSERT_EQ(prune.exit_code, 0) << prune.err;
    EXPECT_EQ(m_work.manifests().size(), 3u) << prune.out;
    EXPECT_NE(prune.out.find(three_days + "  keep   within 7d"), std::string::npos) << prune.out;
    EXPECT_NE(prune.out.find(future_id + "  keep   dated in the future"), std::string::npos) << prune.out;
}

TEST_F(UntrustedStorage, RestoreLatestAndTheDeadMansSwitchIgnoreABackupDatedAYearAhead)
{
    const auto now = std::chrono::system_clock::now();
    // The last nightly was three days ago; a host whose clock ran a year ahead wrote one more.
    write_config(m_redis->url(), "    schedule: \"0 0 * * *\"\n");
    auto real = back_up("cache");
    const std::string three_days = id_at(now - std::chrono::days(3), "0d0003");
    clone(real, three_days, true, "scheduled");
    const std::string future_id = id_at(now + std::chrono::days(365), "f00000");
    clone(real, future_id);
    fs::remove(backups() / (folder_of("cache", real["id"]) + real["id"].get<std::string>() + ".manifest.json"));
    fs::remove(backups() / real["object"]["key"].get<std::string>());

    // The dead-man's switch (`check --freshness`) goes red: two nightlies are missing, whatever the future says.
    auto fresh = dbkeep({"check", "cache", "--freshness"});
    EXPECT_NE(fresh.exit_code, 0) << fresh.out << fresh.err;
    EXPECT_NE((fresh.out + fresh.err).find(future_id), std::string::npos) << fresh.out << fresh.err;

    // restore --backup latest (and the default) takes the newest real backup, never the future one.
    int n = 0;
    for (const std::vector<std::string>& selector :
         {std::vector<std::string>{"--backup", "latest"}, std::vector<std::string>{}}) {
        std::vector<std::string> args = {"restore", "cache", "--output",
                                         (m_work.dir() / ("restored" + std::to_string(++n) + ".rdb")).string()};
        args.insert(args.end(), selector.begin(), selector.end());
        auto restore = dbkeep(args);
        ASSERT_EQ(restore.exit_code, 0) << restore.err;
        EXPECT_TRUE(restore.out.starts_with("restored cache " + three_days + " (")) << restore.out;
    }
    // Named by id, the future one restores: it is kept, not lost.
    auto by_id = dbkeep({"restore", "cache", "--backup", future_id, "--output", (m_work.dir() / "ahead.rdb").string()});
    ASSERT_EQ(by_id.exit_code, 0) << by_id.err;
    EXPECT_TRUE(by_id.out.starts_with("restored cache " + future_id + " (")) << by_id.out;

    // verify --restore tests the latest real backup, not the future one.
    RedisServer scratch;
    auto verify = dbkeep({"verify", "cache", "--restore", "--to", scratch.url()});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_NE(verify.out.find("cache " + three_days + " ok"), std::string::npos) << verify.out;
    EXPECT_EQ(verify.out.find(future_id), std::string::npos) << verify.out;

    // Once run --due has made a real backup, it is the latest.
    auto due = dbkeep({"run", "--due"});
    ASSERT_EQ(due.exit_code, 0) << due.err;
    std::string newest;
    for (const auto& m : m_work.manifests()) {
        auto id = fs::path(m).filename().string().substr(0, 23);
        if (id != future_id && id > newest) {
            newest = id;
        }
    }
    ASSERT_NE(newest, three_days) << "run --due made no backup: " << due.out;
    auto restore = dbkeep({"restore", "cache", "--output", (m_work.dir() / "restored-after.rdb").string()});
    ASSERT_EQ(restore.exit_code, 0) << restore.err;
    EXPECT_TRUE(restore.out.starts_with("restored cache " + newest + " (")) << restore.out;
}

// 2. A manual backup never removes a scheduled one.

TEST_F(UntrustedStorage, AManualBackupTheSameDayNeverRemovesTheNightly)
{
    // The example: keep: {daily: 7}, the nightly, then a manual backup the same day.
    write_config(m_redis->url(), "    schedule: \"0 0 * * *\"\n    keep: { daily: 7 }\n");
    // The nightly: made by `run --due` (no backup yet, so it is due).
    auto due = dbkeep({"run", "--due"});
    ASSERT_EQ(due.exit_code, 0) << due.err;
    ASSERT_EQ(m_work.manifests().size(), 1u) << due.out;
    const auto nightly = nlohmann::json::parse(read_file(backups() / m_work.manifests().front()));
    EXPECT_EQ(nightly.value("trigger", ""), "scheduled");
    const std::string nightly_manifest = m_work.manifests().front();

    // A manual backup later the same day; its retention runs after it.
    std::vector<std::string> manual;
    manual.push_back(back_up("cache")["id"]);
    EXPECT_TRUE(stored(nightly_manifest)) << "a manual backup removed the nightly";
    EXPECT_EQ(m_work.manifests().size(), 2u);

    // Two more, now with manual: 2; each one's retention runs after it.
    write_config(m_redis->url(), "    schedule: \"0 0 * * *\"\n    keep: { daily: 7, manual: 2 }\n");
    for (int i = 0; i < 2; ++i) {
        auto m = back_up("cache");
        EXPECT_EQ(m.value("trigger", ""), "manual");
        manual.push_back(m["id"]);
    }
    EXPECT_TRUE(stored(nightly_manifest)) << "a manual backup removed the nightly";
    EXPECT_TRUE(stored(nightly["object"]["key"].get<std::string>()));
    // manual: 2 keeps the two newest manual backups; the first one went, for that reason.
    EXPECT_EQ(m_work.manifests().size(), 3u);
    EXPECT_FALSE(stored(folder_of("cache", manual[0]) + manual[0] + ".manifest.json"));

    auto prune = dbkeep({"prune", "cache", "--dry-run"});
    ASSERT_EQ(prune.exit_code, 0) << prune.err;
    EXPECT_NE(prune.out.find(nightly["id"].get<std::string>() + "  keep   newest, daily "), std::string::npos)
        << prune.out;
    EXPECT_NE(prune.out.find(manual[2] + "  keep   manual"), std::string::npos) << prune.out;

    // One more manual backup: the prune that follows names the rule that removes the oldest manual one.
    write_config(m_redis->url(), "    schedule: \"0 0 * * *\"\n    keep: { daily: 7, manual: 1 }\n");
    prune = dbkeep({"prune", "cache"});
    ASSERT_EQ(prune.exit_code, 0) << prune.err;
    EXPECT_NE(prune.out.find(manual[1] + "  remove manual backup not kept by manual: 1"), std::string::npos)
        << prune.out;
    EXPECT_TRUE(stored(nightly_manifest)) << prune.out;

    auto list = dbkeep({"list", "cache"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    auto line = list.out.substr(list.out.find(manual[2]));
    EXPECT_NE(line.substr(0, line.find('\n')).find("manual"), std::string::npos) << list.out;
}

// 4. Nothing complete is deleted without proof.

TEST_F(UntrustedStorage, SixBackupsWhoseManifestsWereLostAreKeptAndListedAsOrphans)
{
    write_config(m_redis->url(), "    keep: { daily: 7 }\n");
    auto real = back_up("cache");
    std::vector<std::string> objects;
    for (int day = 1; day <= 6; ++day) {
        const std::string id = "2024010" + std::to_string(day) + "T023000Z-00000" + std::to_string(day);
        clone(real, id, false); // as if copied with --exclude '*.json'
        objects.push_back(folder_of("cache", id) + id + ".rdb.zst");
        backdate(backups() / objects.back(), std::chrono::hours(24 * (700 - day)));
    }
    back_up("cache"); // its retention runs afterwards
    for (const auto& o : objects) {
        EXPECT_TRUE(stored(o)) << o << " deleted by the retention after a backup";
    }
    auto list = dbkeep({"list", "cache"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    for (const auto& o : objects) {
        EXPECT_NE(list.out.find("ORPHAN " + o), std::string::npos) << list.out;
    }
    auto json = nlohmann::json::parse(dbkeep({"list", "cache", "--json"}).out);
    EXPECT_EQ(std::count_if(json.begin(), json.end(), [](const auto& j) { return j.value("status", "") == "orphan"; }),
              6);
    auto verify = dbkeep({"verify", "cache"});
    EXPECT_EQ(verify.exit_code, 1) << verify.out;
    EXPECT_NE(verify.out.find(objects.front() + " FAILED no manifest"), std::string::npos) << verify.out;
    auto prune = dbkeep({"prune", "cache"});
    ASSERT_EQ(prune.exit_code, 0) << prune.err;
    EXPECT_NE(prune.out.find(objects.front() + " kept: no manifest"), std::string::npos) << prune.out;
    for (const auto& o : objects) {
        EXPECT_TRUE(stored(o)) << o;
    }
    // On request they go.
    auto dry = dbkeep({"prune", "cache", "--orphans", "--dry-run"});
    ASSERT_EQ(dry.exit_code, 0) << dry.err;
    EXPECT_NE(dry.out.find(objects.front() + " would remove"), std::string::npos) << dry.out;
    EXPECT_TRUE(stored(objects.front()));
    auto orphans = dbkeep({"prune", "cache", "--orphans"});
    ASSERT_EQ(orphans.exit_code, 0) << orphans.err;
    for (const auto& o : objects) {
        EXPECT_FALSE(stored(o)) << o;
    }
    EXPECT_EQ(m_work.manifests().size(), 1u) << "daily: 7 keeps the newer of today's two";
    EXPECT_EQ(dbkeep({"verify", "cache"}).exit_code, 0);
}

// A key from storage with terminal control characters in it (an ESC sequence that would clear the screen or
// set the window title) is printed escaped by every command that lists it: list, verify and prune.
TEST_F(UntrustedStorage, ControlCharactersInKeysNeverReachTheTerminal)
{
    write_config(m_redis->url());
    back_up("cache");
    const std::string id = "20240101T023000Z-000001";
    const std::string hostile = folder_of("cache", id) + id + ".\x1b[2J\x1b]0;owned\x07.rdb.zst";
    fs::create_directories(backups() / folder_of("cache", id));
    write_file(backups() / hostile, "not a backup");
    backdate(backups() / hostile, std::chrono::hours(48));
    for (const auto& args : std::vector<std::vector<std::string>>{{"list", "cache"},
                                                                  {"verify", "cache"},
                                                                  {"prune", "cache"},
                                                                  {"prune", "cache", "--orphans", "--dry-run"}}) {
        auto r = dbkeep(args);
        EXPECT_EQ((r.out + r.err).find('\x1b'), std::string::npos) << args[0] << ": " << r.out << r.err;
        EXPECT_EQ((r.out + r.err).find('\x07'), std::string::npos) << args[0] << ": " << r.out << r.err;
    }
    auto prune = dbkeep({"prune", "cache"});
    EXPECT_NE(prune.out.find("2J"), std::string::npos) << "the key is still shown, escaped: " << prune.out;
}

TEST_F(UntrustedStorage, ATruncatedManifestIsListedAsUnreadableAndFailsVerify)
{
    write_config(m_redis->url());
    back_up("cache");
    auto second = back_up("cache");
    const std::string key = folder_of("cache", second["id"]) + second["id"].get<std::string>() + ".manifest.json";
    auto text = read_file(backups() / key);
    write_file(backups() / key, text.substr(0, text.size() / 2));

    auto list = dbkeep({"list", "cache"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    EXPECT_NE(list.out.find("UNREADABLE " + key), std::string::npos) << list.out;
    auto verify = dbkeep({"verify", "cache"});
    EXPECT_EQ(verify.exit_code, 1) << verify.out << verify.err;
    EXPECT_NE(verify.out.find(key + " FAILED unreadable manifest"), std::string::npos) << verify.out;
    EXPECT_TRUE(stored(second["object"]["key"]));
}

TEST_F(UntrustedStorage, TheSweepAfterABackupRemovesAKilledRunsOldTempFileAndKeepsAYoungOne)
{
    write_config(m_redis->url());
    // Two runs killed mid-write (SIGKILL: no destructor, no abort), each leaving its temp file.
    auto killed_writer = [&](const std::string& key) {
        pid_t pid = ::fork();
        if (pid == 0) {
            auto storage = storage::make_local_storage({.root = backups()});
            auto w = storage->open_writer(key);
            if (w) {
                std::string chunk(1 << 16, 'x');
                for (int i = 0; i < 16; ++i) {
                    (void)(*w)->write(as_bytes(chunk));
                }
            }
            ::raise(SIGKILL);
            ::_exit(1);
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFSIGNALED(status));
    };
    killed_writer("cache/2024/01/20240101T000000Z-dead01.rdb.zst");
    killed_writer("cache/2024/01/20240102T000000Z-dead02.rdb.zst");
    std::vector<std::string> tmp;
    for (const auto& f : m_work.stored_files()) {
        if (f.find(".tmp-") != std::string::npos) {
            tmp.push_back(f);
        }
    }
    ASSERT_EQ(tmp.size(), 2u);
    EXPECT_EQ(fs::file_size(backups() / tmp[0]), 1u << 20);
    backdate(backups() / tmp[0], std::chrono::hours(25));

    back_up("cache");
    EXPECT_FALSE(stored(tmp[0])) << "a day-old temp file of a killed run is garbage";
    EXPECT_TRUE(stored(tmp[1])) << "a young temp file may be a running backup's";
    EXPECT_EQ(m_work.manifests().size(), 1u);
}
