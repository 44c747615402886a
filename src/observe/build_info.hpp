#pragma once

#include <string>
#include <utility>
#include <vector>

namespace dbkeep::observe {

// What dbkeep was built from and what it runs with, for `dbkeep --version`, `dbkeep version` and bug reports.
struct BuildInfo {
    std::string version;    // the project version, e.g. "0.1.0"
    std::string commit;     // `git describe --always --dirty` at configure time, or "unknown" outside a checkout
    std::string build_type; // CMAKE_BUILD_TYPE, e.g. "Release"; "unspecified" when none was given
    // The libraries dbkeep is linked with, as (name, version) in a fixed order: libpq, libcurl, OpenSSL, libzstd,
    // libsodium. Each version is read from the library at run time (PQlibVersion, curl_version_info,
    // OpenSSL_version, ZSTD_versionString, sodium_version_string), so it names the shared object actually
    // loaded, not the headers dbkeep was compiled against.
    std::vector<std::pair<std::string, std::string>> libraries;
};

// Collects the build information. Never fails; thread-safe.
BuildInfo build_info();

// The text `dbkeep --version` prints: "dbkeep VERSION (commit COMMIT, BUILD_TYPE build)" and one line per
// library ("  libpq 15.14"), each line ending in '\n'.
std::string format_build_info(const BuildInfo& info);

} // namespace dbkeep::observe
