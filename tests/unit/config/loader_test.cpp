// The configuration loader (src/config/config.cpp): the DESIGN.md example parses into typed options, every
// mistake names FILE:LINE:COL, every value is parsed once at load.
#include "config/config.hpp"
#include "storage/s3/s3.hpp"
#include "support/temp_dir.hpp"

#include <cstdlib>
#include <gtest/gtest.h>
#include <optional>
#include <string>

using namespace dbkeep;
using namespace dbkeep::config;

namespace {

// Sets an environment variable for the life of the object, then restores what was there.
class ScopedEnv {
public:
    ScopedEnv(std::string name, std::optional<std::string> value) : m_name(std::move(name))
    {
        if (const char* old = std::getenv(m_name.c_str())) {
            m_old = old;
        }
        if (value) {
            ::setenv(m_name.c_str(), value->c_str(), 1);
        } else {
            ::unsetenv(m_name.c_str());
        }
    }
    ~ScopedEnv()
    {
        if (m_old) {
            ::setenv(m_name.c_str(), m_old->c_str(), 1);
        } else {
            ::unsetenv(m_name.c_str());
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    std::string m_name;
    std::optional<std::string> m_old;
};

// The example of DESIGN.md "The configuration file", verbatim.
const std::string k_design_example = R"(storages:
  efs:         # a target without storage: uses the only storage or the one named "default"; none at all: ./backups
    type: local
    path: /mnt/efs/backups
  s3:
    type: s3
    bucket: acme-db-backups
    prefix: prod
    region: us-west-2
    endpoint: https://s3.us-west-2.amazonaws.com   # optional: MinIO, R2, B2, Ceph
    # credentials: the AWS chain (env, profile, web identity, ECS task role, IMDSv2) unless given here

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
    keep: { last: 3, manual: 5 }
  legacy:
    engine: postgres
    url: postgres://postgres@localhost/app
    runner: { type: docker, container: legacy-postgres }
    storage: efs
)";

const std::string k_recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

// A postgres target whose next lines (at column 5, from line 5) add keys.
const std::string k_pg_target_for_interpolation = "targets:\n"
                                                  "  db:\n"
                                                  "    engine: postgres\n"
                                                  "    url: postgres://u@h/app\n";

Result<Config> load_text(const std::string& yaml, const std::filesystem::path& base = "/etc/dbkeep")
{
    return load_from_string(yaml, "t.yaml", base);
}

// The error message of a configuration that must fail to load ("<loaded>" when it loaded).
std::string error_of(const std::string& yaml)
{
    auto c = load_text(yaml);
    if (c) {
        return "<loaded>";
    }
    EXPECT_EQ(c.error().kind, ErrorKind::config) << c.error().message;
    return c.error().message;
}

::testing::AssertionResult starts_with(const std::string& text, const std::string& prefix)
{
    if (text.starts_with(prefix)) {
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "\n  actual: " << text << "\nexpected: " << prefix << "...";
}

// A minimal valid target, to which a test appends lines.
const std::string k_pg_target = "targets:\n"
                                "  db:\n"
                                "    engine: postgres\n";

// The typed options a target or storage holds, for assertions.
const engine::PostgresOptions& pg(const TargetConfig& t)
{
    return std::get<engine::PostgresOptions>(t.engine);
}
const engine::RedisOptions& redis(const TargetConfig& t)
{
    return std::get<engine::RedisOptions>(t.engine);
}
const storage::S3Options& s3_options(const StorageConfig& s)
{
    return std::get<storage::S3Options>(s.options);
}
const storage::LocalOptions& local_options(const StorageConfig& s)
{
    return std::get<storage::LocalOptions>(s.options);
}

// The compact design example and environment of the first loader tests.

// Asserts that loading fails with exactly "dbkeep.yaml:LINE:COL: " followed by a message containing `what`.
void expect_error(const std::string& yaml, int line, int col, const std::string& what)
{
    auto r = load_text(yaml);
    ASSERT_FALSE(r) << "loaded but should fail: " << yaml;
    EXPECT_EQ(r.error().kind, ErrorKind::config);
    std::string prefix = "t.yaml:" + std::to_string(line) + ":" + std::to_string(col) + ": ";
    EXPECT_EQ(r.error().message.rfind(prefix, 0), 0u) << r.error().message << "\nexpected prefix " << prefix;
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
}

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

// ---------------------------------------------------------------------------------------------------------
// The example file

TEST(ConfigLoad, ParsesTheDesignExampleIntoTheExpectedStructs)
{
    ScopedEnv pw1("ORDERS_DB_PASSWORD", "orders-pw-Zq81");
    ScopedEnv pw2("CACHE_PASSWORD", "cache-pw-Kx27");
    ScopedEnv region("AWS_REGION", std::nullopt);
    auto c = load_text(k_design_example);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->path, "t.yaml");

    ASSERT_EQ(c->storages.size(), 2u);
    const auto& efs = c->storages.at("efs");
    EXPECT_EQ(efs.name, "efs");
    EXPECT_EQ(efs.type(), "local");
    EXPECT_EQ(local_options(efs).root, "/mnt/efs/backups");
    EXPECT_EQ(efs.mark.line, 3);
    EXPECT_EQ(efs.mark.column, 5);
    const auto& s3 = c->storages.at("s3");
    EXPECT_EQ(s3.type(), "s3");
    EXPECT_EQ(s3_options(s3).bucket, "acme-db-backups");
    EXPECT_EQ(s3_options(s3).prefix, "prod");
    EXPECT_EQ(s3_options(s3).region, "us-west-2");
    EXPECT_EQ(s3_options(s3).endpoint, "https://s3.us-west-2.amazonaws.com");
    EXPECT_EQ(s3_options(s3).path_style, storage::PathStyle::automatic);
    EXPECT_EQ(s3_options(s3).part_size, 16ull << 20);
    EXPECT_EQ(s3_options(s3).concurrency, 4);
    EXPECT_TRUE(s3_options(s3).access_key_id.empty());
    EXPECT_TRUE(s3_options(s3).secret_access_key.empty());
    EXPECT_EQ(s3_options(s3).sse, storage::ServerSideEncryption::none);

    ASSERT_EQ(c->targets.size(), 3u);
    const auto& orders = c->targets.at("orders");
    EXPECT_EQ(orders.name, "orders");
    EXPECT_EQ(orders.engine_name(), "postgres");
    EXPECT_EQ(orders.mark.line, 15);
    EXPECT_EQ(orders.mark.column, 5);
    EXPECT_EQ(orders.url, "postgres://backup@orders-db.internal:5432/orders");
    EXPECT_EQ(pg(orders).host, "orders-db.internal");
    EXPECT_EQ(pg(orders).port, 5432);
    EXPECT_EQ(pg(orders).user, "backup");
    EXPECT_EQ(pg(orders).dbname, "orders");
    EXPECT_EQ(pg(orders).password.reveal(), "orders-pw-Zq81");
    EXPECT_TRUE(pg(orders).sslmode.empty());
    EXPECT_EQ(orders.storage, "s3");
    EXPECT_EQ(orders.schedule->text, "0 0 * * *");
    EXPECT_EQ(orders.timezone, "America/Los_Angeles");
    EXPECT_EQ(orders.keep.daily, 7);
    EXPECT_EQ(orders.keep.weekly, 4);
    EXPECT_EQ(orders.keep.monthly, 12);
    EXPECT_FALSE(orders.keep.last);
    EXPECT_FALSE(orders.keep.hourly);
    EXPECT_FALSE(orders.keep.yearly);
    EXPECT_FALSE(orders.keep.within);
    EXPECT_FALSE(orders.keep.manual) << "unset: retention applies catalog::k_default_manual_keep";
    EXPECT_EQ(orders.encryption.recipients, std::vector<std::string>{k_recipient});
    EXPECT_TRUE(orders.encryption.enabled());
    EXPECT_EQ(runner_type(orders.runner), "local");
    EXPECT_EQ(orders.compression_level, 3);
    EXPECT_EQ(orders.compression_workers, 2);

    const auto& cache = c->targets.at("cache");
    EXPECT_EQ(cache.engine_name(), "redis");
    EXPECT_EQ(cache.url, "redis://backup@cache.internal:6379");
    EXPECT_EQ(redis(cache).host, "cache.internal");
    EXPECT_EQ(redis(cache).port, 6379);
    EXPECT_EQ(redis(cache).username, "backup");
    EXPECT_EQ(redis(cache).password.reveal(), "cache-pw-Kx27");
    EXPECT_EQ(redis(cache).db, 0);
    EXPECT_FALSE(redis(cache).tls);
    EXPECT_EQ(redis(cache).mode, engine::RedisDumpMode::replication);
    EXPECT_EQ(cache.storage, "s3");
    EXPECT_EQ(cache.schedule->text, "@daily");
    EXPECT_EQ(cache.timezone, "UTC");
    EXPECT_EQ(cache.keep.last, 3);
    EXPECT_EQ(cache.keep.manual, 5);
    EXPECT_FALSE(cache.keep.daily);
    EXPECT_FALSE(cache.encryption.enabled());

    const auto& legacy = c->targets.at("legacy");
    EXPECT_EQ(legacy.engine_name(), "postgres");
    EXPECT_EQ(pg(legacy).host, "localhost");
    EXPECT_EQ(pg(legacy).port, 0);
    EXPECT_EQ(pg(legacy).user, "postgres");
    EXPECT_EQ(pg(legacy).dbname, "app");
    EXPECT_TRUE(pg(legacy).password.empty());
    EXPECT_EQ(runner_type(legacy.runner), "docker");
    EXPECT_EQ(std::get<runner::DockerOptions>(legacy.runner).container, "legacy-postgres");
    EXPECT_EQ(legacy.storage, "efs");
    EXPECT_FALSE(legacy.schedule);
    EXPECT_TRUE(legacy.keep.empty());

    EXPECT_EQ(&c->storage_for(legacy), &efs);
    EXPECT_EQ(c->daemon.max_concurrent, 1);
    EXPECT_EQ(c->daemon.jitter_seconds, 30);
    EXPECT_TRUE(c->daemon.listen.empty());
}

TEST(ConfigLoad, DesignExampleFailsNamingTheVariableWhenAPasswordVariableIsUnset)
{
    ScopedEnv pw1("ORDERS_DB_PASSWORD", std::nullopt);
    ScopedEnv pw2("CACHE_PASSWORD", "x");
    EXPECT_EQ(error_of(k_design_example), "t.yaml:17:15: 'password': environment variable ORDERS_DB_PASSWORD is not "
                                          "set (nor ORDERS_DB_PASSWORD_FILE; use ${ORDERS_DB_PASSWORD:-default} for a "
                                          "default)");
}

TEST(ConfigLoad, ReadsAFileAndResolvesRelativePathsAgainstItsFolder)
{
    test::TempDir dir;
    std::filesystem::create_directories(dir / "conf");
    test::write_file(dir / "conf/dbkeep.yaml", "storages:\n"
                                               "  disk: { type: local, path: data/../store }\n"
                                               "targets:\n"
                                               "  db:\n"
                                               "    engine: postgres\n"
                                               "    passfile: secrets/pgpass\n");
    auto c = load(dir / "conf/dbkeep.yaml");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->path, dir / "conf/dbkeep.yaml");
    EXPECT_EQ(local_options(c->storages.at("disk")).root, dir / "conf/store");
    EXPECT_EQ(pg(c->targets.at("db")).passfile, (dir / "conf/secrets/pgpass").string());
}

TEST(ConfigLoad, MissingFileIsAConfigErrorWithAHint)
{
    test::TempDir dir;
    auto c = load(dir / "nope.yaml");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, ErrorKind::config);
    EXPECT_EQ(c.error().object, (dir / "nope.yaml").string());
    EXPECT_EQ(c.error().message, "cannot open the file");
    EXPECT_FALSE(c.error().hint.empty());
}

TEST(ConfigLoad, ErrorsOfAFileNameTheFile)
{
    test::TempDir dir;
    test::write_file(dir / "bad.yaml", "targets:\n  db:\n    engine: oracle\n");
    auto c = load(dir / "bad.yaml");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().message, (dir / "bad.yaml").string() +
                                     ":3:13: unknown engine 'oracle' (expected postgres, redis, mysql or sqlite)");
}

// ---------------------------------------------------------------------------------------------------------
// Interpolation

TEST(ConfigInterpolate, ReplacesVariablesAndDefaults)
{
    ScopedEnv a("DBKEEP_T_A", "alpha");
    ScopedEnv b("DBKEEP_T_UNSET", std::nullopt);
    ScopedEnv e("DBKEEP_T_EMPTY", "");
    EXPECT_EQ(interpolate("x-${DBKEEP_T_A}-y"), "x-alpha-y");
    EXPECT_EQ(interpolate("${DBKEEP_T_A}${DBKEEP_T_A}"), "alphaalpha");
    EXPECT_EQ(interpolate("${DBKEEP_T_A:-other}"), "alpha");
    EXPECT_EQ(interpolate("${DBKEEP_T_UNSET:-fallback value}"), "fallback value");
    EXPECT_EQ(interpolate("${DBKEEP_T_UNSET:-}"), "");
    EXPECT_EQ(interpolate("${DBKEEP_T_EMPTY:-used}"), "used"); // like the shell's ':-'
    EXPECT_EQ(interpolate("no variables here"), "no variables here");
    EXPECT_EQ(interpolate(""), "");
}

TEST(ConfigInterpolate, DoubleDollarIsALiteralDollar)
{
    ScopedEnv a("DBKEEP_T_A", "alpha");
    EXPECT_EQ(interpolate("pa$$word"), "pa$word");
    EXPECT_EQ(interpolate("$${DBKEEP_T_A}"), "${DBKEEP_T_A}");
    EXPECT_EQ(interpolate("$$$${DBKEEP_T_A}"), "$${DBKEEP_T_A}");
    EXPECT_EQ(interpolate("$$${DBKEEP_T_A}"), "$alpha");
    // A '$' not followed by '{', '$' or a name stays as written.
    EXPECT_EQ(interpolate("cost: 5$ and $1"), "cost: 5$ and $1");
    EXPECT_EQ(interpolate("ends with $"), "ends with $");
}

// `$NAME` without braces used to become a literal password, silently.
TEST(ConfigInterpolate, ABareDollarNameIsAnErrorNamingTheFix)
{
    auto r = interpolate("$DB_PASSWORD");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::config);
    EXPECT_EQ(r.error().message, "'$DB_PASSWORD' is not expanded: write ${DB_PASSWORD} for the environment variable, "
                                 "or $$DB_PASSWORD for a literal '$DB_PASSWORD'");
    EXPECT_FALSE(interpolate("pa$word"));
    EXPECT_EQ(interpolate("pa$$word"), "pa$word");
    EXPECT_NE(error_of(k_pg_target_for_interpolation + "    password: $PGPASSWORD\n")
                  .find("t.yaml:5:15: 'password': "
                        "'$PGPASSWORD' is not"),
              std::string::npos);
}

// The shell's ${NAME:?message}, which the loader used to reject as an invalid name.
TEST(ConfigInterpolate, RequiredVariableFailsWithTheUsersMessage)
{
    ScopedEnv a("DBKEEP_T_A", "alpha");
    ScopedEnv b("DBKEEP_T_UNSET", std::nullopt);
    ScopedEnv f("DBKEEP_T_UNSET_FILE", std::nullopt);
    EXPECT_EQ(interpolate("${DBKEEP_T_A:?set it}"), "alpha");
    auto r = interpolate("${DBKEEP_T_UNSET:?the orders password, from SSM}");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "DBKEEP_T_UNSET: the orders password, from SSM");
    auto plain = interpolate("${DBKEEP_T_UNSET:?}");
    ASSERT_FALSE(plain);
    EXPECT_EQ(plain.error().message, "DBKEEP_T_UNSET: parameter null or not set");
}

// The Docker-secrets convention: NAME_FILE names a file holding NAME's value.
TEST(ConfigInterpolate, AnUnsetVariableIsReadFromTheFileItsFileVariableNames)
{
    test::TempDir dir;
    test::write_file(dir / "secret", "s3cret\n");
    ScopedEnv b("DBKEEP_T_PW", std::nullopt);
    ScopedEnv f("DBKEEP_T_PW_FILE", (dir / "secret").string());
    EXPECT_EQ(interpolate("${DBKEEP_T_PW}"), "s3cret");
    {
        ScopedEnv set("DBKEEP_T_PW", "from-env");
        EXPECT_EQ(interpolate("${DBKEEP_T_PW}"), "from-env"); // the variable itself wins
    }
    ScopedEnv missing("DBKEEP_T_PW_FILE", (dir / "absent").string());
    auto r = interpolate("${DBKEEP_T_PW}");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "DBKEEP_T_PW is unset and DBKEEP_T_PW_FILE names '" + (dir / "absent").string() +
                                     "', which cannot be read");
    EXPECT_EQ(r.error().hint,
              "point DBKEEP_T_PW_FILE at an existing file readable by dbkeep's user, or set DBKEEP_T_PW");
}

TEST(ConfigParsedOnce, PasswordFileIsReadAtLoadAndExcludesPassword)
{
    test::TempDir dir;
    test::write_file(dir / "pw", "from-file\r\n");
    auto c = load_text(k_pg_target_for_interpolation + "    password_file: pw\n", dir.path());
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(pg(c->targets.at("db")).password.reveal(), "from-file");
    auto both = load_text(k_pg_target_for_interpolation + "    password: x\n    password_file: pw\n", dir.path());
    ASSERT_FALSE(both);
    EXPECT_EQ(both.error().message, "t.yaml:6:20: give 'password' or 'password_file', not both");
    auto absent = load_text(k_pg_target_for_interpolation + "    password_file: nope\n", dir.path());
    ASSERT_FALSE(absent);
    EXPECT_NE(absent.error().message.find("t.yaml:5:20: cannot read the password file"), std::string::npos)
        << absent.error().message;
}

TEST(ConfigParsedOnce, S3RegionAndEndpointComeFromTheAwsVariablesAsTheAwsCliReadsThem)
{
    const std::string yaml = "storages:\n  b: { type: s3, bucket: x }\ntargets:\n  a: {engine: redis}\n";
    ScopedEnv r("AWS_REGION", std::nullopt);
    ScopedEnv dr("AWS_DEFAULT_REGION", "eu-north-1");
    ScopedEnv e("AWS_ENDPOINT_URL", "http://127.0.0.1:9000");
    ScopedEnv es("AWS_ENDPOINT_URL_S3", std::nullopt);
    auto c = load_text(yaml);
    ASSERT_TRUE(c) << c.error().message;
    const auto& s3 = std::get<storage::S3Options>(c->storages.at("b").options);
    EXPECT_EQ(s3.region, "eu-north-1");
    EXPECT_EQ(s3.endpoint, "http://127.0.0.1:9000");
    ScopedEnv es2("AWS_ENDPOINT_URL_S3", "https://s3.example");
    ScopedEnv r2("AWS_REGION", "us-west-2");
    auto d = load_text(yaml);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(std::get<storage::S3Options>(d->storages.at("b").options).endpoint, "https://s3.example");
    EXPECT_EQ(std::get<storage::S3Options>(d->storages.at("b").options).region, "us-west-2");
    ScopedEnv bad("AWS_ENDPOINT_URL_S3", "s3.example/path");
    EXPECT_NE(error_of(yaml).find("from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL"), std::string::npos);
}

TEST(ConfigInterpolate, UnsetVariableIsAnErrorNamingIt)
{
    ScopedEnv b("DBKEEP_T_UNSET", std::nullopt);
    auto r = interpolate("x ${DBKEEP_T_UNSET} y");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::config);
    EXPECT_EQ(
        r.error().message,
        "environment variable DBKEEP_T_UNSET is not set (nor DBKEEP_T_UNSET_FILE; use ${DBKEEP_T_UNSET:-default} for "
        "a default)");
}

TEST(ConfigInterpolate, MalformedReferencesAreErrors)
{
    auto unterminated = interpolate("${DBKEEP_T_A");
    ASSERT_FALSE(unterminated);
    EXPECT_EQ(unterminated.error().message, "unterminated '${' (write $$ for a literal '$')");
    auto empty = interpolate("${}");
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().message, "empty variable name in '${}'");
    auto empty_with_default = interpolate("${:-x}");
    ASSERT_FALSE(empty_with_default);
    auto bad = interpolate("${A-B}");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message, "invalid variable name 'A-B'");
}

TEST(ConfigInterpolate, AppliesToEveryScalarOfTheFile)
{
    ScopedEnv host("DBKEEP_T_HOST", "db.example");
    ScopedEnv port("DBKEEP_T_PORT", "6543");
    ScopedEnv rec("DBKEEP_T_RECIPIENT", k_recipient);
    ScopedEnv unset("DBKEEP_T_UNSET", std::nullopt);
    auto c = load_text(k_pg_target + "    host: ${DBKEEP_T_HOST}\n"
                                     "    port: ${DBKEEP_T_PORT}\n"
                                     "    dbname: ${DBKEEP_T_UNSET:-app}\n"
                                     "    password: pa$$word\n"
                                     "    encryption: { recipients: [\"${DBKEEP_T_RECIPIENT}\"] }\n");
    ASSERT_TRUE(c) << c.error().message;
    const auto& t = c->targets.at("db");
    EXPECT_EQ(pg(t).host, "db.example");
    EXPECT_EQ(pg(t).port, 6543);
    EXPECT_EQ(pg(t).dbname, "app");
    EXPECT_EQ(pg(t).password.reveal(), "pa$word");
    EXPECT_EQ(t.encryption.recipients, std::vector<std::string>{k_recipient});
    EXPECT_EQ(t.url, "postgres://db.example:6543/app");
}

TEST(ConfigInterpolate, UnsetVariableInAListItemIsReportedAtTheItem)
{
    ScopedEnv unset("DBKEEP_T_UNSET", std::nullopt);
    EXPECT_TRUE(starts_with(error_of(k_pg_target + "    encryption: { recipients: [a, \"${DBKEEP_T_UNSET}\"] }\n"),
                            "t.yaml:4:35: 'recipients': environment variable DBKEEP_T_UNSET is not set"));
}

// ---------------------------------------------------------------------------------------------------------
// Error paths: each with its line and column

TEST(ConfigErrors, YamlSyntaxErrorHasLineAndColumn)
{
    EXPECT_TRUE(starts_with(error_of("targets:\n"
                                     "  db: { engine: postgres\n"),
                            "t.yaml:3:1: end of map flow not found"));
    EXPECT_EQ(error_of("targets:\n"
                       "  db:\n"
                       "    engine: postgres\n"
                       "  - x\n"),
              "t.yaml:4:3: end of map not found");
    EXPECT_EQ(error_of("targets: db: x\n"), "t.yaml:1:12: illegal map value");
}

TEST(ConfigErrors, EmptyFile)
{
    EXPECT_EQ(error_of(""), "t.yaml:1:1: the file is empty: it needs a 'targets:' mapping");
    EXPECT_EQ(error_of("# only a comment\n\n"), "t.yaml:1:1: the file is empty: it needs a 'targets:' mapping");
}

TEST(ConfigErrors, RootMustBeAMapping)
{
    EXPECT_EQ(error_of("- a\n- b\n"), "t.yaml:1:1: the configuration must be a mapping, found a list");
    EXPECT_EQ(error_of("just words\n"), "t.yaml:1:1: the configuration must be a mapping, found a scalar");
}

TEST(ConfigErrors, MissingTargets)
{
    EXPECT_EQ(error_of("storages:\n"
                       "  disk: { type: local, path: /x }\n"),
              "t.yaml:1:1: the configuration needs a 'targets:' mapping");
    EXPECT_EQ(error_of("targets:\n"), "t.yaml:1:1: the configuration needs a 'targets:' mapping");
}

TEST(ConfigErrors, TargetsAndStoragesMustBeMappings)
{
    EXPECT_EQ(error_of("targets:\n"
                       "  - db\n"),
              "t.yaml:2:3: 'targets' must be a mapping of names to targets, found a list");
    EXPECT_EQ(error_of("storages: disk\n" + k_pg_target),
              "t.yaml:1:11: 'storages' must be a mapping of names to storages, found a scalar");
}

TEST(ConfigErrors, UnknownKeyAtTheRoot)
{
    EXPECT_EQ(error_of(k_pg_target + "storage: {}\n"),
              "t.yaml:4:1: unknown key 'storage' in the configuration (allowed: daemon, lease_ttl, metrics, notify, "
              "storages, targets)");
}

TEST(ConfigErrors, UnknownKeyInALocalStorage)
{
    EXPECT_EQ(error_of("storages:\n"
                       "  disk:\n"
                       "    type: local\n"
                       "    path: /x\n"
                       "    bucket: y\n" +
                       k_pg_target),
              "t.yaml:5:5: unknown key 'bucket' in storage 'disk' (allowed: encryption, path, type)");
}

TEST(ConfigErrors, UnknownKeyInAnS3Storage)
{
    EXPECT_TRUE(starts_with(error_of("storages:\n"
                                     "  b:\n"
                                     "    type: s3\n"
                                     "    bucket: y\n"
                                     "    acl: private\n" +
                                     k_pg_target),
                            "t.yaml:5:5: unknown key 'acl' in storage 'b' (allowed: access_key_id, bucket, "));
}

TEST(ConfigErrors, UnknownKeyInATarget)
{
    EXPECT_TRUE(starts_with(error_of(k_pg_target + "    databse: app\n"),
                            "t.yaml:4:5: unknown key 'databse' in target 'db' (allowed: "));
    // Keys of the other engine are unknown too.
    EXPECT_TRUE(starts_with(error_of(k_pg_target + "    username: app\n"),
                            "t.yaml:4:5: unknown key 'username' in target 'db'"));
    EXPECT_TRUE(starts_with(error_of("targets:\n"
                                     "  c:\n"
                                     "    engine: redis\n"
                                     "    dbname: app\n"),
                            "t.yaml:4:5: unknown key 'dbname' in target 'c'"));
}

TEST(ConfigErrors, UnknownKeyInKeep)
{
    EXPECT_EQ(error_of(k_pg_target + "    keep: { daily: 7, dayly: 3 }\n"),
              "t.yaml:4:23: unknown key 'dayly' in keep of target 'db' (allowed: daily, hourly, last, manual, "
              "monthly, weekly, within, yearly)");
}

TEST(ConfigErrors, UnknownKeyInRunner)
{
    EXPECT_EQ(error_of(k_pg_target + "    runner: { type: docker, container: c, image: x }\n"),
              "t.yaml:4:43: unknown key 'image' in runner of target 'db' (allowed: container, host, type, user)");
    EXPECT_EQ(error_of(k_pg_target + "    runner:\n"
                                     "      type: local\n"
                                     "      container: x\n"),
              "t.yaml:6:7: unknown key 'container' in runner of target 'db' (allowed: type)");
}

TEST(ConfigErrors, UnknownKeyInEncryption)
{
    EXPECT_EQ(error_of(k_pg_target + "    encryption: { recipient: x }\n"),
              "t.yaml:4:19: unknown key 'recipient' in encryption of target 'db' (allowed: passphrase, recipients, "
              "recipients_file)");
}

TEST(ConfigErrors, UnknownKeyInCompressionAndDaemon)
{
    EXPECT_EQ(error_of(k_pg_target + "    compression: { level: 3, threads: 2 }\n"),
              "t.yaml:4:30: unknown key 'threads' in compression of target 'db' (allowed: level, workers)");
    EXPECT_EQ(error_of(k_pg_target + "daemon:\n"
                                     "  port: 9000\n"),
              "t.yaml:5:3: unknown key 'port' in daemon (allowed: jitter, listen, max_concurrent, shutdown_grace)");
}

TEST(ConfigErrors, DuplicateKeysAreErrors)
{
    EXPECT_EQ(error_of(k_pg_target + "    host: a\n"
                                     "    host: b\n"),
              "t.yaml:5:5: duplicate key 'host' in target 'db'");
    EXPECT_EQ(error_of(k_pg_target + "  db:\n"
                                     "    engine: redis\n"),
              "t.yaml:4:3: duplicate target 'db'");
    EXPECT_EQ(error_of("storages:\n"
                       "  s: { type: local, path: /a }\n"
                       "  s: { type: local, path: /b }\n" +
                       k_pg_target),
              "t.yaml:3:3: duplicate storage 's'");
}

TEST(ConfigErrors, MappingWhereAStringIsExpected)
{
    EXPECT_EQ(error_of(k_pg_target + "    url: { host: x }\n"),
              "t.yaml:4:10: 'url' in target 'db' must be a string, found a mapping");
}

TEST(ConfigErrors, ListWhereAStringIsExpected)
{
    EXPECT_EQ(error_of(k_pg_target + "    schedule: [a, b]\n"),
              "t.yaml:4:15: 'schedule' in target 'db' must be a string, found a list");
}

TEST(ConfigErrors, ScalarWhereAListIsExpected)
{
    EXPECT_EQ(error_of(k_pg_target + "    encryption: { recipients: " + k_recipient + " }\n"),
              "t.yaml:4:31: 'recipients' in encryption of target 'db' must be a list, found a scalar");
    EXPECT_EQ(error_of(k_pg_target + "    encryption: { recipients: [[a]] }\n"),
              "t.yaml:4:32: items of 'recipients' must be strings, found a list");
}

TEST(ConfigErrors, ScalarWhereAMappingIsExpected)
{
    EXPECT_EQ(error_of(k_pg_target + "    keep: 7\n"),
              "t.yaml:4:11: keep of target 'db' must be a mapping, found a scalar");
    EXPECT_EQ(error_of(k_pg_target + "    encryption: [x]\n"),
              "t.yaml:4:17: encryption of target 'db' must be a mapping, found a list");
    EXPECT_EQ(error_of(k_pg_target + "    compression: 9\n"),
              "t.yaml:4:18: compression of target 'db' must be a mapping, found a scalar");
    EXPECT_EQ(error_of(k_pg_target + "daemon: on\n"), "t.yaml:4:9: daemon must be a mapping, found a scalar");
    EXPECT_EQ(error_of("targets:\n"
                       "  db: postgres\n"),
              "t.yaml:2:7: target 'db' must be a mapping, found a scalar");
    EXPECT_EQ(error_of("storages:\n"
                       "  disk: /x\n" +
                       k_pg_target),
              "t.yaml:2:9: storage 'disk' must be a mapping, found a scalar");
}

TEST(ConfigErrors, EmptyTargetOrStorageIsReportedAtItsName)
{
    EXPECT_EQ(error_of("targets:\n"
                       "  db:\n"
                       "  other:\n"
                       "    engine: postgres\n"),
              "t.yaml:2:3: target 'db' is empty: it needs at least 'engine'");
    EXPECT_EQ(error_of("storages:\n"
                       "  disk:\n" +
                       k_pg_target),
              "t.yaml:2:3: storage 'disk' is empty: it needs at least 'type'");
}

TEST(ConfigErrors, NonScalarKeyIsAnError)
{
    EXPECT_TRUE(starts_with(error_of("targets:\n"
                                     "  [a, b]: { engine: postgres }\n"),
                            "t.yaml:2:3: "));
}

TEST(ConfigErrors, IntegerThatIsNotANumber)
{
    EXPECT_EQ(error_of(k_pg_target + "    port: fivefour\n"),
              "t.yaml:4:11: 'port' in target 'db' must be an integer, found 'fivefour'");
    EXPECT_EQ(error_of(k_pg_target + "    port: 54.32\n"),
              "t.yaml:4:11: 'port' in target 'db' must be an integer, found '54.32'");
    EXPECT_EQ(error_of(k_pg_target + "    port: \"\"\n"),
              "t.yaml:4:11: 'port' in target 'db' must be an integer, found ''");
    EXPECT_EQ(error_of(k_pg_target + "    port: 99999999999999999999999\n"),
              "t.yaml:4:11: 'port' in target 'db' must be an integer, found '99999999999999999999999'");
}

TEST(ConfigErrors, IntegerOutOfRange)
{
    EXPECT_EQ(error_of(k_pg_target + "    port: 65536\n"),
              "t.yaml:4:11: 'port' in target 'db' must be between 1 and 65535, found 65536");
    EXPECT_EQ(error_of(k_pg_target + "    port: 0\n"),
              "t.yaml:4:11: 'port' in target 'db' must be between 1 and 65535, found 0");
    EXPECT_EQ(error_of(k_pg_target + "    keep: { daily: -1 }\n"),
              "t.yaml:4:20: 'daily' in keep of target 'db' must be between 0 and 1000000, found -1");
    // manual: 0 would delete a manual backup in the retention right after it.
    EXPECT_EQ(error_of(k_pg_target + "    keep: { daily: 7, manual: 0 }\n"),
              "t.yaml:4:31: 'manual' in keep of target 'db' must be between 1 and 1000000, found 0");
    EXPECT_EQ(error_of(k_pg_target + "    keep: { manual: many }\n"),
              "t.yaml:4:21: 'manual' in keep of target 'db' must be an integer, found 'many'");
    // Without a schedule every backup counts as scheduled: a manual rule would never apply.
    EXPECT_EQ(error_of(k_pg_target + "    keep: { daily: 7, manual: 2 }\n"),
              "t.yaml:4:31: 'manual' in keep of target 'db' needs a schedule: without one every backup is kept by "
              "the periodic rules and `last` (use last: N, or add schedule:)");
    EXPECT_EQ(error_of(k_pg_target + "    compression: { level: 20 }\n"),
              "t.yaml:4:27: 'level' in compression of target 'db' must be between 1 and 19, found 20");
    EXPECT_EQ(error_of("targets:\n"
                       "  c:\n"
                       "    engine: redis\n"
                       "    db: 16\n"),
              "t.yaml:4:9: 'db' in target 'c' must be between 0 and 15, found 16");
    EXPECT_EQ(error_of(k_pg_target + "daemon: { max_concurrent: 0 }\n"),
              "t.yaml:4:27: 'max_concurrent' in daemon must be between 1 and 64, found 0");
    EXPECT_EQ(error_of("storages:\n"
                       "  b: { type: s3, bucket: x, concurrency: 65 }\n" +
                       k_pg_target),
              "t.yaml:2:42: 'concurrency' in storage 'b' must be between 1 and 64, found 65");
}

TEST(ConfigErrors, BooleanThatIsNotABoolean)
{
    EXPECT_EQ(error_of("targets:\n"
                       "  c:\n"
                       "    engine: redis\n"
                       "    tls: maybe\n"),
              "t.yaml:4:10: 'tls' in target 'c' must be true or false, found 'maybe'");
}

TEST(ConfigErrors, MissingEngine)
{
    EXPECT_EQ(error_of("targets:\n"
                       "  db:\n"
                       "    url: postgres://h/db\n"),
              "t.yaml:3:5: target 'db' needs 'engine' (postgres, redis, mysql or sqlite)");
}

TEST(ConfigErrors, UnknownEngine)
{
    EXPECT_EQ(error_of("targets:\n"
                       "  db:\n"
                       "    engine: oracle\n"),
              "t.yaml:3:13: unknown engine 'oracle' (expected postgres, redis, mysql or sqlite)");
}

TEST(ConfigErrors, MissingStorageType)
{
    EXPECT_EQ(error_of("storages:\n"
                       "  disk:\n"
                       "    path: /x\n" +
                       k_pg_target),
              "t.yaml:3:5: storage 'disk' needs 'type' (local or s3)");
}

TEST(ConfigErrors, UnknownStorageType)
{
    EXPECT_EQ(error_of("storages:\n"
                       "  disk:\n"
                       "    type: ftp\n" +
                       k_pg_target),
              "t.yaml:3:11: unknown storage type 'ftp' (expected local or s3)");
}

TEST(ConfigErrors, StorageMissingItsRequiredField)
{
    EXPECT_EQ(error_of("storages:\n"
                       "  disk:\n"
                       "    type: local\n" +
                       k_pg_target),
              "t.yaml:3:5: storage 'disk' needs 'path'");
    EXPECT_EQ(error_of("storages:\n"
                       "  b: { type: s3, prefix: x }\n" +
                       k_pg_target),
              "t.yaml:2:6: storage 'b' needs 'bucket'");
}

TEST(ConfigErrors, StorageReferenceToAnUndefinedStorage)
{
    EXPECT_EQ(error_of("storages:\n"
                       "  disk: { type: local, path: /x }\n" +
                       k_pg_target + "    storage: nas\n"),
              "t.yaml:6:14: target 'db' names storage 'nas', which is not defined (defined: disk)");
}

TEST(ConfigErrors, SeveralStoragesWithoutDefaultAndNoneNamed)
{
    EXPECT_EQ(error_of("storages:\n"
                       "  a: { type: local, path: /a }\n"
                       "  b: { type: local, path: /b }\n" +
                       k_pg_target),
              "t.yaml:6:5: target 'db' needs 'storage': there are several storages and none is named 'default'");
}

TEST(ConfigErrors, BadUrl)
{
    EXPECT_EQ(error_of(k_pg_target + "    url: mysql://h/db\n"),
              "t.yaml:4:10: 'url' of target 'db' must look like postgres://user@host:port/dbname or 'host=... "
              "dbname=...' (libpq's forms)");
    EXPECT_EQ(error_of(k_pg_target + "    url: postgres://h:99999/db\n"),
              "t.yaml:4:10: the port in 'url' of target 'db' must be a number 1-65535, found '99999'");
    EXPECT_EQ(error_of(k_pg_target + "    url: orders-db:5432\n"),
              "t.yaml:4:10: 'url' of target 'db' must look like postgres://user@host:port/dbname or 'host=... "
              "dbname=...' (libpq's forms)");
    EXPECT_EQ(error_of("targets:\n"
                       "  c:\n"
                       "    engine: redis\n"
                       "    url: postgres://h\n"),
              "t.yaml:4:10: 'url' of target 'c' must look like redis://[user:password@]host:port[/db]");
    EXPECT_EQ(error_of("targets:\n"
                       "  c:\n"
                       "    engine: redis\n"
                       "    url: redis://h:6379/16\n"),
              "t.yaml:4:10: the database in 'url' of target 'c' must be a number 0-15");
    EXPECT_EQ(error_of("targets:\n"
                       "  c:\n"
                       "    engine: redis\n"
                       "    url: redis://h:6379/one\n"),
              "t.yaml:4:10: the database in 'url' of target 'c' must be a number 0-15");
}

TEST(ConfigErrors, BadUrlNeverEchoesThePassword)
{
    auto msg = error_of(k_pg_target + "    url: postgres://u:Sup3rSecretPw@h:notaport/db\n");
    EXPECT_EQ(msg.find("Sup3rSecretPw"), std::string::npos) << msg;
}

TEST(ConfigErrors, BadPathStyle)
{
    EXPECT_EQ(error_of("storages:\n"
                       "  b:\n"
                       "    type: s3\n"
                       "    bucket: x\n"
                       "    path_style: sometimes\n" +
                       k_pg_target),
              "t.yaml:5:17: 'path_style' must be auto, true or false");
}

TEST(ConfigErrors, BadServerSideEncryption)
{
    EXPECT_EQ(error_of("storages:\n"
                       "  b: { type: s3, bucket: x, server_side_encryption: aes }\n" +
                       k_pg_target),
              "t.yaml:2:53: 'server_side_encryption' must be AES256 or aws:kms");
}

TEST(ConfigErrors, BadPartSize)
{
    const std::string head = "storages:\n"
                             "  b:\n"
                             "    type: s3\n"
                             "    bucket: x\n";
    EXPECT_EQ(error_of(head + "    part_size: 1MiB\n" + k_pg_target),
              "t.yaml:5:16: 'part_size' must be between 5MiB and 5GiB, found '1MiB'");
    EXPECT_EQ(error_of(head + "    part_size: 6GiB\n" + k_pg_target),
              "t.yaml:5:16: 'part_size' must be between 5MiB and 5GiB, found '6GiB'");
    EXPECT_EQ(error_of(head + "    part_size: lots\n" + k_pg_target),
              "t.yaml:5:16: 'part_size' must be between 5MiB and 5GiB, found 'lots'");
    EXPECT_EQ(error_of(head + "    part_size: MiB\n" + k_pg_target),
              "t.yaml:5:16: 'part_size' must be between 5MiB and 5GiB, found 'MiB'");
    EXPECT_EQ(error_of(head + "    part_size: -8MiB\n" + k_pg_target),
              "t.yaml:5:16: 'part_size' must be between 5MiB and 5GiB, found '-8MiB'");
    // 2^44 + 16 MiB would wrap around to 16 MiB in 64-bit arithmetic: it must be refused, not accepted.
    EXPECT_EQ(error_of(head + "    part_size: 17592186044432MiB\n" + k_pg_target),
              "t.yaml:5:16: 'part_size' must be between 5MiB and 5GiB, found '17592186044432MiB'");
}

TEST(ConfigLoad, PartSizeAcceptsBytesAndUnits)
{
    auto size_of = [](const std::string& v) -> std::uint64_t {
        auto c = load_text("storages:\n  b: { type: s3, bucket: x, part_size: " + v + " }\n" + k_pg_target);
        EXPECT_TRUE(c) << c.error().message;
        return c ? s3_options(c->storages.at("b")).part_size : 0;
    };
    EXPECT_EQ(size_of("8MiB"), 8ull << 20);
    EXPECT_EQ(size_of("8M"), 8ull << 20);
    EXPECT_EQ(size_of("64MB"), 64000000ull);
    EXPECT_EQ(size_of("1GiB"), 1ull << 30);
    EXPECT_EQ(size_of("5G"), 5ull << 30);
    EXPECT_EQ(size_of("5242880"), 5ull << 20);
}

TEST(ConfigErrors, S3CredentialsComeInPairs)
{
    ScopedEnv key("DBKEEP_T_KEY", "AKIAEXAMPLE");
    EXPECT_EQ(error_of("storages:\n"
                       "  b:\n"
                       "    type: s3\n"
                       "    bucket: x\n"
                       "    access_key_id: ${DBKEEP_T_KEY}\n" +
                       k_pg_target),
              "t.yaml:3:5: storage 'b' needs both 'access_key_id' and 'secret_access_key', or neither");
}

TEST(ConfigErrors, BadTargetName)
{
    EXPECT_EQ(error_of("targets:\n"
                       "  orders/eu:\n"
                       "    engine: postgres\n"),
              "t.yaml:2:3: target name 'orders/eu' may only use letters, digits, '-', '_' and '.'");
    EXPECT_EQ(error_of("targets:\n"
                       "  .hidden: { engine: postgres }\n"),
              "t.yaml:2:3: target name '.hidden' may only use letters, digits, '-', '_' and '.'");
}

TEST(ConfigErrors, BadRecipients)
{
    EXPECT_EQ(error_of(k_pg_target + "    encryption: { recipients: [" + k_recipient + ", age1short] }\n"),
              "t.yaml:4:96: not an age recipient (age1...): 'age1short'");
    EXPECT_EQ(error_of(k_pg_target +
                       "    encryption:\n"
                       "      recipients:\n"
                       "        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"),
              "t.yaml:6:11: not an age recipient (age1...): 'ssh-ed25519 "
              "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'");
    EXPECT_EQ(error_of(k_pg_target + "    encryption: {}\n"),
              "t.yaml:4:17: encryption of target 'db' needs 'recipients', 'recipients_file' or 'passphrase'");
    EXPECT_EQ(error_of(k_pg_target + "    encryption: { recipients: [] }\n"),
              "t.yaml:4:17: encryption of target 'db' needs 'recipients', 'recipients_file' or 'passphrase'");
}

TEST(ConfigErrors, AnAgeSecretKeyGivenAsRecipientIsRefusedWithoutEchoingIt)
{
    const std::string secret = "AGE-SECRET-KEY-1QQPDRHCY3AEKSXMZXNZHP6LEEZCDHM3YYN7TT0CRCTUYYG4UQDSQAHUFZK";
    auto msg = error_of(k_pg_target + "    encryption: { recipients: [" + secret + "] }\n");
    EXPECT_TRUE(starts_with(msg, "t.yaml:4:32: this is an age secret key, not a recipient")) << msg;
    EXPECT_EQ(msg.find("QQPDRHCY3"), std::string::npos) << msg;
}

TEST(ConfigErrors, RunnerErrors)
{
    EXPECT_EQ(error_of(k_pg_target + "    runner: docker\n"),
              "t.yaml:4:13: runner 'docker' needs a mapping with its settings, e.g. {type: docker, ...}");
    EXPECT_EQ(error_of(k_pg_target + "    runner: { type: docker }\n"),
              "t.yaml:4:13: runner of target 'db' needs 'container'");
    EXPECT_EQ(error_of(k_pg_target + "    runner: [docker]\n"),
              "t.yaml:4:13: runner of target 'db' must be a mapping, found a list");
    EXPECT_EQ(error_of(k_pg_target + "    runner: { container: x }\n"),
              "t.yaml:4:13: runner of target 'db' needs 'type' (local, docker, podman, kubectl, ssh, command or ecs)");
    EXPECT_EQ(error_of(k_pg_target + "    runner: { type: lxc }\n"),
              "t.yaml:4:21: unknown runner type 'lxc' (expected local, docker, podman, kubectl, ssh, command or ecs)");
    EXPECT_EQ(error_of(k_pg_target + "    runner: { type: command }\n"),
              "t.yaml:4:13: runner of target 'db' needs 'argv', the command prefix, e.g. [docker, exec, -i, NAME]");
    EXPECT_EQ(error_of(k_pg_target + "    runner: { type: ecs, shared_dir: /s }\n"),
              "t.yaml:4:13: runner of target 'db' needs 'cluster', 'container' and one of 'service', 'family' or "
              "'task', or a launcher 'argv'");
    EXPECT_EQ(error_of(k_pg_target + "    runner: { type: ecs, shared_dir: /s, cluster: c, container: k, task: t, "
                                     "service: web }\n"),
              "t.yaml:4:74: runner of target 'db' sets both 'service' and 'task': give one ('service' or 'family' "
              "finds the running task on each run; 'task' is a fixed task id, which changes on every deploy)");
    EXPECT_EQ(error_of(k_pg_target + "    runner: { type: ecs, shared_dir: /s, cluster: c, container: k, family: f, "
                                     "service: web }\n"),
              "t.yaml:4:76: runner of target 'db' sets both 'service' and 'family': give one ('service' or 'family' "
              "finds the running task on each run; 'task' is a fixed task id, which changes on every deploy)");
    EXPECT_EQ(error_of(k_pg_target + "    runner: { type: ecs, shared_dir: /s, cluster: c, container: k, service: w, "
                                     "endpoint: ecs.local }\n"),
              "t.yaml:4:90: 'endpoint' of runner of target 'db' must be an http:// or https:// URL");
    EXPECT_EQ(error_of(k_pg_target + "    runner: { type: ssh, host: h, port: 0 }\n"),
              "t.yaml:4:41: 'port' in runner of target 'db' must be between 1 and 65535, found 0");
}

TEST(ConfigLoad, RunnerVariantsParse)
{
    auto c = load_text("targets:\n"
                       "  a: { engine: postgres, runner: local }\n"
                       "  b: { engine: postgres, runner: { type: podman, container: pg } }\n"
                       "  c: { engine: postgres, runner: { type: kubectl, pod: pg-0, namespace: db, container: pg } }\n"
                       "  d: { engine: postgres, runner: { type: ssh, host: h, user: u, port: 2222 } }\n"
                       "  e: { engine: postgres, runner: { type: command, argv: [docker, exec, -i, pg] } }\n"
                       "  f: { engine: postgres, runner: { type: ecs, shared_dir: /s, cluster: c, task: t, "
                       "container: k, timeout: 60 } }\n"
                       "  g: { engine: postgres, runner: { type: ecs, shared_dir: /s, cluster: c, service: web, "
                       "container: k, region: eu-west-1 } }\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(runner_type(c->targets.at("a").runner), "local");
    EXPECT_EQ(runner_type(c->targets.at("b").runner), "docker");
    EXPECT_EQ(std::get<runner::DockerOptions>(c->targets.at("b").runner).container, "pg");
    EXPECT_EQ(std::get<runner::KubectlOptions>(c->targets.at("c").runner).pod, "pg-0");
    EXPECT_EQ(std::get<runner::KubectlOptions>(c->targets.at("c").runner).namespace_, "db");
    EXPECT_EQ(std::get<runner::KubectlOptions>(c->targets.at("c").runner).container, "pg");
    EXPECT_EQ(std::get<runner::SshOptions>(c->targets.at("d").runner).port, 2222);
    EXPECT_EQ(std::get<runner::SshOptions>(c->targets.at("d").runner).user, "u");
    EXPECT_EQ(std::get<runner::CommandOptions>(c->targets.at("e").runner).argv,
              (std::vector<std::string>{"docker", "exec", "-i", "pg"}));
    EXPECT_EQ(std::get<runner::EcsOptions>(c->targets.at("f").runner).remote_shared_dir, "/s");
    EXPECT_EQ(std::get<runner::EcsOptions>(c->targets.at("f").runner).timeout, std::chrono::seconds(60));
    EXPECT_EQ(std::get<runner::EcsOptions>(c->targets.at("g").runner).service, "web");
    EXPECT_EQ(std::get<runner::EcsOptions>(c->targets.at("g").runner).task, "");
    EXPECT_EQ(std::get<runner::EcsOptions>(c->targets.at("g").runner).region, "eu-west-1");
}

TEST(ConfigErrors, RedisModeMustBeKnown)
{
    EXPECT_EQ(error_of("targets:\n"
                       "  c:\n"
                       "    engine: redis\n"
                       "    mode: dump\n"),
              "t.yaml:4:11: 'mode' of target 'c' must be replication or bgsave");
}

// ---------------------------------------------------------------------------------------------------------
// Storage defaults and paths

TEST(ConfigStorage, NoStorageMeansBackupsBesideTheConfigFile)
{
    auto c = load_text(k_pg_target, "/srv/app");
    ASSERT_TRUE(c) << c.error().message;
    ASSERT_EQ(c->storages.size(), 1u);
    const auto& s = c->storages.at("default");
    EXPECT_EQ(s.type(), "local");
    EXPECT_EQ(local_options(s).root, "/srv/app/backups");
    EXPECT_EQ(c->targets.at("db").storage, "default");
}

TEST(ConfigStorage, TheOnlyStorageIsUsedWhenNoneIsNamed)
{
    auto c = load_text("storages:\n"
                       "  efs: { type: local, path: /mnt/efs }\n" +
                       k_pg_target);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->storages.size(), 1u);
    EXPECT_EQ(c->targets.at("db").storage, "efs");
}

TEST(ConfigStorage, StorageNamedDefaultIsUsedWhenThereAreSeveral)
{
    auto c = load_text("storages:\n"
                       "  a: { type: local, path: /a }\n"
                       "  default: { type: local, path: /d }\n"
                       "  z: { type: local, path: /z }\n" +
                       k_pg_target + "  other: { engine: postgres, storage: z }\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->targets.at("db").storage, "default");
    EXPECT_EQ(c->targets.at("other").storage, "z");
}

TEST(ConfigStorage, RelativePathsResolveAgainstTheBaseDirectory)
{
    ScopedEnv home("HOME", "/home/backup");
    auto c = load_text("storages:\n"
                       "  a: { type: local, path: backups/x }\n"
                       "  b: { type: local, path: ../shared/./b/ }\n"
                       "  c: { type: local, path: /abs//c }\n"
                       "  d: { type: local, path: ~/d }\n"
                       "  default: { type: local, path: . }\n" +
                           k_pg_target +
                           "    passfile: pgpass\n"
                           "    encryption: { recipients_file: keys/recipients.txt }\n",
                       "/etc/dbkeep");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(local_options(c->storages.at("a")).root, "/etc/dbkeep/backups/x");
    EXPECT_EQ(local_options(c->storages.at("b")).root, "/etc/shared/b/");
    EXPECT_EQ(local_options(c->storages.at("c")).root, "/abs/c");
    EXPECT_EQ(local_options(c->storages.at("d")).root, "/home/backup/d");
    EXPECT_EQ(local_options(c->storages.at("default")).root, "/etc/dbkeep/");
    EXPECT_EQ(pg(c->targets.at("db")).passfile, "/etc/dbkeep/pgpass");
    EXPECT_EQ(c->targets.at("db").encryption.recipients_file, "/etc/dbkeep/keys/recipients.txt");
}

TEST(ConfigStorage, S3PrefixLosesItsSlashesAndRegionFallsBackToTheEnvironment)
{
    ScopedEnv region("AWS_REGION", "eu-central-1");
    auto c = load_text("storages:\n"
                       "  b: { type: s3, bucket: x, prefix: /a/b/, path_style: \"true\", part_size: 8MiB,"
                       " server_side_encryption: aws:kms, sse_kms_key_id: k1, storage_class: STANDARD_IA }\n" +
                       k_pg_target);
    ASSERT_TRUE(c) << c.error().message;
    const auto& s3 = s3_options(c->storages.at("b"));
    EXPECT_EQ(s3.prefix, "a/b");
    EXPECT_EQ(s3.region, "eu-central-1");
    EXPECT_EQ(s3.path_style, storage::PathStyle::path);
    EXPECT_EQ(s3.sse, storage::ServerSideEncryption::kms);
    EXPECT_EQ(s3.sse_kms_key_id, "k1");
    EXPECT_EQ(s3.storage_class, "STANDARD_IA");
}

// ---------------------------------------------------------------------------------------------------------
// Targets

TEST(ConfigTarget, PostgresFieldsOverrideTheUrlAndBuildARedactedUrl)
{
    auto c = load_text(k_pg_target + "    url: postgresql://u:UrlPw%2F1@[2001:db8::5]:5433/app?sslmode=verify-full\n"
                                     "    port: 6000\n"
                                     "    database: other\n");
    ASSERT_TRUE(c) << c.error().message;
    const auto& t = c->targets.at("db");
    EXPECT_EQ(t.engine_name(), "postgres");
    EXPECT_EQ(pg(t).host, "2001:db8::5");
    EXPECT_EQ(pg(t).port, 6000);
    EXPECT_EQ(pg(t).user, "u");
    EXPECT_EQ(pg(t).dbname, "other");
    EXPECT_EQ(pg(t).password.reveal(), "UrlPw/1");
    EXPECT_EQ(pg(t).sslmode, "verify-full");
    EXPECT_EQ(t.url, "postgresql://u:***@[2001:db8::5]:5433/app?sslmode=verify-full");
}

TEST(ConfigTarget, PostgresWithoutUrlBuildsOneFromItsFields)
{
    auto c = load_text(k_pg_target + "    host: h\n"
                                     "    user: u\n"
                                     "    port: 5432\n"
                                     "    dbname: d\n"
                                     "    password: FieldPw\n"
                                     "    pg_dump_path: /opt/pg/bin/pg_dump\n"
                                     "    schedule: \"@hourly\"\n"
                                     "    compression: { level: 19, workers: 0 }\n");
    ASSERT_TRUE(c) << c.error().message;
    const auto& t = c->targets.at("db");
    EXPECT_EQ(t.url, "postgres://u@h:5432/d");
    EXPECT_EQ(pg(t).password.reveal(), "FieldPw");
    EXPECT_EQ(pg(t).pg_dump_path, "/opt/pg/bin/pg_dump");
    EXPECT_EQ(t.compression_level, 19);
    EXPECT_EQ(t.compression_workers, 0);
}

TEST(ConfigTarget, RedisUrlWithPasswordTlsAndDatabase)
{
    auto c = load_text("targets:\n"
                       "  c:\n"
                       "    engine: redis\n"
                       "    url: rediss://:R3d%40sPw@cache:6380/4\n"
                       "    mode: bgsave\n");
    ASSERT_TRUE(c) << c.error().message;
    const auto& r = redis(c->targets.at("c"));
    EXPECT_EQ(r.host, "cache");
    EXPECT_EQ(r.port, 6380);
    EXPECT_EQ(r.username, "");
    EXPECT_EQ(r.password.reveal(), "R3d@sPw");
    EXPECT_EQ(r.db, 4);
    EXPECT_TRUE(r.tls);
    EXPECT_EQ(r.mode, engine::RedisDumpMode::bgsave);
    EXPECT_EQ(c->targets.at("c").url, "rediss://:***@cache:6380/4");
}

TEST(ConfigTarget, RedisWithoutUrlUsesDefaults)
{
    auto c = load_text("targets:\n"
                       "  c: { engine: redis, tls: yes, db: 2 }\n");
    ASSERT_TRUE(c) << c.error().message;
    const auto& t = c->targets.at("c");
    EXPECT_EQ(redis(t).host, "127.0.0.1");
    EXPECT_EQ(redis(t).port, 6379);
    EXPECT_TRUE(redis(t).tls);
    EXPECT_EQ(redis(t).db, 2);
    EXPECT_EQ(t.url, "redis://127.0.0.1:6379");
}

TEST(ConfigTarget, DaemonSettings)
{
    auto c = load_text(k_pg_target + "daemon: { max_concurrent: 4, jitter: 0, shutdown_grace: 60, listen: "
                                     "\"127.0.0.1:9187\" }\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->daemon.max_concurrent, 4);
    EXPECT_EQ(c->daemon.jitter_seconds, 0);
    EXPECT_EQ(c->daemon.shutdown_grace_seconds, 60);
    EXPECT_EQ(c->daemon.listen, "127.0.0.1:9187");
}

// ECS sends SIGKILL 30 s after SIGTERM by default: the default grace must end before that, with room for the
// clean abort (multipart upload aborted, lease released). It was 300 s.
TEST(ConfigTarget, DefaultShutdownGraceFitsTheEcsDefaultStopTimeout)
{
    auto c = load_text(k_pg_target);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_LT(c->daemon.shutdown_grace_seconds, 30);
    EXPECT_GE(c->daemon.shutdown_grace_seconds, 10);
}

// ---------------------------------------------------------------------------------------------------------
// Secrets

TEST(ConfigSecrets, ToStringNeverContainsASecret)
{
    ScopedEnv key("DBKEEP_T_KEY", "AKIAPUBLICKEYID");
    ScopedEnv secret("DBKEEP_T_SECRET", "S3cretAccessKeyQ9vX");
    ScopedEnv token("DBKEEP_T_TOKEN", "SessionTokenW7mZ");
    auto c = load_text("storages:\n"
                       "  b:\n"
                       "    type: s3\n"
                       "    bucket: bkt\n"
                       "    access_key_id: ${DBKEEP_T_KEY}\n"
                       "    secret_access_key: ${DBKEEP_T_SECRET}\n"
                       "    session_token: ${DBKEEP_T_TOKEN}\n"
                       "targets:\n"
                       "  pgurl: { engine: postgres, url: \"postgres://u:PgUrlPassK4@h/db\" }\n"
                       "  pgfield: { engine: postgres, host: h, password: PgFieldPassJ2 }\n"
                       "  pgraw: { engine: postgres, url: \"postgres://u:Raw@Pass@h/db\" }\n"
                       "  redisurl: { engine: redis, url: \"redis://:RedisUrlPassH6@h:6379/1\" }\n"
                       "  redisfield: { engine: redis, password: RedisFieldPassT3 }\n"
                       "  enc: { engine: postgres, encryption: { passphrase: AgePassphraseY5 } }\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(s3_options(c->storages.at("b")).secret_access_key.reveal(), "S3cretAccessKeyQ9vX");
    EXPECT_EQ(s3_options(c->storages.at("b")).session_token.reveal(), "SessionTokenW7mZ");
    EXPECT_EQ(pg(c->targets.at("pgraw")).password.reveal(), "Raw@Pass");
    EXPECT_EQ(c->targets.at("enc").encryption.passphrase.reveal(), "AgePassphraseY5");
    std::string text = to_string(*c);
    for (const char* s : {"S3cretAccessKeyQ9vX", "SessionTokenW7mZ", "PgUrlPassK4", "PgFieldPassJ2", "Raw@Pass",
                          "RedisUrlPassH6", "RedisFieldPassT3", "AgePassphraseY5"}) {
        EXPECT_EQ(text.find(s), std::string::npos) << s << " appears in:\n" << text;
    }
    // It still says what is configured.
    EXPECT_NE(text.find("s3://bkt/"), std::string::npos) << text;
    EXPECT_NE(text.find("AKIAPUBLICKEYID"), std::string::npos) << text;
    EXPECT_NE(text.find("<redacted>"), std::string::npos) << text;
    EXPECT_NE(text.find("postgres://u:***@h/db"), std::string::npos) << text;
    EXPECT_NE(text.find("encrypted"), std::string::npos) << text;
}

// ---------------------------------------------------------------------------------------------------------
// URLs

TEST_F(Loader, DesignExampleLoadsIntoTypedStructs)
{
    auto r = load_text(k_design_example);
    ASSERT_TRUE(r) << r.error().to_string();
    const auto& orders = r->targets.at("orders");
    EXPECT_EQ(orders.engine_name(), "postgres");
    EXPECT_EQ(pg(orders).host, "orders-db.internal");
    EXPECT_EQ(pg(orders).port, 5432);
    EXPECT_EQ(pg(orders).user, "backup");
    EXPECT_EQ(pg(orders).dbname, "orders");
    EXPECT_EQ(pg(orders).password.reveal(), "orders-pw-XYZ");
    EXPECT_EQ(orders.storage, "s3");
    EXPECT_EQ(orders.schedule->text, "0 0 * * *");
    EXPECT_EQ(orders.timezone, "America/Los_Angeles");
    EXPECT_EQ(orders.keep.daily, 7);
    EXPECT_EQ(orders.keep.weekly, 4);
    EXPECT_EQ(orders.keep.monthly, 12);
    EXPECT_FALSE(orders.keep.last);
    ASSERT_EQ(orders.encryption.recipients.size(), 1u);
    const auto& cache = r->targets.at("cache");
    EXPECT_EQ(cache.engine_name(), "redis");
    EXPECT_EQ(redis(cache).host, "cache.internal");
    EXPECT_EQ(redis(cache).port, 6379);
    EXPECT_EQ(redis(cache).username, "backup");
    EXPECT_EQ(redis(cache).password.reveal(), "cache-pw-XYZ");
    EXPECT_EQ(cache.keep.last, 3);
    const auto& legacy = r->targets.at("legacy");
    EXPECT_EQ(runner_type(legacy.runner), "docker");
    EXPECT_EQ(std::get<runner::DockerOptions>(legacy.runner).container, "legacy-postgres");
    EXPECT_EQ(legacy.storage, "efs");
    EXPECT_EQ(local_options(r->storages.at("efs")).root, "/mnt/efs/backups");
    const auto& s3 = s3_options(r->storages.at("s3"));
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
    EXPECT_EQ(pg(r->targets.at("other")).password.reveal(), "url-pw-XYZ");
}

TEST_F(Loader, InterpolatesVariablesDefaultsAndDollars)
{
    setenv("DBKEEP_TEST_HOST", "db.example", 1);
    EXPECT_EQ(*interpolate("${DBKEEP_TEST_HOST}:5432"), "db.example:5432");
    EXPECT_EQ(*interpolate("${DBKEEP_TEST_UNSET:-fallback}"), "fallback");
    EXPECT_EQ(*interpolate("${DBKEEP_TEST_HOST:-fallback}"), "db.example");
    EXPECT_EQ(interpolate("cost $$5 and $5"), "cost $5 and $5");
    EXPECT_FALSE(interpolate("cost $$5 and $HOME")); // a bare $NAME is an error, not a literal
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
    EXPECT_EQ(local_options(none->storages.at("default")).root, "/etc/dbkeep/backups");
    auto only = load_text("storages:\n  efs: {type: local, path: rel/dir}\ntargets:\n  a:\n    engine: postgres\n");
    ASSERT_TRUE(only);
    EXPECT_EQ(only->targets.at("a").storage, "efs");
    EXPECT_EQ(local_options(only->storages.at("efs")).root, "/etc/dbkeep/rel/dir");
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
    EXPECT_EQ(t.engine_name(), "postgres");
    EXPECT_EQ(pg(t).port, 6001);
    EXPECT_EQ(pg(t).sslmode, "require");
    EXPECT_EQ(pg(t).pg_dump_path, "/opt/pg/bin/pg_dump");
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

// Every value is parsed once, at load: a value that only fails when used (a backup, a prune) is a config
// error at its line and column, and `config validate` reports it.
TEST(ConfigParsedOnce, WithinWithAnUnknownUnitIsAnErrorAtItsValue)
{
    EXPECT_EQ(error_of(k_pg_target + "    keep: { within: 10x }\n"),
              "t.yaml:4:21: 'within' in keep of target 'db': unknown unit 'x' (use y, m, w, d or h)");
    EXPECT_EQ(error_of(k_pg_target + "    keep: { daily: 7, within: d }\n"),
              "t.yaml:4:31: 'within' in keep of target 'db': expected numbers with units y, m, w, d or h, e.g. "
              "30d, 2w, 1y6m, 12h");
}

TEST(ConfigParsedOnce, WithinIsHeldAsACalendarSpan)
{
    auto c = load_text(k_pg_target + "    keep: { within: 1y6m2w }\n");
    ASSERT_TRUE(c) << c.error().message;
    const auto& within = c->targets.at("db").keep.within;
    ASSERT_TRUE(within);
    EXPECT_EQ(within->years, 1);
    EXPECT_EQ(within->months, 6);
    EXPECT_EQ(within->weeks, 2);
    EXPECT_EQ(within->text, "1y6m2w");
}

TEST(ConfigParsedOnce, ScheduleAndZoneAreHeldParsed)
{
    auto c = load_text(k_pg_target + "    schedule: \"30 2 * * 1-5\"\n    timezone: Europe/Berlin\n");
    ASSERT_TRUE(c) << c.error().message;
    const auto& t = c->targets.at("db");
    ASSERT_TRUE(t.schedule);
    EXPECT_EQ(t.schedule->text, "30 2 * * 1-5");
    EXPECT_TRUE(t.schedule->minutes.test(30));
    EXPECT_TRUE(t.schedule->weekdays.test(1));
    EXPECT_FALSE(t.schedule->weekdays.test(0));
    ASSERT_NE(t.zone, nullptr);
    EXPECT_EQ(t.timezone, "Europe/Berlin");
    // No timezone: UTC, resolved too.
    auto u = load_text(k_pg_target);
    ASSERT_TRUE(u);
    EXPECT_FALSE(u->targets.at("db").schedule);
    EXPECT_NE(u->targets.at("db").zone, nullptr);
}

TEST(ConfigParsedOnce, RedisModeIsAnEnum)
{
    auto c = load_text("targets:\n  c: { engine: redis, mode: bgsave }\n  d: { engine: redis }\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(redis(c->targets.at("c")).mode, engine::RedisDumpMode::bgsave);
    EXPECT_EQ(redis(c->targets.at("d")).mode, engine::RedisDumpMode::replication);
    EXPECT_EQ(error_of("targets:\n  c: { engine: redis, mode: psync }\n"),
              "t.yaml:2:29: 'mode' of target 'c' must be replication or bgsave");
}

TEST(ConfigParsedOnce, SslmodeIsCheckedAtLoadWhereverItIsWritten)
{
    EXPECT_EQ(error_of(k_pg_target + "    sslmode: requre\n"),
              "t.yaml:4:14: sslmode of target 'db' must be disable, allow, prefer, require, verify-ca or verify-full, "
              "found 'requre'");
    EXPECT_TRUE(error_of(k_pg_target + "    url: postgres://u@h/db?sslmode=verify_full\n")
                    .starts_with("t.yaml:4:10: sslmode of target 'db' must be"));
    auto c = load_text(k_pg_target + "    url: postgres://u@h/db?sslmode=verify-full\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(pg(c->targets.at("db")).sslmode, "verify-full");
}

TEST(ConfigParsedOnce, RecipientWithABadChecksumIsAnErrorAtLoad)
{
    // The DESIGN.md recipient with its last character changed: right prefix and length, wrong bech32 checksum.
    std::string bad = k_recipient;
    bad.back() = bad.back() == 'q' ? 'p' : 'q';
    EXPECT_EQ(error_of(k_pg_target + "    encryption: { recipients: [" + bad + "] }\n"),
              "t.yaml:4:32: not an age recipient (age1...): '" + bad + "'");
}

TEST(ConfigParsedOnce, ASecretKeyPastedInAnyCaseIsNeverEchoed)
{
    const std::string key = "age-secret-key-1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs0wmhd4";
    auto message = error_of(k_pg_target + "    encryption: { recipients: [" + key + "] }\n");
    EXPECT_NE(message.find("this is an age secret key"), std::string::npos) << message;
    EXPECT_EQ(message.find("qyqszqgp"), std::string::npos) << message;
}

// Pasted where a value is quoted back (an unknown runner type, a schedule that does not parse), the key is cut
// to its prefix in the error, whatever the field.
TEST(ConfigParsedOnce, ASecretKeyPastedInAnyFieldIsNeverEchoed)
{
    const std::string key = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS0WMHD4";
    for (const std::string& extra : {"    runner: { type: " + key + " }\n", "    schedule: \"" + key + "\"\n",
                                     "    lock_wait_timeout: " + key + "\n"}) {
        auto message = error_of(k_pg_target + extra);
        EXPECT_FALSE(message.empty()) << extra;
        EXPECT_EQ(message.find("QYQSZQGP"), std::string::npos) << message;
    }
}

// The s3 storage's options as the loader fills them: typed values, and an endpoint that can address an S3
// service (scheme and host, no path) checked at load with the key's line and column.
namespace {

const std::string k_target = "targets:\n"
                             "  db:\n"
                             "    engine: postgres\n";

Result<config::Config> load_s3(const std::string& extra)
{
    return config::load_from_string("storages:\n"
                                    "  b:\n"
                                    "    type: s3\n"
                                    "    bucket: x\n" +
                                        extra + k_target,
                                    "dbkeep.yaml", "/etc/dbkeep");
}

void expect_endpoint_error(const std::string& endpoint, const std::string& what)
{
    auto c = load_s3("    endpoint: " + endpoint + "\n");
    ASSERT_FALSE(c) << "loaded with endpoint " << endpoint;
    EXPECT_EQ(c.error().kind, ErrorKind::config);
    EXPECT_EQ(c.error().message.rfind("dbkeep.yaml:5:15: ", 0), 0u) << c.error().message;
    EXPECT_NE(c.error().message.find(what), std::string::npos) << c.error().message;
}

} // namespace

TEST(S3Options, EndpointWithAPathFailsAtItsLineAndColumn)
{
    expect_endpoint_error("http://127.0.0.1:9000/x", "must not have a path");
    expect_endpoint_error("https://minio.example.com/backups/", "must not have a path");
    expect_endpoint_error("https://minio.example.com?x=1", "must not have a path");
}

TEST(S3Options, EndpointWithoutSchemeOrHostFailsAtItsLineAndColumn)
{
    expect_endpoint_error("127.0.0.1:9000", "must start with http:// or https://");
    expect_endpoint_error("s3://bucket", "must start with http:// or https://");
    expect_endpoint_error("http://", "must name a host");
}

TEST(S3Options, SchemeAndHostWithOptionalPortAndTrailingSlashLoad)
{
    for (const std::string e : {"http://127.0.0.1:9000", "https://s3.eu-central-1.amazonaws.com",
                                "https://minio.example.com/", "http://[::1]:9000"}) {
        auto c = load_s3("    endpoint: \"" + e + "\"\n");
        ASSERT_TRUE(c) << e << ": " << c.error().message;
        EXPECT_EQ(s3_options(c->storages.at("b")).endpoint, e);
    }
    EXPECT_FALSE(storage::s3_endpoint_problem("").has_value()) << "empty means AWS";
}

TEST(S3Options, DurationsAndSizesAreTyped)
{
    auto c = load_s3("    stall_timeout: 7\n    part_size: 8MiB\n");
    ASSERT_TRUE(c) << c.error().message;
    const storage::S3Options& o = s3_options(c->storages.at("b"));
    EXPECT_EQ(o.stall_timeout, std::chrono::seconds(7));
    EXPECT_EQ(o.part_size, std::uint64_t{8} << 20);
    auto d = load_s3("");
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(s3_options(d->storages.at("b")).stall_timeout, std::chrono::seconds(60));
}

// ---------------------------------------------------------------------------------------------------------
// Notifications

TEST(ConfigNotify, TargetsInheritTheRootChannelsUnlessTheyNameTheirOwn)
{
    ScopedEnv hook("DBKEEP_T_HOOK", "https://hooks.example/T1/B2/tok");
    auto c = load_text("notify:\n"
                       "  - type: slack\n"
                       "    url: ${DBKEEP_T_HOOK}\n"
                       "  - {type: healthchecks, url: 'https://hc-ping.com/uuid/', timeout: 3}\n"
                       "targets:\n"
                       "  a: {engine: redis}\n"
                       "  b: {engine: redis, notify: [{type: webhook, url: 'http://h/x', events: [start, missed]}]}\n"
                       "  c: {engine: redis, notify: []}\n");
    ASSERT_TRUE(c) << c.error().message;
    const auto& a = c->targets.at("a").notify;
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0].name, "slack #1");
    EXPECT_EQ(std::get<observe::SlackChannel>(a[0].options).url.reveal(), "https://hooks.example/T1/B2/tok");
    EXPECT_EQ(a[0].events, (std::set{observe::Event::failure, observe::Event::missed, observe::Event::verify_failure}));
    EXPECT_EQ(std::get<observe::HealthchecksChannel>(a[1].options).url.reveal(), "https://hc-ping.com/uuid");
    EXPECT_EQ(a[1].timeout, std::chrono::seconds(3));
    const auto& b = c->targets.at("b").notify;
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].events, (std::set{observe::Event::start, observe::Event::missed}));
    EXPECT_TRUE(c->targets.at("c").notify.empty());
    // Every channel URL is a secret for log redaction.
    bool url_is_secret = false;
    for (const auto* secret : secrets_of(*c)) {
        url_is_secret |= secret->reveal() == "https://hooks.example/T1/B2/tok";
    }
    EXPECT_TRUE(url_is_secret);
}

TEST(ConfigNotify, MistakesAreErrorsAtTheirValueAndNeverEchoTheUrl)
{
    const std::string root = "targets:\n  a: {engine: redis}\nnotify:\n";
    EXPECT_EQ(error_of(root + "  - {type: slack, url: 'https://h/x', events: [failure, oops]}\n"),
              "t.yaml:4:47: unknown event 'oops' (expected start, success, failure, missed or verify_failure)");
    EXPECT_EQ(
        error_of(root + "  - {type: pager, url: 'https://h/x'}\n"),
        "t.yaml:4:12: unknown notification channel type 'pager' (expected webhook, slack, healthchecks, email or sns)");
    EXPECT_EQ(error_of(root + "  - {type: slack, url: 'hooks.slack.com/services/T/B/SeCrEt'}\n"),
              "t.yaml:4:24: 'url' of slack channel #1 must be an http:// or https:// URL");
    EXPECT_EQ(error_of(root + "  - {type: webhook, url: 'https://h/x', secret: plain-text}\n"),
              "t.yaml:4:49: write 'secret' as ${ENV_VAR}: secrets do not belong in the configuration file");
    EXPECT_EQ(error_of(root + "  - {type: slack, url: 'https://h/x', channel: '#ops'}\n").find("t.yaml:4:"), 0u);
}

TEST(ConfigTarget, PostgresLockWaitTimeoutIsSecondsWithAFiveMinuteDefault)
{
    auto c = load_text(k_pg_target + "    url: postgres://u@h/d\n    lock_wait_timeout: 42\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(pg(c->targets.at("db")).lock_wait_timeout, std::chrono::seconds(42));
    auto d = load_text(k_pg_target + "    url: postgres://u@h/d\n");
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(pg(d->targets.at("db")).lock_wait_timeout, std::chrono::seconds(300));
    expect_error(k_pg_target + "    url: postgres://u@h/d\n    lock_wait_timeout: 0\n", 5, 24,
                 "'lock_wait_timeout' in target 'db' must be between 1 and 86400");
    expect_error(k_pg_target + "    url: postgres://u@h/d\n    lock_wait_timeout: 5min\n", 5, 24, "must be an integer");
}

TEST(ConfigTarget, PostgresJobsAndSplitThresholdForTheParallelDump)
{
    auto c = load_text(k_pg_target + "    url: postgres://u@h/d\n    jobs: 4\n    split_tables_larger_than: 512MiB\n");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(pg(c->targets.at("db")).jobs, 4);
    EXPECT_EQ(pg(c->targets.at("db")).split_tables_larger_than, 512ull << 20);
    auto d = load_text(k_pg_target + "    url: postgres://u@h/d\n");
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(pg(d->targets.at("db")).jobs, 1) << "one stream unless asked";
    EXPECT_EQ(pg(d->targets.at("db")).split_tables_larger_than, 1ull << 30);
    expect_error(k_pg_target + "    url: postgres://u@h/d\n    jobs: 0\n", 5, 11,
                 "'jobs' in target 'db' must be between 1 and 64");
    expect_error(k_pg_target + "    url: postgres://u@h/d\n    split_tables_larger_than: 2 GB\n", 5, 31,
                 "must be a size such as 256MiB or 2GiB, found '2 GB'");
    expect_error(k_pg_target + "    url: postgres://u@h/d\n    split_tables_larger_than: 99999999999999999999T\n", 5,
                 31, "must be a size");
}

TEST(ConfigLoad, MetricsOutputsAreCheckedAtLoad)
{
    auto c = load_text("metrics:\n  textfile: /var/lib/node_exporter/dbkeep.prom\n  pushgateway: http://pg:9091\n"
                       "targets:\n  a: {engine: redis}\n");
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(c->metrics.textfile, "/var/lib/node_exporter/dbkeep.prom");
    EXPECT_EQ(c->metrics.pushgateway, "http://pg:9091");
    EXPECT_EQ(c->metrics.job, "dbkeep");
    expect_error("metrics:\n  textfile: /tmp/dbkeep.txt\ntargets:\n  a: {engine: redis}\n", 2, 13, "must end in .prom");
    expect_error("metrics:\n  pushgateway: pg:9091\ntargets:\n  a: {engine: redis}\n", 2, 16, "http:// or https://");
    expect_error("metrics:\n  push: http://pg:9091\ntargets:\n  a: {engine: redis}\n", 2, 3, "unknown key 'push'");
}

TEST(ConfigLoad, EmailChannelsAreCheckedAtLoad)
{
    ::setenv("DBKEEP_TEST_SMTP_PW", "pw", 1);
    auto c = load_text("notify:\n  - type: email\n    url: smtps://mail.example.org\n    from: dbkeep@example.org\n"
                       "    to: ops@example.org\n    username: u\n    password: ${DBKEEP_TEST_SMTP_PW}\n"
                       "targets:\n  a: {engine: redis}\n");
    ASSERT_TRUE(c) << c.error().to_string();
    const auto& email = std::get<observe::EmailChannel>(c->notify.at(0).options);
    EXPECT_EQ(email.to, std::vector<std::string>{"ops@example.org"});
    EXPECT_TRUE(email.require_tls);
    EXPECT_EQ(email.password.reveal(), "pw");
    const std::string head = "notify:\n  - type: email\n";
    const std::string tail = "targets:\n  a: {engine: redis}\n";
    expect_error(head + "    url: http://mail\n    from: a@b\n    to: c@d\n" + tail, 3, 10, "smtp://HOST");
    expect_error(head + "    url: smtp://mail\n    from: a@b\n    to: c@d\n    password: hunter2\n" + tail, 6, 15,
                 "write 'password' as ${ENV_VAR}");
    expect_error(head + "    url: smtp://mail\n    from: a@b\n    to: c@d\n    tls: maybe\n" + tail, 6, 10,
                 "starttls (the default) or none");
    expect_error(head + "    url: smtp://mail\n    from: a@b\n    to: [not-an-address]\n" + tail, 5, 9,
                 "is not an address");
}

// A target's `verify:` block: its schedule parsed at load, the scratch URL's password a secret, mistakes named.
TEST(ConfigLoad, VerifyBlockIsParsedAndItsScratchPasswordIsASecret)
{
    auto r = load_text("targets:\n"
                       "  orders:\n"
                       "    engine: postgres\n"
                       "    url: postgres://app@db/orders\n"
                       "    verify:\n"
                       "      schedule: \"0 6 * * 0\"\n"
                       "      backups: all\n"
                       "      restore_to: postgres://verify:Scratch-Pw-1@scratch:5432/orders_verify\n"
                       "      no_owner: true\n");
    ASSERT_TRUE(r) << r.error().message;
    const auto& v = r->targets.at("orders").verify;
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->schedule.text, "0 6 * * 0");
    EXPECT_TRUE(v->all_backups);
    EXPECT_TRUE(v->no_owner);
    EXPECT_EQ(v->restore_password.reveal(), "Scratch-Pw-1");
    bool listed = false;
    for (const auto* s : secrets_of(*r)) {
        listed = listed || s->reveal() == "Scratch-Pw-1";
    }
    EXPECT_TRUE(listed);
    const auto text = to_string(*r);
    EXPECT_EQ(text.find("Scratch-Pw-1"), std::string::npos) << text;
    EXPECT_NE(text.find("verify '0 6 * * 0'"), std::string::npos) << text;

    const std::string head = "targets:\n  orders:\n    engine: postgres\n    url: postgres://app@db/orders\n";
    expect_error(head + "    verify:\n      backups: all\n", 6, 7, "needs 'schedule'");
    expect_error(head + "    verify:\n      schedule: \"0 6 * * 8\"\n", 6, 26, "schedule of verify of target 'orders'");
    expect_error(head + "    verify:\n      schedule: \"@daily\"\n      backups: some\n", 7, 16, "latest or all");
    expect_error(head + "    verify:\n      schedule: \"@daily\"\n      restore: x\n", 7, 7, "unknown key 'restore'");
    expect_error(head + "    verify:\n      schedule: \"0 6 * * *\"\n      password: x\n", 6, 7,
                 "without 'restore_to'");
}
