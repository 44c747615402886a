// age identities and recipients (C2SP age spec, "X25519 recipient type" and "scrypt recipient type"):
// parsing and checking them, identity and recipient files in age-keygen's format, and wrapping the file
// key into a stanza for each recipient type and back. Thread-safe: no shared state.
#pragma once

#include "core/secret.hpp"
#include "stream/age/format.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace dbkeep::stream {

// Identity files in age-keygen's format (# comments, one AGE-SECRET-KEY-1... per line, trailing spaces and
// CRs ignored). not_found when the file cannot be opened; config naming the line when a line is not an
// identity or when there is none.
Result<std::vector<Secret>> read_identity_file(const std::filesystem::path& path);
// Recipient files: one age1... per line, # comments and blank lines ignored. not_found when the file cannot
// be opened; config naming the line when a line is not a recipient. An empty file is an empty list.
Result<std::vector<std::string>> read_recipients_file(const std::filesystem::path& path);

// The public recipient ("age1...") of a secret identity; config when it is not an identity (the error
// never contains the secret).
Result<std::string> recipient_of(const Secret& identity);
// Checks a recipient string (bech32 "age1", 32 bytes); config naming the recipient otherwise.
Status validate_recipient(const std::string& recipient);

// Writes a new identity like age-keygen (comments with the creation time and public key, mode 0600,
// fsynced) and returns its recipient. Refuses to overwrite an existing file (config); a failed write
// removes the file (failed).
Result<std::string> write_new_identity(const std::filesystem::path& path);

} // namespace dbkeep::stream

namespace dbkeep::stream::age {

// The 32-byte X25519 scalar of an "AGE-SECRET-KEY-1..." identity; config otherwise. The caller zeroes it.
Result<Key> decode_identity(const Secret& identity);
// The 32-byte X25519 point of an "age1..." recipient; config naming the recipient otherwise.
Result<Key> decode_recipient(const std::string& recipient);

// "-> X25519 <ephemeral share>" wrapping file_key for recipient; config when the recipient is invalid or a
// low-order point.
Result<Stanza> wrap_x25519(const std::string& recipient, const FileKey& file_key);
// "-> scrypt <salt> <work factor>" wrapping file_key under passphrase; failed when scrypt cannot run.
Result<Stanza> wrap_scrypt(const Secret& passphrase, int work_factor, const FileKey& file_key);

// Checks the stanzas of the types we know (X25519, scrypt: arguments, sizes, an scrypt stanza alone, its
// work factor at most max_work_factor); unknown types pass. Errors are header_error()s.
Status check_stanzas(const std::vector<Stanza>& stanzas, int max_work_factor);

// Unwraps a checked stanza of the matching type into file_key: true when the identity (or passphrase)
// opens it, false when it does not. Errors: an invalid identity (config), a low-order share
// (corruption), scrypt failing (failed).
Result<bool> unwrap_x25519(const Stanza& stanza, const Secret& identity, FileKey& file_key);
Result<bool> unwrap_scrypt(const Stanza& stanza, const Secret& passphrase, FileKey& file_key);

} // namespace dbkeep::stream::age
