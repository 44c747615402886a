// A throwaway S3-compatible server that verifies SigV4 signatures (npm @20minutes/s3rver, installed by
// scripts/install-deps.sh into /opt/dbkeep-test/s3rver) on a loopback port, with one bucket.
#pragma once

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <memory>
#include <string>

namespace dbkeep::test {

class S3Server {
public:
    explicit S3Server(std::string bucket = "dbkeep-test");
    ~S3Server();
    S3Server(const S3Server&) = delete;
    S3Server& operator=(const S3Server&) = delete;

    static std::string skip_reason();
    int port() const { return m_port; }
    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(m_port); }
    const std::string& bucket() const { return m_bucket; }
    static constexpr const char* k_key = "S3RVER";
    static constexpr const char* k_secret = "S3RVER";

    // /usr/bin/aws (Debian's AWS CLI) against this server: {"s3", "ls", ...}.
    RunResult aws(const std::vector<std::string>& args) const;

private:
    std::unique_ptr<TempDir> m_dir;
    std::unique_ptr<Background> m_process;
    int m_port = 0;
    std::string m_bucket;
};

} // namespace dbkeep::test
