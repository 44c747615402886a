#include "catalog/manifest.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <limits>
#include <nlohmann/json.hpp>

using namespace dbkeep;
using namespace dbkeep::catalog;
using nlohmann::json;

namespace {

// Written before the `trigger` field existed: must keep parsing, as a scheduled backup.
const std::string k_golden = std::string(DBKEEP_SOURCE_DIR) + "/tests/unit/catalog/testdata/manifest_v1.json";
// What this version writes.
const std::string k_golden_trigger =
    std::string(DBKEEP_SOURCE_DIR) + "/tests/unit/catalog/testdata/manifest_v1_trigger.json";

// Every field set to a value different from its default.
Manifest populated()
{
    Manifest m;
    m.format = 1;
    m.id = "20261125T000000Z-a1b2c3";
    m.target = "orders";
    m.engine = "postgres";
    m.server_version = "15.8 (Debian 15.8-0+deb12u1)";
    m.tool = "pg_dump";
    m.tool_version = "15.8";
    m.started_at = "2026-11-25T00:00:00.123Z";
    m.finished_at = "2026-11-25T00:01:02.456Z";
    m.started_unix_ms = 1795564800123;
    m.finished_unix_ms = 1795564862456;
    m.object_key = "orders/2026/11/20261125T000000Z-a1b2c3.pgdump.zst.age";
    m.raw_bytes = 5'000'000'000ull; // beyond 32 bits
    m.stored_bytes = 1'234'567'890ull;
    m.sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    m.compression = "zstd";
    m.compression_level = 7;
    m.encryption = "age";
    m.encryption_recipients = {"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
                               "age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg"};
    m.runner = "docker container legacy-postgres";
    m.dbkeep_version = "0.1.0";
    m.trigger = Trigger::manual;
    m.stats = {{"public.orders", 1'000'000}, {"\"Mixed\".\"Case Table\"", 3}, {"big", std::int64_t{1} << 40}};
    m.details = {{"snapshot", "00000003-00000002-1"}, {"unicode", "zürich ☃"}};
    return m;
}

// A valid manifest as JSON, for tests that remove or change one field.
json valid_json()
{
    return json::parse(to_json(populated()));
}

} // namespace

TEST(Manifest, RoundTripsEveryField)
{
    const Manifest m = populated();
    auto back = parse_manifest(to_json(m), "k");
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(*back, m);
    // Spelled out, so that a failure says which field.
    EXPECT_EQ(back->format, m.format);
    EXPECT_EQ(back->id, m.id);
    EXPECT_EQ(back->target, m.target);
    EXPECT_EQ(back->engine, m.engine);
    EXPECT_EQ(back->server_version, m.server_version);
    EXPECT_EQ(back->tool, m.tool);
    EXPECT_EQ(back->tool_version, m.tool_version);
    EXPECT_EQ(back->started_at, m.started_at);
    EXPECT_EQ(back->finished_at, m.finished_at);
    EXPECT_EQ(back->started_unix_ms, m.started_unix_ms);
    EXPECT_EQ(back->finished_unix_ms, m.finished_unix_ms);
    EXPECT_EQ(back->object_key, m.object_key);
    EXPECT_EQ(back->raw_bytes, m.raw_bytes);
    EXPECT_EQ(back->stored_bytes, m.stored_bytes);
    EXPECT_EQ(back->sha256, m.sha256);
    EXPECT_EQ(back->compression, m.compression);
    EXPECT_EQ(back->compression_level, m.compression_level);
    EXPECT_EQ(back->encryption, m.encryption);
    EXPECT_EQ(back->encryption_recipients, m.encryption_recipients);
    EXPECT_EQ(back->runner, m.runner);
    EXPECT_EQ(back->dbkeep_version, m.dbkeep_version);
    EXPECT_EQ(back->trigger, m.trigger);
    EXPECT_EQ(back->stats, m.stats);
    EXPECT_EQ(back->details, m.details);
}

TEST(Manifest, RoundTripsExtremeByteCounts)
{
    Manifest m = populated();
    m.raw_bytes = std::numeric_limits<std::uint64_t>::max();
    m.stored_bytes = 0;
    m.stats = {};
    m.details = {};
    m.encryption = "";
    m.encryption_recipients = {};
    auto back = parse_manifest(to_json(m), "k");
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(*back, m);
}

TEST(Manifest, JsonIsIndentedAndEndsWithANewline)
{
    auto text = to_json(populated());
    EXPECT_TRUE(text.ends_with("}\n"));
    EXPECT_NE(text.find("\n  \"id\": \"20261125T000000Z-a1b2c3\""), std::string::npos) << text;
}

TEST(Manifest, GoldenVersion1FileParses)
{
    auto text = test::read_file(k_golden);
    ASSERT_FALSE(text.empty()) << "missing " << k_golden;
    auto m = parse_manifest(text, "manifest_v1.json");
    ASSERT_TRUE(m) << m.error().to_string();
    Manifest expected = populated();
    expected.trigger = Trigger::scheduled; // no `trigger` field: the treatment such backups always had
    EXPECT_EQ(*m, expected);
}

TEST(Manifest, GoldenFileWithTriggerParses)
{
    auto text = test::read_file(k_golden_trigger);
    ASSERT_FALSE(text.empty()) << "missing " << k_golden_trigger;
    auto m = parse_manifest(text, "manifest_v1_trigger.json");
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_EQ(*m, populated());
}

TEST(Manifest, TriggerIsScheduledOrManual)
{
    json j = valid_json();
    EXPECT_EQ(j["trigger"], "manual");
    j["trigger"] = "scheduled";
    auto scheduled = parse_manifest(j.dump(), "k");
    ASSERT_TRUE(scheduled) << scheduled.error().to_string();
    EXPECT_EQ(scheduled->trigger, Trigger::scheduled);
    j.erase("trigger");
    auto absent = parse_manifest(j.dump(), "k");
    ASSERT_TRUE(absent) << absent.error().to_string();
    EXPECT_EQ(absent->trigger, Trigger::scheduled);
    for (const json& bad : {json("hourly"), json(""), json(1), json(nullptr)}) {
        j["trigger"] = bad;
        auto m = parse_manifest(j.dump(), "k");
        ASSERT_FALSE(m) << bad.dump();
        EXPECT_EQ(m.error().kind, ErrorKind::corruption) << bad.dump();
    }
}

TEST(Manifest, SerializationMatchesTheGoldenFile)
{
    // When this fails because the format changed on purpose: keep old files readable (GoldenVersion1FileParses),
    // bump k_manifest_format if old readers would misread the new file, and add a new golden file.
    EXPECT_EQ(to_json(populated()), test::read_file(k_golden_trigger));
}

TEST(Manifest, OptionalFieldsTakeTheirDefaults)
{
    json j = {{"format", 1},
              {"id", "20261125T000000Z-a1b2c3"},
              {"target", "orders"},
              {"engine", "postgres"},
              {"object",
               {{"key", "orders/2026/11/20261125T000000Z-a1b2c3.pgdump.zst"},
                {"stored_bytes", 10},
                {"sha256", std::string(64, '0')}}}};
    auto m = parse_manifest(j.dump(), "k");
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_EQ(m->stored_bytes, 10u);
    EXPECT_EQ(m->raw_bytes, 0u);
    EXPECT_EQ(m->compression, "zstd");
    EXPECT_EQ(m->compression_level, 3);
    EXPECT_EQ(m->encryption, "");
    EXPECT_TRUE(m->encryption_recipients.empty());
    EXPECT_TRUE(m->stats.empty());
    EXPECT_TRUE(m->details.empty());
    EXPECT_EQ(m->started_unix_ms, 0);
    EXPECT_EQ(m->trigger, Trigger::scheduled);
}

TEST(Manifest, UnknownFieldsAreIgnored)
{
    json j = valid_json();
    j["added_in_a_later_version"] = {{"x", 1}};
    j["object"]["another_new_field"] = "y";
    auto m = parse_manifest(j.dump(), "k");
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_EQ(*m, populated());
}

TEST(Manifest, MissingRequiredFieldsAreCorruption)
{
    const std::vector<std::vector<std::string>> required = {
        {"format"},          {"id"}, {"target"}, {"engine"}, {"object"}, {"object", "key"}, {"object", "stored_bytes"},
        {"object", "sha256"}};
    for (const auto& path : required) {
        json j = valid_json();
        if (path.size() == 1) {
            j.erase(path[0]);
        } else {
            j[path[0]].erase(path[1]);
        }
        auto m = parse_manifest(j.dump(), "orders/2026/11/x.manifest.json");
        ASSERT_FALSE(m) << path.back();
        EXPECT_EQ(m.error().kind, ErrorKind::corruption) << path.back();
        EXPECT_EQ(m.error().object, "orders/2026/11/x.manifest.json");
        EXPECT_TRUE(m.error().message.starts_with("missing or mistyped field")) << m.error().message;
        EXPECT_NE(m.error().message.find(path.back()), std::string::npos) << m.error().message;
    }
}

TEST(Manifest, MistypedFieldsAreCorruption)
{
    auto mistyped = [](auto&& change) {
        json j = valid_json();
        change(j);
        auto m = parse_manifest(j.dump(), "k");
        return !m && m.error().kind == ErrorKind::corruption;
    };
    EXPECT_TRUE(mistyped([](json& j) { j["format"] = "1"; }));
    EXPECT_TRUE(mistyped([](json& j) { j["id"] = 5; }));
    EXPECT_TRUE(mistyped([](json& j) { j["object"] = "orders/x"; }));
    EXPECT_TRUE(mistyped([](json& j) { j["object"]["stored_bytes"] = "12"; }));
    EXPECT_TRUE(mistyped([](json& j) { j["object"]["recipients"] = "age1x"; }));
    EXPECT_TRUE(mistyped([](json& j) { j["stats"] = {{"t", "many"}}; }));
    EXPECT_TRUE(mistyped([](json& j) { j["server_version"] = json::array(); }));
}

TEST(Manifest, NewerFormatIsCorruptionWithAnUpgradeHint)
{
    json j = valid_json();
    j["format"] = k_manifest_format + 1;
    j["something_new_and_required"] = true;
    auto m = parse_manifest(j.dump(), "orders/2026/11/x.manifest.json");
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().kind, ErrorKind::corruption);
    EXPECT_EQ(m.error().operation, "read manifest");
    EXPECT_EQ(m.error().object, "orders/2026/11/x.manifest.json");
    EXPECT_EQ(m.error().message, "format 3 is newer than this dbkeep understands");
    EXPECT_EQ(m.error().hint, "upgrade dbkeep");
}

TEST(Manifest, InvalidJsonIsCorruption)
{
    for (const auto& text : std::vector<std::string>{"", "{", "not json", "[]", "null", "42", "\"text\"",
                                                     "{\"format\": 1,}", std::string("{\"format\":1}\0garbage", 20)}) {
        auto m = parse_manifest(text, "k");
        ASSERT_FALSE(m) << text;
        EXPECT_EQ(m.error().kind, ErrorKind::corruption) << text;
        EXPECT_EQ(m.error().object, "k");
    }
    auto truncated = to_json(populated());
    truncated.resize(truncated.size() / 2);
    auto m = parse_manifest(truncated, "k");
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message, "not valid JSON");
}

// Issue 17: a backup with parts is written as format 2 (a reader of format 1 refuses it rather than restore
// its first object alone), its parts round-trip, and parts in a format 1 manifest make it unreadable.
TEST(Manifest, PartsRoundTripAsFormat2)
{
    Manifest m = populated();
    Part p;
    p.key = "orders/2026/11/20261125T000000Z-a1b2c3.part-0001.copy.zst.age";
    p.raw_bytes = 5'000'000'000ull;
    p.stored_bytes = 12;
    p.sha256 = std::string(64, 'c');
    p.details = {{"schema", "public"}, {"table", "big"}, {"columns", R"(["id","body"])"}, {"rows", "42"}};
    m.parts = {p, p};
    m.parts[1].key = "orders/2026/11/20261125T000000Z-a1b2c3.part-0002.copy.zst.age";
    const std::string text = to_json(m);
    EXPECT_EQ(json::parse(text)["format"], 2);
    auto back = parse_manifest(text, "m");
    ASSERT_TRUE(back) << back.error().to_string();
    m.format = 2;
    EXPECT_EQ(*back, m);

    EXPECT_EQ(json::parse(to_json(populated()))["format"], 1) << "one object: still format 1";
    json j = json::parse(text);
    j["format"] = 1;
    auto refused = parse_manifest(j.dump(), "m");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, ErrorKind::corruption);
    j = json::parse(text);
    j["parts"][0].erase("sha256");
    EXPECT_FALSE(parse_manifest(j.dump(), "m"));
}
