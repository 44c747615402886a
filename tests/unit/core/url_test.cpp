// URLs in the configuration and on the command line (src/core/url.cpp): parsing and redaction.
#include "core/url.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;

TEST(ConfigUrl, ParsesAPostgresUrlWithEveryPart)
{
    auto u = parse_url("postgres://backup:p%40ss%3Aw%2Frd@orders-db.internal:5433/orders?sslmode=require&"
                       "application_name=dbkeep%20x");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->scheme, "postgres");
    EXPECT_EQ(u->user, "backup");
    EXPECT_EQ(u->password, "p@ss:w/rd");
    EXPECT_EQ(u->host, "orders-db.internal");
    EXPECT_EQ(u->port, 5433);
    EXPECT_EQ(u->path, "orders");
    EXPECT_EQ(u->query.at("sslmode"), "require");
    EXPECT_EQ(u->query.at("application_name"), "dbkeep x");
}

TEST(ConfigUrl, ParsesOptionalParts)
{
    auto u = parse_url("postgres://localhost");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host, "localhost");
    EXPECT_EQ(u->port, 0);
    EXPECT_EQ(u->user, "");
    EXPECT_EQ(u->password, "");
    EXPECT_EQ(u->path, "");
    EXPECT_TRUE(u->query.empty());

    auto v = parse_url("postgresql://u@/db");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->user, "u");
    EXPECT_EQ(v->host, "");
    EXPECT_EQ(v->path, "db");

    auto w = parse_url("postgres://u:@h/my%20db");
    ASSERT_TRUE(w);
    EXPECT_EQ(w->password, "");
    EXPECT_EQ(w->path, "my db");
}

TEST(ConfigUrl, ParsesIpv6Hosts)
{
    auto u = parse_url("postgres://u:pw@[::1]:5432/db");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->port, 5432);
    EXPECT_EQ(u->password, "pw");
    EXPECT_EQ(u->path, "db");

    auto v = parse_url("redis://[2001:db8::1]");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->host, "2001:db8::1");
    EXPECT_EQ(v->port, 0);

    EXPECT_FALSE(parse_url("redis://[::1"));
    EXPECT_FALSE(parse_url("redis://[::1]x"));
    EXPECT_FALSE(parse_url("redis://[::1]:0"));
    EXPECT_FALSE(parse_url("redis://[::1]:port"));
}

TEST(ConfigUrl, ParsesRedisUrls)
{
    auto u = parse_url("redis://default:R%23dis@cache.internal:6380/3");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->scheme, "redis");
    EXPECT_EQ(u->user, "default");
    EXPECT_EQ(u->password, "R#dis");
    EXPECT_EQ(u->host, "cache.internal");
    EXPECT_EQ(u->port, 6380);
    EXPECT_EQ(u->path, "3");

    auto v = parse_url("rediss://:only-pass@cache");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->user, "");
    EXPECT_EQ(v->password, "only-pass");
    EXPECT_EQ(v->port, 0);
}

TEST(ConfigUrl, RawAtSignInThePasswordBelongsToThePassword)
{
    auto u = parse_url("postgres://u:p@ss@h:5432/db");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->user, "u");
    EXPECT_EQ(u->password, "p@ss");
    EXPECT_EQ(u->host, "h");
}

TEST(ConfigUrl, RejectsMalformedUrls)
{
    EXPECT_FALSE(parse_url("localhost:5432"));
    EXPECT_FALSE(parse_url("://h/db"));
    EXPECT_FALSE(parse_url("postgres://h:/db"));
    EXPECT_FALSE(parse_url("postgres://h:0/db"));
    EXPECT_FALSE(parse_url("postgres://h:65536/db"));
    EXPECT_FALSE(parse_url("postgres://h:54x/db"));
    EXPECT_FALSE(parse_url("postgres://h:-1/db"));
}

TEST(ConfigUrl, InvalidPercentEscapesStayLiteral)
{
    auto u = parse_url("postgres://us%zzer:a%2-b%-1%+1%@h/d%4");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->user, "us%zzer");
    EXPECT_EQ(u->password, "a%2-b%-1%+1%");
    EXPECT_EQ(u->path, "d%4");
    auto v = parse_url("postgres://u:%41%62%2f@h/%64b");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->password, "Ab/");
    EXPECT_EQ(v->path, "db");
}

TEST(ConfigUrl, RedactReplacesThePasswordOnly)
{
    EXPECT_EQ(redact_url("postgres://u:secret@h:5432/db?sslmode=require"),
              "postgres://u:***@h:5432/db?sslmode=require");
    EXPECT_EQ(redact_url("redis://:secret@h:6379"), "redis://:***@h:6379");
    EXPECT_EQ(redact_url("postgres://u:p%40ss@[::1]:5432/db"), "postgres://u:***@[::1]:5432/db");
    EXPECT_EQ(redact_url("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
    // Nothing to hide.
    EXPECT_EQ(redact_url("postgres://u@h:5432/db"), "postgres://u@h:5432/db");
    EXPECT_EQ(redact_url("postgres://[::1]:5432/db"), "postgres://[::1]:5432/db");
    EXPECT_EQ(redact_url("postgres://h/db?application_name=a@b"), "postgres://h/db?application_name=a@b");
    EXPECT_EQ(redact_url("not a url"), "not a url");
}

TEST(ConfigUrl, RedactNeverShowsThePasswordEvenWhenItIsNotEscaped)
{
    // A '/', '?' or '#' left unescaped in a password ends the authority for a parser: redaction must
    // still hide it.
    for (const std::string url :
         {"postgres://u:Pa/ssWd1@h/db", "postgres://u:Pa?ssWd1@h/db", "postgres://u:Pa#ssWd1@h/db",
          "postgres://u:12/ssWd1@h:5432/db", "redis://:Pa/ssWd1@h:6379/0"}) {
        std::string r = redact_url(url);
        EXPECT_EQ(r.find("ssWd1"), std::string::npos) << url << " -> " << r;
        EXPECT_NE(r.find("***"), std::string::npos) << url << " -> " << r;
    }
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
