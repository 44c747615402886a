// Issue 13 item 6, against a real S3 server (s3rver): `dbkeep check` on a bucket that does not exist names the
// bucket; it used to say "allow s3:PutObject on the bucket and prefix", a permission no one could grant.
#include "storage/s3/s3.hpp"
#include "storage/storage.hpp"
#include "support/s3_fixture.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

class S3Hints : public S3Test {
protected:
    storage::S3Options options(const std::string& bucket) const
    {
        storage::S3Options o;
        o.bucket = bucket;
        o.prefix = "ci";
        o.region = "us-east-1";
        o.endpoint = m_s3->endpoint();
        o.access_key_id = S3Server::k_key;
        o.secret_access_key = Secret(S3Server::k_secret);
        return o;
    }
};

} // namespace

TEST_F(S3Hints, AMissingBucketIsNamedNotAPermission)
{
    auto storage = storage::make_s3_storage(options("no-such-bucket-" + m_s3->bucket()));
    ASSERT_TRUE(storage) << storage.error().to_string();
    bool seen = false;
    for (const auto& f : (*storage)->probe("t/")) {
        if (f.probe == "storage.write") {
            seen = true;
            EXPECT_EQ(f.outcome, Outcome::fail) << f.finding;
            EXPECT_NE(f.finding.find("NoSuchBucket"), std::string::npos) << f.finding;
            EXPECT_NE(f.remedy.find("does not exist: create it"), std::string::npos) << f.remedy;
            EXPECT_EQ(f.remedy.find("s3:PutObject"), std::string::npos) << f.remedy;
        }
    }
    EXPECT_TRUE(seen);

    // The same storage on the bucket that exists passes: the hint is about the bucket, nothing else.
    auto good = storage::make_s3_storage(options(m_s3->bucket()));
    ASSERT_TRUE(good) << good.error().to_string();
    for (const auto& f : (*good)->probe("t/")) {
        EXPECT_NE(f.outcome, Outcome::fail) << f.probe << ": " << f.finding;
    }
}
