#include "support/s3_fixture.hpp"

namespace dbkeep::test {

std::map<std::string, std::string> s3_credentials_env()
{
    return {{"S3_KEY", S3Server::k_key}, {"S3_SECRET", S3Server::k_secret}};
}

std::string s3_storage_yaml(const S3Server& s3, int port, const std::string& prefix, const std::string& credentials)
{
    return "storages:\n  s3:\n    type: s3\n    bucket: " + s3.bucket() + "\n    prefix: " + prefix +
           "\n    region: us-east-1\n    endpoint: http://127.0.0.1:" + std::to_string(port) +
           "\n    part_size: 5MiB\n" + credentials;
}

void S3Test::SetUp()
{
    if (auto reason = S3Server::skip_reason(); !reason.empty()) {
        GTEST_SKIP() << reason;
    }
    m_s3 = std::make_unique<S3Server>();
}

} // namespace dbkeep::test
