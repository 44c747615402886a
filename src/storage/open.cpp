#include "storage/open.hpp"

#include "config/config.hpp"
#include "storage/local.hpp"

namespace dbkeep::storage {

Result<std::unique_ptr<Storage>> open_storage(const config::StorageConfig& config)
{
    if (config.type == "local") {
        return make_local_storage({.root = config.local.path});
    }
    return fail(ErrorKind::config, "open storage", config.name, "storage type '" + config.type + "' is not supported yet");
}

} // namespace dbkeep::storage
