// The s3 storage's options as the loader fills them: typed values, and an endpoint that can address an S3
// service (scheme and host, no path) checked at load with the key's line and column.
#include "config/config.hpp"
#include "storage/s3/s3.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;

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
        EXPECT_EQ(c->storages.at("b").s3.endpoint, e);
    }
    EXPECT_FALSE(storage::s3_endpoint_problem("").has_value()) << "empty means AWS";
}

TEST(S3Options, DurationsAndSizesAreTyped)
{
    auto c = load_s3("    stall_timeout: 7\n    part_size: 8MiB\n");
    ASSERT_TRUE(c) << c.error().message;
    const storage::S3Options& o = c->storages.at("b").s3;
    EXPECT_EQ(o.stall_timeout, std::chrono::seconds(7));
    EXPECT_EQ(o.part_size, std::uint64_t{8} << 20);
    auto d = load_s3("");
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->storages.at("b").s3.stall_timeout, std::chrono::seconds(60));
}
