// The configuration loader: the DESIGN.md example parses, and every mistake names FILE:LINE:COL.
#include "config/config.hpp"
#include "core/url.hpp"

#include <cstdlib>
#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::config;

namespace {

Result<Config> load_text(const std::string& yaml)
{
    return load_from_string(yaml, "dbkeep.yaml", "/etc/dbkeep");
}

// Asserts that loading fails with exactly "dbkeep.yaml:LINE:COL: " followed by a message containing `what`.
void expect_error(const std::string& yaml, int line, int col, const std::string& what)
{
    auto r = load_text(yaml);
    ASSERT_FALSE(r) << "loaded but should fail: " << yaml;
    EXPECT_EQ(r.error().kind, ErrorKind::config);
    std::string prefix = "dbkeep.yaml:" + std::to_string(line) + ":" + std::to_string(col) + ": ";
    EXPECT_EQ(r.error().message.rfind(prefix, 0), 0u) << r.error().message << "\nexpected prefix " << prefix;
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
}

constexpr const char* k_design_example = R"(storages:
  efs:
    type: local
    path: /mnt/efs/backups
  s3:
    type: s3
    bucket: acme-db-backups
    prefix: prod
    region: us-west-2
    endpoint: https://s3.us-west-2.amazonaws.com

targets:
  orders:
    engine: postgres
    url: postgres://backup@orders-db.internal:5432/orders
    password: ${ORDERS_DB_PASSWORD}
    storage: s3
    schedule: "0 0 * * *"
    timezone: America/Los_Angeles
    keep: { daily: 7, weekly: 4, monthly: 12 }
    encryption: { recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p] }
  cache:
    engine: redis
    url: redis://backup@cache.internal:6379
    password: ${CACHE_PASSWORD}
    storage: s3
    schedule: "@daily"
    keep: { last: 3 }
  legacy:
    engine: postgres
    url: postgres://postgres@localhost/app
    runner: { type: docker, container: legacy-postgres }
    storage: efs
)";

class Loader : public ::testing::Test {
protected:
    void SetUp() override
    {
        setenv("ORDERS_DB_PASSWORD", "orders-pw-XYZ", 1);
        setenv("CACHE_PASSWORD", "cache-pw-XYZ", 1);
        unsetenv("DBKEEP_TEST_UNSET");
    }
};

} // namespace

TEST_F(Loader, DesignExampleLoadsIntoTypedStructs)
{
    auto r = load_text(k_design_example);
    ASSERT_TRUE(r) << r.error().to_string();
    const auto& orders = r->targets.at("orders");
    EXPECT_EQ(orders.engine, "postgres");
    EXPECT_EQ(orders.postgres.host, "orders-db.internal");
    EXPECT_EQ(orders.postgres.port, 5432);
    EXPECT_EQ(orders.postgres.user, "backup");
    EXPECT_EQ(orders.postgres.dbname, "orders");
    EXPECT_EQ(orders.postgres.password.reveal(), "orders-pw-XYZ");
    EXPECT_EQ(orders.storage, "s3");
    EXPECT_EQ(orders.schedule, "0 0 * * *");
    EXPECT_EQ(orders.schedule_mark.line, 18);
    EXPECT_EQ(orders.schedule_mark.column, 15);
    EXPECT_EQ(orders.timezone, "America/Los_Angeles");
    EXPECT_EQ(orders.keep.daily, 7);
    EXPECT_EQ(orders.keep.weekly, 4);
    EXPECT_EQ(orders.keep.monthly, 12);
    EXPECT_FALSE(orders.keep.last);
    ASSERT_EQ(orders.encryption.recipients.size(), 1u);
    const auto& cache = r->targets.at("cache");
    EXPECT_EQ(cache.engine, "redis");
    EXPECT_EQ(cache.redis.host, "cache.internal");
    EXPECT_EQ(cache.redis.port, 6379);
    EXPECT_EQ(cache.redis.username, "backup");
    EXPECT_EQ(cache.redis.password.reveal(), "cache-pw-XYZ");
    EXPECT_EQ(cache.keep.last, 3);
    const auto& legacy = r->targets.at("legacy");
    EXPECT_EQ(legacy.runner.type, "docker");
    EXPECT_EQ(legacy.runner.container, "legacy-postgres");
    EXPECT_EQ(legacy.storage, "efs");
    EXPECT_EQ(r->storages.at("efs").local.path, "/mnt/efs/backups");
    const auto& s3 = r->storages.at("s3").s3;
    EXPECT_EQ(s3.bucket, "acme-db-backups");
    EXPECT_EQ(s3.prefix, "prod");
    EXPECT_EQ(s3.region, "us-west-2");
    EXPECT_EQ(s3.endpoint, "https://s3.us-west-2.amazonaws.com");
    EXPECT_EQ(s3.part_size, 16ull << 20);
    EXPECT_EQ(s3.concurrency, 4);
}

TEST_F(Loader, ToStringNeverShowsASecret)
{
    setenv("DBKEEP_TEST_AWS_SECRET", "aws-secret-XYZ", 1);
    auto r = load_text(std::string(k_design_example) +
                       "  other:\n    engine: postgres\n    url: postgres://u:url-pw-XYZ@h/d\n"
                       "    storage: efs\n"
                       "    encryption: { passphrase: pass-XYZ }\n");
    ASSERT_TRUE(r) << r.error().to_string();
    auto text = to_string(*r);
    for (const char* secret : {"orders-pw-XYZ", "cache-pw-XYZ", "url-pw-XYZ", "pass-XYZ"}) {
        EXPECT_EQ(text.find(secret), std::string::npos) << secret << " leaked:\n" << text;
    }
    EXPECT_EQ(r->targets.at("other").url, "postgres://u:***@h/d");
    EXPECT_EQ(r->targets.at("other").postgres.password.reveal(), "url-pw-XYZ");
}

TEST_F(Loader, InterpolatesVariablesDefaultsAndDollars)
{
    setenv("DBKEEP_TEST_HOST", "db.example", 1);
    EXPECT_EQ(*interpolate("${DBKEEP_TEST_HOST}:5432"), "db.example:5432");
    EXPECT_EQ(*interpolate("${DBKEEP_TEST_UNSET:-fallback}"), "fallback");
    EXPECT_EQ(*interpolate("${DBKEEP_TEST_HOST:-fallback}"), "db.example");
    EXPECT_EQ(*interpolate("cost $$5 and $HOME"), "cost $5 and $HOME");
    auto unset = interpolate("${DBKEEP_TEST_UNSET}");
    ASSERT_FALSE(unset);
    EXPECT_NE(unset.error().message.find("DBKEEP_TEST_UNSET is not set"), std::string::npos);
    EXPECT_FALSE(interpolate("${unterminated"));
    EXPECT_FALSE(interpolate("${}"));
    EXPECT_FALSE(interpolate("${bad-name}"));
}

TEST_F(Loader, UnsetVariableIsAnErrorAtTheValue)
{
    expect_error("targets:\n  a:\n    engine: postgres\n    password: ${DBKEEP_TEST_UNSET}\n", 4, 15,
                 "DBKEEP_TEST_UNSET is not set");
}

TEST_F(Loader, EveryMistakeNamesLineAndColumn)
{
    expect_error("targets: [a, b\n", 2, 1, "");                 // YAML syntax
    expect_error("", 1, 1, "empty");                            // empty file
    expect_error("storages: {}\n", 1, 1, "needs a 'targets:'"); // no targets
    expect_error("targets:\n  a:\n    engine: postgres\nextra: 1\n", 4, 1, "unknown key 'extra'");
    expect_error("targets:\n  a:\n    engine: postgres\n    ur1: x\n", 4, 5, "unknown key 'ur1'");
    expect_error("targets:\n  a:\n    url: postgres://h/d\n", 3, 5, "needs 'engine'");
    expect_error("targets:\n  a:\n    engine: oracle\n", 3, 13, "unknown engine 'oracle'");
    expect_error("targets:\n  a: 5\n", 2, 6, "must be a mapping");
    expect_error("targets: [1, 2]\n", 1, 10, "'targets' must be a mapping");
    expect_error("targets:\n  a:\n    engine: postgres\n    url: mysql://h/d\n", 4, 10, "must look like postgres://");
    expect_error("targets:\n  a:\n    engine: redis\n    url: redis://h:99999\n", 4, 10, "must look like redis://");
    expect_error("targets:\n  a:\n    engine: postgres\n    port: abc\n", 4, 11, "must be an integer");
    expect_error("targets:\n  a:\n    engine: postgres\n    port: 70000\n", 4, 11, "between 1 and 65535");
    expect_error("targets:\n  a:\n    engine: postgres\n    host: [a]\n", 4, 11, "must be a string");
    expect_error("targets:\n  a:\n    engine: postgres\n    keep: {daily: -1}\n", 4, 19, "between 0 and");
    expect_error("targets:\n  a:\n    engine: postgres\n    keep: {dayly: 1}\n", 4, 12, "unknown key 'dayly'");
    expect_error("targets:\n  a:\n    engine: postgres\n    runner: {type: lxc}\n", 4, 20, "unknown runner type 'lxc'");
    expect_error("targets:\n  a:\n    engine: postgres\n    runner: {type: docker}\n", 4, 13, "needs 'container'");
    expect_error("targets:\n  a:\n    engine: postgres\n    encryption: {recipients: [nope]}\n", 4, 31,
                 "not an age recipient");
    expect_error("targets:\n  a:\n    engine: postgres\n    encryption: {}\n", 4, 17, "needs 'recipients'");
    expect_error("targets:\n  a:\n    engine: redis\n    mode: fork\n", 4, 11, "replication or bgsave");
    expect_error("targets:\n  a b:\n    engine: postgres\n", 2, 3, "target name 'a b'");
    expect_error("storages:\n  x:\n    type: ftp\ntargets:\n  a:\n    engine: postgres\n", 3, 11,
                 "unknown storage type 'ftp'");
    expect_error("storages:\n  x:\n    path: /b\ntargets:\n  a:\n    engine: postgres\n", 3, 5, "needs 'type'");
    expect_error("storages:\n  x:\n    type: local\ntargets:\n  a:\n    engine: postgres\n", 3, 5, "needs 'path'");
    expect_error(
        "storages:\n  x:\n    type: s3\n    bucket: b\n    path_style: maybe\ntargets:\n  a:\n    engine: postgres\n",
        5, 17, "auto, true or false");
    expect_error(
        "storages:\n  x:\n    type: s3\n    bucket: b\n    part_size: 1MiB\ntargets:\n  a:\n    engine: postgres\n", 5,
        16, "between 5MiB and 5GiB");
    expect_error(
        "storages:\n  x:\n    type: local\n    path: /b\ntargets:\n  a:\n    engine: postgres\n    storage: y\n", 8, 14,
        "names storage 'y', which is not defined (defined: x)");
    expect_error(
        "storages:\n  x: {type: local, path: /x}\n  y: {type: local, path: /y}\ntargets:\n  a:\n    engine: postgres\n",
        6, 5, "needs 'storage'");
    expect_error("targets:\n  a:\n    engine: postgres\ndaemon:\n  max_concurrent: 0\n", 5, 19, "between 1 and 64");
    expect_error("storages:\n  x:\n    type: s3\n    bucket: b\n    access_key_id: AKIA\n    secret_access_key: plain\n"
                 "targets:\n  a:\n    engine: postgres\n",
                 6, 24, "write 'secret_access_key' as ${ENV_VAR}");
    expect_error("targets:\n  a:\n    engine: postgres\n    schedule: \"0 25 * * *\"\n", 4, 18,
                 "hour value out of range");
    expect_error("targets:\n  a:\n    engine: postgres\n    schedule: 0 0 * *\n", 4, 15, "expected 5 fields");
    expect_error("targets:\n  a:\n    engine: postgres\n    timezone: Europe/Bonn\n", 4, 15,
                 "unknown time zone 'Europe/Bonn'");
}

TEST_F(Loader, DefaultStorageRules)
{
    auto none = load_text("targets:\n  a:\n    engine: postgres\n");
    ASSERT_TRUE(none);
    EXPECT_EQ(none->targets.at("a").storage, "default");
    EXPECT_EQ(none->storages.at("default").local.path, "/etc/dbkeep/backups");
    auto only = load_text("storages:\n  efs: {type: local, path: rel/dir}\ntargets:\n  a:\n    engine: postgres\n");
    ASSERT_TRUE(only);
    EXPECT_EQ(only->targets.at("a").storage, "efs");
    EXPECT_EQ(only->storages.at("efs").local.path, "/etc/dbkeep/rel/dir");
    auto named = load_text("storages:\n  default: {type: local, path: /d}\n  other: {type: local, path: "
                           "/o}\ntargets:\n  a:\n    engine: postgres\n");
    ASSERT_TRUE(named);
    EXPECT_EQ(named->targets.at("a").storage, "default");
}

TEST_F(Loader, PostgresFieldsAndUrlCombine)
{
    auto r = load_text("targets:\n  a:\n    engine: postgresql\n    url: postgres://u@h:6000/db?sslmode=require\n"
                       "    port: 6001\n    pg_dump_path: /opt/pg/bin/pg_dump\n");
    ASSERT_TRUE(r) << r.error().to_string();
    const auto& t = r->targets.at("a");
    EXPECT_EQ(t.engine, "postgres");
    EXPECT_EQ(t.postgres.port, 6001);
    EXPECT_EQ(t.postgres.sslmode, "require");
    EXPECT_EQ(t.postgres.pg_dump_path, "/opt/pg/bin/pg_dump");
}

TEST(Url, ParsesUserPasswordHostPortPathAndQuery)
{
    auto u = parse_url("postgres://us%40er:p%3Ass@db.example:5433/my%20db?sslmode=verify-full&x=1");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->scheme, "postgres");
    EXPECT_EQ(u->user, "us@er");
    EXPECT_EQ(u->password, "p:ss");
    EXPECT_EQ(u->host, "db.example");
    EXPECT_EQ(u->port, 5433);
    EXPECT_EQ(u->path, "my db");
    EXPECT_EQ(u->query.at("sslmode"), "verify-full");
    auto v6 = parse_url("redis://[::1]:6380/2");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->port, 6380);
    EXPECT_EQ(v6->path, "2");
    EXPECT_FALSE(parse_url("no-scheme"));
    EXPECT_FALSE(parse_url("redis://h:0"));
    EXPECT_FALSE(parse_url("redis://h:port"));
}

TEST(Url, RedactionHidesOnlyThePassword)
{
    EXPECT_EQ(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
    EXPECT_EQ(redact_url("redis://:secret@h"), "redis://:***@h");
    EXPECT_EQ(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    EXPECT_EQ(redact_url("postgres://h/db?password=x"), "postgres://h/db?password=x"); // not a URL password
}

TEST_F(Loader, TargetsInheritTheirStoragesEncryptionUnlessTheySetTheirOwn)
{
    const std::string r1 = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    auto r = load_text(
        "storages:\n  s:\n    type: local\n    path: /b\n    encryption: { recipients: [" + r1 +
        "] }\ntargets:\n  a:\n    engine: postgres\n  b:\n    engine: postgres\n    encryption: { passphrase: pw }\n");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->targets.at("a").encryption.recipients, std::vector<std::string>{r1});
    EXPECT_TRUE(r->targets.at("b").encryption.recipients.empty());
    EXPECT_EQ(r->targets.at("b").encryption.passphrase.reveal(), "pw");
    expect_error(
        "storages:\n  s:\n    type: local\n    path: /b\n    encryption: {}\ntargets:\n  a:\n    engine: postgres\n", 5,
        17, "encryption of storage 's' needs");
}
