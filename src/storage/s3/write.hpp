// The S3 ObjectWriter: one PUT for a small object, a multipart upload for a larger one (pgBackRest
// src/storage/s3/write.c). The S3 API: PutObject, CreateMultipartUpload, UploadPart,
// CompleteMultipartUpload, AbortMultipartUpload.
#pragma once

#include "storage/s3/client.hpp"

namespace dbkeep::storage::s3 {

// A writer of `full_key` (prefix included). The object appears only at finish(); abort() or destruction
// before that aborts any multipart upload. `client` must outlive the writer. One thread at a time; parts
// upload on their own threads.
std::unique_ptr<ObjectWriter> make_writer(Client& client, std::string full_key);

} // namespace dbkeep::storage::s3
