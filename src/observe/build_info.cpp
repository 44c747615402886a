#include "observe/build_info.hpp"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <zstd.h>

#ifndef DBKEEP_GIT_COMMIT
#define DBKEEP_GIT_COMMIT "unknown"
#endif
#ifndef DBKEEP_BUILD_TYPE
#define DBKEEP_BUILD_TYPE ""
#endif

namespace dbkeep::observe {

namespace {

// PQlibVersion() is major * 10000 + minor for PostgreSQL 10 and later.
std::string libpq_version()
{
    const int v = PQlibVersion();
    return std::to_string(v / 10000) + "." + std::to_string(v % 10000);
}

} // namespace

BuildInfo build_info()
{
    BuildInfo info;
    info.version = DBKEEP_VERSION;
    info.commit = DBKEEP_GIT_COMMIT;
    info.build_type = std::string(DBKEEP_BUILD_TYPE).empty() ? "unspecified" : DBKEEP_BUILD_TYPE;
    const curl_version_info_data* curl = curl_version_info(CURLVERSION_NOW);
    info.libraries = {
        {"libpq", libpq_version()},
        {"libcurl", curl != nullptr && curl->version != nullptr ? curl->version : "unknown"},
        {"OpenSSL", OpenSSL_version(OPENSSL_VERSION_STRING)},
        {"libzstd", ZSTD_versionString()},
        {"libsodium", sodium_version_string()},
    };
    return info;
}

std::string format_build_info(const BuildInfo& info)
{
    std::string out = "dbkeep " + info.version + " (commit " + info.commit + ", " + info.build_type + " build)\n";
    for (const auto& [name, version] : info.libraries) {
        out.append("  ").append(name).append(" ").append(version).append("\n");
    }
    return out;
}

} // namespace dbkeep::observe
