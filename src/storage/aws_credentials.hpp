// AWS credentials in the SDKs' order: explicit configuration; AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
// AWS_SESSION_TOKEN; AWS_PROFILE (or "default") in ~/.aws/credentials and ~/.aws/config; ECS container
// credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]:
// the ECS task role). Temporary credentials are refreshed five minutes before they expire.
#pragma once

#include "core/error.hpp"
#include "storage/sigv4.hpp"

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace dbkeep::config {
struct S3StorageConfig;
}

namespace dbkeep::storage {

class CredentialProvider {
public:
    explicit CredentialProvider(const config::S3StorageConfig& config);
    // Current credentials, refreshed when temporary ones near their expiry. Thread-safe. The error lists
    // every source that was tried.
    Result<sigv4::Credentials> get();
    // Which source supplied the credentials ("environment", "profile default", "ECS container"), never a secret.
    std::string source();

private:
    Result<sigv4::Credentials> resolve();

    std::string m_key_id, m_secret, m_token, m_profile;
    std::mutex m_mutex;
    std::optional<sigv4::Credentials> m_cached;
    std::chrono::system_clock::time_point m_expires = std::chrono::system_clock::time_point::max();
    std::string m_source;
};

} // namespace dbkeep::storage
