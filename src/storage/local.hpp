// A directory on a local or mounted file system (EFS, NFS) as object storage.
#pragma once

#include "storage/storage.hpp"

#include <filesystem>

namespace dbkeep::storage {

struct LocalOptions {
    std::filesystem::path root;
    bool create_root = true; // mkdir -p the root on first write
};

// Objects are files under root; writers write "<key>.tmp-<random>" beside the final name, fsync it, and
// rename it into place on commit (then fsync the folder). create_if_absent uses O_EXCL.
std::unique_ptr<Storage> make_local_storage(LocalOptions options);

} // namespace dbkeep::storage
