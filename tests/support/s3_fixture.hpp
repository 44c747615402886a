// The S3 fixture of the integration tests: an s3rver that checks SigV4 signatures (skipping when it cannot
// run here), and the dbkeep.yaml storage block that reaches it directly or through a TcpProxy.
#pragma once

#include "support/s3_server.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

namespace dbkeep::test {

// Storage credentials taken from the environment (see s3_credentials_env), as users are told to write them.
inline constexpr const char* k_s3_credentials_yaml =
    "    access_key_id: ${S3_KEY}\n    secret_access_key: ${S3_SECRET}\n";

// S3_KEY and S3_SECRET: s3rver's key and secret, for k_s3_credentials_yaml.
std::map<std::string, std::string> s3_credentials_env();

// `storages:` with one S3 storage named s3: the server's bucket under `prefix`, at 127.0.0.1:`port` (the
// server's own port or a proxy's), 5 MiB parts, then `credentials` (indented storage lines).
std::string s3_storage_yaml(const S3Server& s3, int port, const std::string& prefix = "prod",
                            const std::string& credentials = k_s3_credentials_yaml);

class S3Test : public ::testing::Test {
protected:
    void SetUp() override;
    std::unique_ptr<S3Server> m_s3;
};

} // namespace dbkeep::test
