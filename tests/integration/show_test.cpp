// `dbkeep show TARGET [ID]` against a real PostgreSQL 15 and Redis: the manifest and the dump's contents read
// from storage (decrypted, checksum checked) without restoring; the TOC it shows is the one `pg_restore -l`
// lists for the same stored dump.
#include "core/human.hpp"
#include "support/postgres_fixture.hpp"
#include "support/redis_fixture.hpp"
#include "support/redis_server.hpp"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

using namespace dbkeep::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* k_seed_sql = R"SQL(
CREATE TABLE public.orders (id serial PRIMARY KEY, note text);
INSERT INTO public.orders (note) SELECT 'order ' || g FROM generate_series(1, 1500) g;
CREATE INDEX orders_note ON public.orders (note);
COMMENT ON TABLE public.orders IS 'what was sold';
CREATE SCHEMA billing;
CREATE TABLE billing."Invoices" ("Id" int, amount numeric);
INSERT INTO billing."Invoices" SELECT g, g * 1.5 FROM generate_series(1, 321) g;
CREATE VIEW public.recent AS SELECT * FROM public.orders WHERE id > 1000;
CREATE SEQUENCE public.counter;
SELECT setval('public.counter', 77);
CREATE TABLE public.empty_table (x int);
SELECT lo_from_bytea(515151, 'large object bytes');
)SQL";

class Show : public PostgresTest {
protected:
    Show() : PostgresTest({.seed_sql = k_seed_sql, .tag = "dbkeep-show"}) {}
    void SetUp() override
    {
        PostgresTest::SetUp();
        if (!IsSkipped()) {
            write_config();
        }
    }
    std::string only(const std::string& suffix) const
    {
        auto files = m_work->files_ending(suffix);
        EXPECT_EQ(files.size(), 1u) << suffix;
        return files.empty() ? std::string() : (m_work->backups() / files.front()).string();
    }
    std::string key(const std::string& name) const { return (m_work->dir() / name).string(); }
};

// "id desc schema name owner" of each line `pg_restore -l` prints (its comment lines left out).
std::set<std::string> pg_restore_entries(const std::string& listing)
{
    std::set<std::string> out;
    std::istringstream in(listing);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == ';') {
            continue;
        }
        // 215; 1259 16385 TABLE public orders postgres
        auto semi = line.find(';');
        std::istringstream rest(line.substr(semi + 1));
        std::string table_oid, oid;
        rest >> table_oid >> oid;
        std::string tail;
        std::getline(rest, tail);
        out.insert(line.substr(0, semi) + " " + table_oid + " " + oid + tail);
    }
    return out;
}

// The same from show's JSON listing of an object.
std::set<std::string> shown_entries(const nlohmann::json& object)
{
    std::set<std::string> out;
    for (const auto& e : object["contents"]["entries"]) {
        out.insert(e["id"].get<std::string>() + " " + e["table_oid"].get<std::string>() + " " +
                   e["oid"].get<std::string>() + " " + e["desc"].get<std::string>() + " " +
                   e["schema"].get<std::string>() + " " + e["name"].get<std::string>() + " " +
                   e["owner"].get<std::string>());
    }
    return out;
}

} // namespace

TEST_F(Show, TheTocShownIsWhatPgRestoreListsWithTheRowCounts)
{
    auto b = dbkeep({"backup", "app"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto listed = sh("zstd -dc '" + only(".pgdump.zst") + "' | " + PostgresServer::bin_dir() + "/pg_restore -l");
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    auto expected = pg_restore_entries(listed.out);
    ASSERT_GE(expected.size(), 10u) << listed.out;

    auto s = dbkeep({"show", "app", "--json"});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    auto doc = nlohmann::json::parse(s.out);
    ASSERT_EQ(doc["objects"].size(), 1u) << doc.dump(2);
    const auto& object = doc["objects"][0];
    EXPECT_EQ(object["contents"]["kind"], "pg_dump custom archive");
    EXPECT_EQ(shown_entries(object), expected) << listed.out;
    // Each TABLE DATA entry carries the rows the manifest recorded for its table.
    std::map<std::string, std::string> rows;
    for (const auto& e : object["contents"]["entries"]) {
        // Comments and ACLs are in no section of their own (pg_dump's SECTION_NONE).
        const std::string section = e["section"];
        EXPECT_TRUE(section == "pre-data" || section == "data" || section == "post-data" ||
                    (section == "none" && (e["desc"] == "COMMENT" || e["desc"] == "ACL")))
            << e.dump();
        if (e["desc"] == "TABLE DATA") {
            rows[e["schema"].get<std::string>() + "." + e["name"].get<std::string>()] = e["rows"];
        }
    }
    EXPECT_EQ(rows, (std::map<std::string, std::string>{
                        {"public.orders", "1500"}, {"billing.Invoices", "321"}, {"public.empty_table", "0"}}));
    EXPECT_EQ(doc["stats"]["public.orders"], 1500);
    EXPECT_EQ(object["contents"]["counts"]["billing.Invoices"], 321);
    EXPECT_EQ(object["contents"]["facts"]["large_objects"], "1");

    // The text form: the manifest, then the listing.
    auto text = dbkeep({"show", "app"});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("backup " + doc["id"].get<std::string>() + " of app"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("pg_dump custom archive"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("TABLE DATA"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("orders_note"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find(doc["object"]["sha256"].get<std::string>()), std::string::npos) << text.out;
}

TEST_F(Show, JsonHasTheManifestFieldsAndTheNewestBackupIsTheDefault)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    ASSERT_TRUE(m_work->wait_for_a_newer_backup_id());
    m_pg->psql("app", "INSERT INTO public.orders (note) VALUES ('one more')");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto l = nlohmann::json::parse(dbkeep({"list", "app", "--json"}).out);
    ASSERT_EQ(l.size(), 2u);
    const std::string newest = l[0]["id"], oldest = l[1]["id"];

    auto s = dbkeep({"--json", "show", "app"});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    auto doc = nlohmann::json::parse(s.out);
    EXPECT_EQ(doc["id"], newest);
    EXPECT_EQ(doc["stats"]["public.orders"], 1501);
    for (const char* field : {"id", "target", "engine", "format", "started_at", "finished_at", "tool", "server_version",
                              "object", "details", "stats", "objects"}) {
        EXPECT_TRUE(doc.contains(field)) << field;
    }
    EXPECT_EQ(doc["engine"], "postgres");
    EXPECT_EQ(doc["format"], 1);
    for (const char* field : {"key", "raw_bytes", "stored_bytes", "sha256"}) {
        EXPECT_TRUE(doc["object"].contains(field)) << field;
        EXPECT_EQ(doc["objects"][0][field], doc["object"][field]) << field;
    }
    EXPECT_EQ(doc["objects"][0]["role"], "data");
    EXPECT_EQ(doc["objects"][0]["checksum"], "ok");

    auto older = dbkeep({"show", "app", oldest, "--json"});
    ASSERT_EQ(older.exit_code, 0) << older.err;
    EXPECT_EQ(nlohmann::json::parse(older.out)["stats"]["public.orders"], 1500);
}

TEST_F(Show, AnUnknownIdIsAClearError)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto s = dbkeep({"show", "app", "20200101T000000Z-abcdef"});
    EXPECT_EQ(s.exit_code, 1) << s.err;
    EXPECT_TRUE(s.out.empty()) << s.out;
    EXPECT_NE(s.err.find("no backup with id 20200101T000000Z-abcdef"), std::string::npos) << s.err;
    auto j = dbkeep({"show", "app", "20200101T000000Z-abcdef", "--json"});
    EXPECT_EQ(j.exit_code, 1) << j.err;
    EXPECT_EQ(nlohmann::json::parse(j.out)["error"]["kind"], "not_found") << j.out;
    auto t = dbkeep({"show", "nosuchtarget"});
    EXPECT_EQ(t.exit_code, 2) << t.err;
}

// `dbkeep show app nope` suggested "--at" and "--backup", options of restore: show takes the id as its argument.
// Like a missing id of the right shape, it says the id was not found and points at `dbkeep list app`.
TEST_F(Show, AMissingIdSuggestsListAndNoOptionOfAnotherCommand)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    for (const char* bad : {"nope", "20200101T000000Z-abcdef"}) {
        auto s = dbkeep({"show", "app", bad});
        EXPECT_EQ(s.exit_code, 1) << s.err;
        EXPECT_TRUE(s.out.empty()) << s.out;
        EXPECT_NE(s.err.find(std::string("no backup with id ") + bad), std::string::npos) << s.err;
        EXPECT_NE(s.err.find("run `dbkeep list app` to see the ids"), std::string::npos) << s.err;
        EXPECT_EQ(s.err.find("--at"), std::string::npos) << s.err;
        EXPECT_EQ(s.err.find("--backup"), std::string::npos) << s.err;
        auto j = dbkeep({"show", "app", bad, "--json"});
        EXPECT_EQ(j.exit_code, 1) << j.err;
        const auto error = nlohmann::json::parse(j.out)["error"];
        EXPECT_EQ(error["kind"], "not_found") << j.out;
        EXPECT_EQ(error["message"], std::string("no backup with id ") + bad) << j.out;
        EXPECT_EQ(error["hint"].get<std::string>().find("--"), std::string::npos) << j.out;
    }
    // A time before every backup names show's own form for the oldest one.
    auto before = dbkeep({"show", "app", "2000-01-01T00:00:00Z"});
    EXPECT_EQ(before.exit_code, 1) << before.err;
    EXPECT_NE(before.err.find("no backup at or before 2000-01-01T00:00:00Z"), std::string::npos) << before.err;
    EXPECT_NE(before.err.find("`dbkeep show app 20"), std::string::npos) << before.err;
    EXPECT_EQ(before.err.find("--at"), std::string::npos) << before.err;
    EXPECT_EQ(before.err.find("--backup"), std::string::npos) << before.err;
}

// Names that are not ASCII ("café" is 5 bytes in 4 columns, "日本" 6 bytes in 4) kept the columns after them
// out of line: the listing was padded by bytes.
TEST_F(Show, NonAsciiNamesKeepTheListingAligned)
{
    m_pg->psql("app", "CREATE TABLE public.\"café\" (x int); CREATE SCHEMA \"日本\"; "
                      "CREATE TABLE \"日本\".\"東京\" (y int); INSERT INTO \"日本\".\"東京\" VALUES (1)");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    auto s = dbkeep({"show", "app"});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    // The listing: the header line (with NAME and OWNER), then its entries; each entry's owner begins at the
    // display column OWNER does.
    std::istringstream in(s.out);
    std::vector<std::string> listing;
    for (std::string line; std::getline(in, line);) {
        if (line.find(" DESC ") != std::string::npos && line.find("OWNER") != std::string::npos) {
            listing.clear();
        }
        listing.push_back(line);
    }
    ASSERT_GT(listing.size(), 5u) << s.out;
    const std::string& header = listing.front();
    ASSERT_NE(header.find("OWNER"), std::string::npos) << s.out;
    const auto owner_column = dbkeep::display_width(header.substr(0, header.find("OWNER")));
    const std::string owner = m_pg->psql("app", "SELECT current_user");
    int checked = 0;
    bool cafe = false;
    bool tokyo = false;
    for (std::size_t i = 1; i < listing.size(); ++i) {
        const std::string& line = listing[i];
        const auto at = line.find(" " + owner + " ");
        if (at == std::string::npos) {
            continue;
        }
        EXPECT_EQ(dbkeep::display_width(line.substr(0, at + 1)), owner_column) << header << "\n" << line;
        ++checked;
        cafe = cafe || line.find("café") != std::string::npos;
        tokyo = tokyo || line.find("東京") != std::string::npos;
    }
    EXPECT_GT(checked, 3) << s.out;
    EXPECT_TRUE(cafe && tokyo) << s.out;
}

TEST_F(Show, ACorruptedObjectFailsWithAChecksumError)
{
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    const auto object = only(".pgdump.zst");
    ASSERT_EQ(dbkeep({"show", "app"}).exit_code, 0);
    // Flip one byte in the middle of the stored object.
    const auto size = fs::file_size(object);
    {
        std::fstream f(object, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(static_cast<std::streamoff>(size / 2));
        char c = 0;
        f.get(c);
        f.seekp(static_cast<std::streamoff>(size / 2));
        f.put(static_cast<char>(~c));
        ASSERT_TRUE(f.good());
    }
    ASSERT_EQ(fs::file_size(object), size);
    auto s = dbkeep({"show", "app"});
    EXPECT_EQ(s.exit_code, 1) << s.out;
    EXPECT_NE(s.err.find("SHA-256 mismatch"), std::string::npos) << s.err;
    auto j = dbkeep({"show", "app", "--json"});
    EXPECT_EQ(j.exit_code, 1);
    auto doc = nlohmann::json::parse(j.out);
    EXPECT_EQ(doc["status"], "failed");
    EXPECT_EQ(doc["error"]["kind"], "corruption");
}

TEST_F(Show, AnEncryptedBackupIsShownWithTheIdentity)
{
    if (!have_program("age")) {
        GTEST_SKIP() << "age not installed";
    }
    auto k = dbkeep({"keygen", "-o", key("id.txt")});
    ASSERT_EQ(k.exit_code, 0) << k.err;
    const std::string recipient = k.out.substr(0, k.out.size() - 1);
    write_config("    encryption: { recipients: [" + recipient + "] }\n");
    ASSERT_EQ(dbkeep({"backup", "app"}).exit_code, 0);
    ASSERT_FALSE(only(".age").empty());

    auto none = dbkeep({"show", "app"}, {.env = {{"DBKEEP_IDENTITY_FILE", "\x01unset"}}});
    EXPECT_EQ(none.exit_code, 2) << none.err;
    EXPECT_NE(none.err.find("--identity"), std::string::npos) << none.err;

    auto s = dbkeep({"show", "app", "--identity", key("id.txt"), "--json"});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    auto doc = nlohmann::json::parse(s.out);
    EXPECT_EQ(doc["object"]["encryption"], "age");
    std::set<std::string> names;
    for (const auto& e : doc["objects"][0]["contents"]["entries"]) {
        names.insert(e["desc"].get<std::string>() + " " + e["name"].get<std::string>());
    }
    EXPECT_TRUE(names.contains("TABLE DATA orders")) << doc.dump(2);
    EXPECT_TRUE(names.contains("INDEX orders_note")) << doc.dump(2);

    RunOptions env;
    env.env["DBKEEP_IDENTITY_FILE"] = key("id.txt");
    EXPECT_EQ(dbkeep({"show", "app"}, env).exit_code, 0);
}

TEST_F(Show, AParallelDumpShowsEachPartByItsDetails)
{
    m_pg->psql("app", "CREATE TABLE public.big AS SELECT g AS id, repeat('x', 200) AS body FROM "
                      "generate_series(1, 20000) g");
    write_config("    jobs: 2\n    split_tables_larger_than: 256KiB\n");
    auto b = dbkeep({"backup", "app"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto s = dbkeep({"show", "app", "--json"});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    auto doc = nlohmann::json::parse(s.out);
    ASSERT_GE(doc["objects"].size(), 3u) << doc.dump(2);
    EXPECT_EQ(doc["objects"][0]["contents"]["kind"], "pg_dump custom archive");
    std::int64_t rows = 0;
    for (std::size_t i = 1; i < doc["objects"].size(); ++i) {
        const auto& p = doc["objects"][i];
        EXPECT_EQ(p["role"], "part");
        EXPECT_EQ(p["part"], i);
        EXPECT_EQ(p["details"]["table"], "big") << p.dump();
        EXPECT_TRUE(p["details"].contains("first_page")) << p.dump();
        EXPECT_EQ(p["contents"]["kind"], p["details"]["format"]) << p.dump();
        rows += std::stoll(p["details"]["rows"].get<std::string>());
    }
    EXPECT_EQ(rows, 20000);
    auto text = dbkeep({"show", "app"});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("part 1 "), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("table=big"), std::string::npos) << text.out;
}

namespace {
class ShowRedis : public RedisTest {};
} // namespace

TEST_F(ShowRedis, TheRdbSummaryHasKeysPerDbTypesAndVersion)
{
    RedisServer source;
    std::string load;
    for (int i = 0; i < 300; ++i) {
        load += "SET key:" + std::to_string(i) + " v\n";
    }
    load += "HSET h f v\nRPUSH l a b\nSADD s x\nZADD z 1 a\nXADD st * f v\nSELECT 3\nSET other x\nHSET h2 f v\n";
    source.cli({}, load);
    write_config(source.url());
    ASSERT_EQ(dbkeep({"backup", "cache"}).exit_code, 0);
    auto s = dbkeep({"show", "cache", "--json"});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    auto doc = nlohmann::json::parse(s.out);
    const auto& c = doc["objects"][0]["contents"];
    EXPECT_EQ(c["kind"], "rdb");
    EXPECT_EQ(c["counts"]["db0"], 305);
    EXPECT_EQ(c["counts"]["db3"], 2);
    EXPECT_FALSE(c["facts"]["rdb_version"].get<std::string>().empty());
    std::map<std::string, std::string> types;
    for (const auto& e : c["entries"]) {
        types[e["type"]] = e["keys"];
    }
    EXPECT_EQ(types,
              (std::map<std::string, std::string>{
                  {"string", "301"}, {"hash", "2"}, {"list", "1"}, {"set", "1"}, {"zset", "1"}, {"stream", "1"}}));
    auto text = dbkeep({"show", "cache"});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("rdb_version="), std::string::npos) << text.out;
}
