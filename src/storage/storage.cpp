#include "storage/storage.hpp"

namespace dbkeep::storage {

Status put_object(Storage& storage, const std::string& key, const std::string& bytes)
{
    auto writer = storage.open_writer(key);
    if (!writer) {
        return std::unexpected(writer.error());
    }
    if (auto st = (*writer)->write(as_bytes(bytes)); !st) {
        (*writer)->abort();
        return st;
    }
    return (*writer)->finish();
}

Result<std::string> get_object(Storage& storage, const std::string& key, std::size_t max_bytes)
{
    auto reader = storage.open_reader(key);
    if (!reader) {
        return std::unexpected(reader.error());
    }
    return stream::read_all(**reader, max_bytes);
}

} // namespace dbkeep::storage
