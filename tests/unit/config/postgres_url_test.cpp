// A postgres target's url is read by libpq itself (PQconninfoParse): socket directories, ports, options and
// every other libpq parameter mean what they mean to psql; an unknown or malformed parameter is a config error at
// its line and column that never shows the password.
#include "config/config.hpp"
#include "engine/postgres/connection.hpp"

#include <gtest/gtest.h>
#include <string>

using namespace dbkeep;
using namespace dbkeep::config;

namespace {

Result<Config> load_url(const std::string& url)
{
    return load_from_string("targets:\n  db:\n    engine: postgres\n    url: " + url + "\n", "t.yaml", "/etc/dbkeep");
}

const engine::PostgresOptions& pg_of(const Result<Config>& c)
{
    return std::get<engine::PostgresOptions>(c->targets.at("db").engine);
}

std::string error_of(const std::string& url)
{
    auto c = load_url(url);
    if (c) {
        return "<loaded>";
    }
    EXPECT_EQ(c.error().kind, ErrorKind::config);
    return c.error().message;
}

} // namespace

TEST(PostgresUrl, SocketDirectoryAndPortInTheQueryMeanWhatTheyMeanToPsql)
{
    auto c = load_url("postgresql:///app?host=/run/postgresql&port=5433&user=postgres");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(pg_of(c).host, "/run/postgresql");
    EXPECT_EQ(pg_of(c).port, 5433);
    EXPECT_EQ(pg_of(c).user, "postgres");
    EXPECT_EQ(pg_of(c).dbname, "app");
    EXPECT_TRUE(pg_of(c).parameters.empty());
}

TEST(PostgresUrl, PercentEncodedSocketDirectoryInTheHostPart)
{
    auto c = load_url("postgres://postgres@%2Fvar%2Frun%2Fpostgresql:5434/app");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(pg_of(c).host, "/var/run/postgresql");
    EXPECT_EQ(pg_of(c).port, 5434);
}

TEST(PostgresUrl, OptionsSslAndSessionAttributesAreKept)
{
    auto c = load_url("postgres://u@h/app?options=-c%20statement_timeout%3D0&sslmode=verify-full"
                      "&sslrootcert=/etc/ssl/root.crt&target_session_attrs=read-write&connect_timeout=7");
    ASSERT_TRUE(c) << c.error().message;
    const auto& pg = pg_of(c);
    EXPECT_EQ(pg.sslmode, "verify-full");
    EXPECT_EQ(pg.parameters.at("options"), "-c statement_timeout=0");
    EXPECT_EQ(pg.parameters.at("sslrootcert"), "/etc/ssl/root.crt");
    EXPECT_EQ(pg.parameters.at("target_session_attrs"), "read-write");
    EXPECT_EQ(pg.parameters.at("connect_timeout"), "7");
}

TEST(PostgresUrl, KeyValueConnectionStringsWork)
{
    auto c = load_url("\"host=/run/postgresql port=5433 dbname=app user=postgres password='s3 cret' "
                      "application_name=nightly\"");
    ASSERT_TRUE(c) << c.error().message;
    const auto& pg = pg_of(c);
    EXPECT_EQ(pg.host, "/run/postgresql");
    EXPECT_EQ(pg.port, 5433);
    EXPECT_EQ(pg.dbname, "app");
    EXPECT_EQ(pg.password.reveal(), "s3 cret");
    EXPECT_EQ(pg.parameters.at("application_name"), "nightly");
    EXPECT_EQ(c->targets.at("db").url.find("s3 cret"), std::string::npos) << c->targets.at("db").url;
}

TEST(PostgresUrl, MultiHostPortListIsPassedAsWritten)
{
    auto c = load_url("postgresql://u@h1:5432,h2:5433/app?target_session_attrs=primary");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(pg_of(c).host, "h1,h2");
    EXPECT_EQ(pg_of(c).port, 0);
    EXPECT_EQ(pg_of(c).parameters.at("port"), "5432,5433");
}

TEST(PostgresUrl, UnknownQueryParameterIsAnErrorAtItsColumn)
{
    // url: starts at column 10; "sslmod" is 24 characters into the value.
    EXPECT_EQ(error_of("postgres://u@h/app?sslmod=require"),
              "t.yaml:4:29: 'url' of target 'db': invalid URI query parameter: \"sslmod\" (a libpq connection string: "
              "postgresql://user@host:port/dbname?param=value or 'host=... dbname=...'; parameters as in libpq's "
              "documentation)");
}

TEST(PostgresUrl, UnknownKeyValueParameterIsAnError)
{
    auto e = error_of("\"host=h dbname=app colour=blue\"");
    EXPECT_TRUE(e.starts_with("t.yaml:4:29: 'url' of target 'db': invalid connection option \"colour\"")) << e;
}

TEST(PostgresUrl, PasswordNeverInTheError)
{
    auto a = error_of("postgres://u:Sup3rS%ZZecret@h/app");
    EXPECT_EQ(a.find("Sup3rS"), std::string::npos) << a;
    EXPECT_NE(a.find("t.yaml:4:10"), std::string::npos) << a;
    auto b = error_of("postgres://u@h/app?password=Hidd%ZZenPw&nope=1");
    EXPECT_EQ(b.find("Hidd"), std::string::npos) << b;
    auto d = error_of("\"host=h password=KvSecretPw dbname\"");
    EXPECT_EQ(d.find("KvSecretPw"), std::string::npos) << d;
    EXPECT_NE(d.find("'url' of target 'db'"), std::string::npos) << d;
}

TEST(PostgresUrl, ParseConninfoKeepsThePasswordApart)
{
    auto p = engine::pg::parse_conninfo("postgresql://u:p%40ss@h:1/d?sslmode=require");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->password, "p@ss");
    EXPECT_FALSE(p->keywords.contains("password"));
    EXPECT_EQ(p->keywords.at("host"), "h");
    EXPECT_EQ(p->keywords.at("sslmode"), "require");
}
