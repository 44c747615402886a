// AWS credentials in the SDKs' order: explicit configuration; AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
// AWS_SESSION_TOKEN; AWS_PROFILE (or "default") in ~/.aws/credentials and ~/.aws/config; ECS container
// credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]:
// the ECS task role); web identity (STS AssumeRoleWithWebIdentity); EC2 instance metadata (IMDSv2). Temporary
// credentials are refreshed five minutes before they expire. Endpoints are reached through core/http.
#pragma once

#include "core/error.hpp"
#include "storage/s3/s3.hpp"
#include "storage/s3/sigv4.hpp"

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace dbkeep::storage {

class CredentialProvider {
public:
    // Keeps the explicit credentials and profile of the options; makes no request.
    explicit CredentialProvider(const S3Options& options);
    // Current credentials, refreshed when temporary ones near their expiry (a blocking request to the source,
    // 5 s at most each). Fails with auth when no source has credentials or one refuses (the hint lists every
    // source tried), transient when a credential endpoint cannot be reached, cancelled on SIGINT/SIGTERM.
    // Thread-safe (one caller resolves, the others wait).
    Result<sigv4::Credentials> get();
    // Which source supplied the credentials ("environment", "profile default", "ECS container credentials"),
    // "" before the first get(); never a secret. Thread-safe.
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
