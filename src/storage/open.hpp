// Opens the storage a configuration names (local directory or S3), with the retry wrapper where it helps.
#pragma once

#include "storage/storage.hpp"

namespace dbkeep::config {
struct StorageConfig;
}

namespace dbkeep::storage {

Result<std::unique_ptr<Storage>> open_storage(const config::StorageConfig& config);

} // namespace dbkeep::storage
