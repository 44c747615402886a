#include "storage/open.hpp"

#include "config/config.hpp"
#include "storage/local.hpp"
#include "storage/s3/s3.hpp"

namespace dbkeep::storage {

Result<std::unique_ptr<Storage>> open_storage(const config::StorageConfig& config)
{
    if (config.type == "local") {
        return make_local_storage({.root = config.local.path});
    }
    if (config.type == "s3") {
        return make_s3_storage(config.s3);
    }
    return fail(ErrorKind::config, "open storage", config.name, "unknown storage type '" + config.type + "'");
}

} // namespace dbkeep::storage
