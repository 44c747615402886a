// The S3 Source: an object read in ranged GETs of 8 MiB (the S3 API's GetObject with Range, RFC 9110
// section 14), each retried on its own (pgBackRest src/storage/s3/read.c).
#pragma once

#include "storage/s3/client.hpp"

#include <cstdint>

namespace dbkeep::storage::s3 {

// Reads bytes [offset, end) of `full_key`. A short range fails the read with ErrorKind::transient (the object
// changed or the connection broke). `client` must outlive the source. One thread at a time.
std::unique_ptr<stream::Source> make_reader(Client& client, std::string full_key, std::uint64_t offset,
                                            std::uint64_t end);

} // namespace dbkeep::storage::s3
