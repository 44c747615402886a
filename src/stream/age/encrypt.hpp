// age encryption as a pipeline stage (C2SP age spec, age-encryption.org/v1): X25519 recipients or one
// scrypt passphrase, the header with its MAC, then the ChaCha20-Poly1305 STREAM payload in 64 KiB chunks.
// Constant memory; the output opens with the standard `age -d`. Armor is not supported.
#pragma once

#include "core/secret.hpp"
#include "stream/sink.hpp"

#include <string>
#include <vector>

namespace dbkeep::stream {

struct AgeRecipients {
    std::vector<std::string> x25519; // "age1..." public keys
    Secret passphrase;               // alone: an scrypt stanza must be the only one
    int scrypt_work_factor = 18;     // log2(N) for new passphrase files (age's default)
};

// A Stage (stage.hpp) encrypting into next under a new random file key. Validates and decodes every
// recipient up front: config when there is none, when a passphrase is combined with recipients, or when a
// recipient is invalid (the error names it, never a secret); failed when libsodium or scrypt cannot run.
// The header is written to next with the first write() or finish(). Thread-safe to call; the returned
// Sink is used by one thread at a time.
Result<std::unique_ptr<Sink>> make_age_encryptor(Sink& next, const AgeRecipients& recipients);

} // namespace dbkeep::stream
