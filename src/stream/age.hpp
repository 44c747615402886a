// The age v1 file format (age-encryption.org/v1) as pipeline stages, so every encrypted backup can be opened
// with the standard `age` tool: X25519 recipients and scrypt passphrases, HKDF-SHA-256, the header MAC, and
// the ChaCha20-Poly1305 STREAM payload in 64 KiB chunks. Constant memory. Armor is not supported.
#pragma once

#include "core/secret.hpp"
#include "stream/sink.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace dbkeep::stream {

struct AgeRecipients {
    std::vector<std::string> x25519; // "age1..." public keys
    Secret passphrase;               // alone: an scrypt stanza must be the only one
    int scrypt_work_factor = 18;     // log2(N) for new passphrase files (age's default)
};

struct AgeIdentities {
    std::vector<Secret> x25519; // "AGE-SECRET-KEY-1..." secret keys
    Secret passphrase;
    int max_work_factor = 22; // refuse files that would take longer to unlock
};

// Validates and decodes recipients up front (errors name the bad recipient, never a secret).
Result<std::unique_ptr<Sink>> make_age_encryptor(Sink& next, const AgeRecipients& recipients);

// Reads and authenticates the header on the first read(). No matching identity: ErrorKind::auth; a malformed
// header, a bad MAC, a truncated or altered payload: ErrorKind::corruption.
std::unique_ptr<Source> make_age_decryptor(Source& in, AgeIdentities identities);

// Identity files in age-keygen's format (# comments, one AGE-SECRET-KEY-1... per line).
Result<std::vector<Secret>> read_identity_file(const std::filesystem::path& path);
// Recipient files: one age1... per line, # comments and blank lines ignored.
Result<std::vector<std::string>> read_recipients_file(const std::filesystem::path& path);

// The public recipient of a secret identity.
Result<std::string> recipient_of(const Secret& identity);
// Checks a recipient string (bech32 "age1", 32 bytes).
Status validate_recipient(const std::string& recipient);

// Writes a new identity like age-keygen (mode 0600, refuses to overwrite) and returns its recipient.
Result<std::string> write_new_identity(const std::filesystem::path& path);

} // namespace dbkeep::stream
