// `--json` on every command (issue 18, item 7), through the binary against a real redis-server: each command's
// stdout is one JSON document of the shape docs/json.md documents, failures included, exit codes unchanged,
// no secret in it; without --json each command ends with its one-line human summary.
#include "support/redis_fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;

namespace {

nlohmann::json parse_document(const RunResult& r)
{
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "stdout is not one JSON document:\n" << r.out << "\n" << r.err;
    return j;
}

// The last non-empty line of a command's stdout.
std::string last_line(const std::string& out)
{
    auto end = out.find_last_not_of('\n');
    if (end == std::string::npos) {
        return "";
    }
    auto start = out.rfind('\n', end);
    return out.substr(start == std::string::npos ? 0 : start + 1,
                      end - (start == std::string::npos ? 0 : start + 1) + 1);
}

class JsonOutput : public RedisTest {};

} // namespace

TEST_F(JsonOutput, EveryCommandPrintsOneDocumentOfItsShape)
{
    RedisServer source({.extra_args = {"--requirepass", "Src-Secret-77"}});
    source.set_auth("", "Src-Secret-77");
    source.cli({"SET", "k", "v"});
    source.cli({"SET", "k2", "v2"});
    write_config("redis://:Src-Secret-77@127.0.0.1:" + std::to_string(source.port()),
                 "    schedule: \"0 0 1 1 *\"\n    keep: {last: 5, manual: 5}\n");

    auto validate = dbkeep({"config", "validate", "--json"});
    ASSERT_EQ(validate.exit_code, 0) << validate.err;
    auto v = parse_document(validate);
    EXPECT_EQ(v["valid"], true);
    EXPECT_EQ(v["targets"][0]["name"], "cache");
    EXPECT_EQ(v["targets"][0]["engine"], "redis");
    EXPECT_EQ(v["targets"][0]["schedule"], "0 0 1 1 *");

    auto backup = dbkeep({"backup", "--json"});
    ASSERT_EQ(backup.exit_code, 0) << backup.err;
    auto b = parse_document(backup);
    ASSERT_EQ(b.size(), 1u) << b.dump();
    EXPECT_EQ(b[0]["status"], "ok");
    EXPECT_GT(b[0]["stored_bytes"].get<std::uint64_t>(), 0u);
    EXPECT_GT(b[0]["raw_bytes"].get<std::uint64_t>(), 0u);
    const std::string id = b[0]["id"];

    auto list = dbkeep({"list", "--json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    auto l = parse_document(list);
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0]["id"], id);

    auto verify = dbkeep({"verify", "--json"});
    ASSERT_EQ(verify.exit_code, 0) << verify.err;
    auto ve = parse_document(verify);
    ASSERT_EQ(ve.size(), 1u);
    EXPECT_EQ(ve[0]["id"], id);
    EXPECT_EQ(ve[0]["status"], "ok");

    auto due = dbkeep({"run", "--due", "--json"});
    ASSERT_EQ(due.exit_code, 0) << due.err;
    auto d = parse_document(due);
    ASSERT_EQ(d.size(), 1u) << d.dump();
    EXPECT_EQ(d[0]["job"], "backup");
    EXPECT_EQ(d[0]["status"], "not_due");
    EXPECT_TRUE(d[0]["next"].is_string());

    ASSERT_TRUE(m_work.wait_for_a_newer_backup_id());
    ASSERT_EQ(dbkeep({"backup"}).exit_code, 0);
    write_config("redis://:Src-Secret-77@127.0.0.1:" + std::to_string(source.port()),
                 "    schedule: \"0 0 1 1 *\"\n    keep: {last: 1, manual: 1}\n");
    auto prune = dbkeep({"prune", "--dry-run", "--json"});
    ASSERT_EQ(prune.exit_code, 0) << prune.err;
    auto p = parse_document(prune);
    ASSERT_EQ(p.size(), 2u) << p.dump();
    EXPECT_EQ(p[0]["action"], "keep");
    EXPECT_EQ(p[1]["id"], id);
    EXPECT_EQ(p[1]["action"], "would_remove");

    RedisServer dest;
    auto restore = dbkeep(
        {"restore", "cache", "--backup", id, "--json", "--to", "redis://127.0.0.1:" + std::to_string(dest.port())});
    ASSERT_EQ(restore.exit_code, 0) << restore.err;
    auto r = parse_document(restore);
    EXPECT_EQ(r["status"], "ok");
    EXPECT_EQ(r["id"], id);
    EXPECT_EQ(dest.cli({"DBSIZE"}), "2");

    auto check = dbkeep({"check", "--json"});
    EXPECT_TRUE(parse_document(check).is_array());

    auto keygen = dbkeep({"keygen", "--json", "-o", (m_work.dir() / "id.txt").string()});
    ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
    EXPECT_TRUE(parse_document(keygen)["recipient"].get<std::string>().starts_with("age1"));

    for (const auto* run : {&validate, &backup, &list, &verify, &due, &prune, &restore, &check}) {
        EXPECT_EQ(run->out.find("Src-Secret-77"), std::string::npos) << run->out;
    }
}

TEST_F(JsonOutput, FailuresAreInTheDocumentWithTheSameExitCodes)
{
    const ClosedPort closed;
    write_config("redis://:Pw-Not-Shown-5@127.0.0.1:" + std::to_string(closed.port()));
    auto backup = dbkeep({"backup", "--json"});
    EXPECT_EQ(backup.exit_code, 1) << backup.err;
    auto b = parse_document(backup);
    ASSERT_EQ(b.size(), 1u) << b.dump();
    EXPECT_EQ(b[0]["target"], "cache");
    EXPECT_EQ(b[0]["status"], "failed");
    EXPECT_FALSE(b[0]["error"]["message"].get<std::string>().empty());
    EXPECT_EQ(backup.out.find("Pw-Not-Shown-5"), std::string::npos) << backup.out;

    auto restore = dbkeep({"restore", "cache", "--json", "--to", "redis://127.0.0.1:1"});
    EXPECT_EQ(restore.exit_code, 1);
    EXPECT_EQ(parse_document(restore)["status"], "failed");

    m_work.write_config("targets:\n  cache:\n    engine: nosuch\n");
    auto validate = dbkeep({"config", "validate", "--json"});
    EXPECT_EQ(validate.exit_code, 2);
    auto v = parse_document(validate);
    EXPECT_EQ(v["valid"], false);
    EXPECT_EQ(v["error"]["kind"], "config");
    EXPECT_NE(v["error"]["message"].get<std::string>().find("unknown engine"), std::string::npos) << v.dump();
}

TEST_F(JsonOutput, WithoutJsonEachCommandEndsWithAHumanSummary)
{
    RedisServer source;
    source.cli({"SET", "k", "v"});
    write_config(source.url(), "    keep: {last: 5}\n");
    auto backup = dbkeep({"backup"});
    ASSERT_EQ(backup.exit_code, 0) << backup.err;
    EXPECT_TRUE(last_line(backup.out).starts_with("backup: 1 target backed up, ")) << backup.out;
    EXPECT_NE(last_line(backup.out).find(" stored ("), std::string::npos) << backup.out;
    EXPECT_TRUE(last_line(dbkeep({"list"}).out).starts_with("list: 1 backup, ")) << dbkeep({"list"}).out;
    auto verify = dbkeep({"verify"});
    EXPECT_TRUE(last_line(verify.out).starts_with("verify: 1 backup verified, in ")) << verify.out;
    auto prune = dbkeep({"prune", "--dry-run"});
    EXPECT_EQ(last_line(prune.out), "prune: 1 kept, 0 would be removed (dry run)") << prune.out;
    RedisServer dest;
    auto restore = dbkeep({"restore", "cache", "--to", dest.url()});
    EXPECT_TRUE(last_line(restore.out).starts_with("restored cache ")) << restore.out;
    EXPECT_NE(restore.out.find(" into redis://127.0.0.1:"), std::string::npos) << restore.out;
    auto due = dbkeep({"run", "--due"});
    EXPECT_TRUE(last_line(due.out).starts_with("run --due: 0 backed up, 0 up to date, in ")) << due.out;
}
