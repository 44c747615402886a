// age decryption as a Source (C2SP age spec, age-encryption.org/v1): reads the header, unwraps the file
// key with an X25519 identity or a passphrase, checks the header MAC, then decrypts and authenticates the
// STREAM payload chunk by chunk. Constant memory; reads what `age -e` writes (armor is not supported).
#pragma once

#include "core/secret.hpp"
#include "stream/sink.hpp"

#include <vector>

namespace dbkeep::stream {

struct AgeIdentities {
    std::vector<Secret> x25519; // "AGE-SECRET-KEY-1..." secret keys
    Secret passphrase;
    int max_work_factor = 22; // refuse files that would take longer to unlock
};

// Reads and authenticates the header on the first read(). No matching identity: ErrorKind::auth; an invalid
// identity: config; a malformed header (non-canonical base64 included), a bad MAC, a truncated or altered
// payload: ErrorKind::corruption, never a short clean end. The Source is used by one thread at a time.
std::unique_ptr<Source> make_age_decryptor(Source& in, AgeIdentities identities);

} // namespace dbkeep::stream
