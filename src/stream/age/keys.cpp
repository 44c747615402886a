#include "stream/age/keys.hpp"

#include "core/time.hpp"
#include "stream/age/bech32.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <sodium.h>
#include <unistd.h>

namespace dbkeep::stream::age {
namespace {

constexpr std::string_view k_x25519_label = "age-encryption.org/v1/X25519";
constexpr std::string_view k_scrypt_label = "age-encryption.org/v1/scrypt";
constexpr std::size_t k_scrypt_salt = 16;
constexpr Nonce k_zero_nonce{};

// The key wrapping the file key in an X25519 stanza: HKDF(shared secret, share || recipient, label).
Key x25519_wrap_key(const Key& shared, const Key& share, const Key& recipient)
{
    std::uint8_t salt[64];
    std::copy(share.begin(), share.end(), salt);
    std::copy(recipient.begin(), recipient.end(), salt + 32);
    return hkdf(shared, Bytes(salt, sizeof salt), k_x25519_label);
}

Result<Key> scrypt_key(const Secret& passphrase, Bytes salt, int log_n)
{
    std::vector<std::uint8_t> full(k_scrypt_label.begin(), k_scrypt_label.end());
    full.insert(full.end(), salt.begin(), salt.end());
    Key key;
    const auto& pw = passphrase.reveal();
    if (crypto_pwhash_scryptsalsa208sha256_ll(reinterpret_cast<const std::uint8_t*>(pw.data()), pw.size(), full.data(),
                                              full.size(), 1ull << log_n, 8, 1, key.data(), key.size()) != 0) {
        return fail(ErrorKind::failed, "derive passphrase key", "", "scrypt failed (out of memory?)");
    }
    return key;
}

bool is_work_factor(const std::string& wf)
{
    return !wf.empty() && wf.size() <= 2 && wf[0] != '0' &&
           std::all_of(wf.begin(), wf.end(), [](char c) { return c >= '0' && c <= '9'; });
}

} // namespace

Result<Key> decode_identity(const Secret& identity)
{
    auto bytes = bech32_decode(identity.reveal(), "age-secret-key-");
    if (!bytes || bytes->size() != 32) {
        return fail(ErrorKind::config, "read age identity", "", "not an AGE-SECRET-KEY-1... identity");
    }
    Key k;
    std::copy(bytes->begin(), bytes->end(), k.begin());
    sodium_memzero(bytes->data(), bytes->size());
    return k;
}

Result<Key> decode_recipient(const std::string& recipient)
{
    auto bytes = bech32_decode(recipient, "age");
    if (!bytes || bytes->size() != 32 || !recipient.starts_with("age1")) {
        return fail(ErrorKind::config, "read age recipient", recipient, "not a valid age1... X25519 recipient");
    }
    Key k;
    std::copy(bytes->begin(), bytes->end(), k.begin());
    return k;
}

Result<Stanza> wrap_x25519(const std::string& recipient, const FileKey& file_key)
{
    auto pub = decode_recipient(recipient);
    if (!pub) {
        return std::unexpected(pub.error());
    }
    Key eph, share, shared;
    randombytes_buf(eph.data(), eph.size());
    crypto_scalarmult_base(share.data(), eph.data());
    const bool low_order = crypto_scalarmult(shared.data(), eph.data(), pub->data()) != 0;
    sodium_memzero(eph.data(), eph.size());
    if (low_order) {
        return fail(ErrorKind::config, "set up encryption", recipient, "recipient is a low-order point");
    }
    Key wrap = x25519_wrap_key(shared, share, *pub);
    sodium_memzero(shared.data(), shared.size());
    Stanza stanza{{"X25519", base64_encode(share)}, aead_seal(wrap, k_zero_nonce, file_key)};
    sodium_memzero(wrap.data(), wrap.size());
    return stanza;
}

Result<Stanza> wrap_scrypt(const Secret& passphrase, int work_factor, const FileKey& file_key)
{
    std::uint8_t salt[k_scrypt_salt];
    randombytes_buf(salt, sizeof salt);
    auto key = scrypt_key(passphrase, Bytes(salt, sizeof salt), work_factor);
    if (!key) {
        return std::unexpected(key.error());
    }
    Stanza stanza{{"scrypt", base64_encode(Bytes(salt, sizeof salt)), std::to_string(work_factor)},
                  aead_seal(*key, k_zero_nonce, file_key)};
    sodium_memzero(key->data(), key->size());
    return stanza;
}

Status check_stanzas(const std::vector<Stanza>& stanzas, int max_work_factor)
{
    bool has_scrypt = false;
    for (const auto& s : stanzas) {
        if (s.args[0] == "X25519") {
            if (s.args.size() != 2) {
                return header_error("X25519 stanza needs exactly one argument");
            }
            auto share = base64_decode(s.args[1]);
            if (!share || share->size() != 32) {
                return header_error("malformed X25519 share");
            }
            if (s.body.size() != k_file_key + k_tag) {
                return header_error("X25519 stanza body has the wrong size");
            }
        } else if (s.args[0] == "scrypt") {
            if (has_scrypt || stanzas.size() != 1) {
                return header_error("an scrypt stanza must be the only stanza");
            }
            has_scrypt = true;
            if (s.args.size() != 3) {
                return header_error("scrypt stanza needs a salt and a work factor");
            }
            auto salt = base64_decode(s.args[1]);
            if (!salt || salt->size() != k_scrypt_salt) {
                return header_error("malformed scrypt salt");
            }
            const auto& wf = s.args[2];
            if (!is_work_factor(wf)) {
                return header_error("malformed scrypt work factor");
            }
            if (std::stoi(wf) > max_work_factor) {
                return header_error("scrypt work factor " + wf + " is above the limit " +
                                    std::to_string(max_work_factor));
            }
            if (s.body.size() != k_file_key + k_tag) {
                return header_error("scrypt stanza body has the wrong size");
            }
        }
    }
    return {};
}

Result<bool> unwrap_x25519(const Stanza& stanza, const Secret& identity, FileKey& file_key)
{
    auto decoded_share = base64_decode(stanza.args[1]);
    if (!decoded_share || decoded_share->size() != 32) {
        return header_error("malformed X25519 share");
    }
    Key share;
    std::copy(decoded_share->begin(), decoded_share->end(), share.begin());
    auto secret = decode_identity(identity);
    if (!secret) {
        return std::unexpected(secret.error());
    }
    Key pub, shared;
    crypto_scalarmult_base(pub.data(), secret->data());
    const bool low_order = crypto_scalarmult(shared.data(), secret->data(), share.data()) != 0;
    sodium_memzero(secret->data(), secret->size());
    if (low_order) {
        return header_error("X25519 share is a low-order point");
    }
    Key wrap = x25519_wrap_key(shared, share, pub);
    sodium_memzero(shared.data(), shared.size());
    const bool opened = aead_open(wrap, k_zero_nonce, stanza.body, file_key.data());
    sodium_memzero(wrap.data(), wrap.size());
    return opened;
}

Result<bool> unwrap_scrypt(const Stanza& stanza, const Secret& passphrase, FileKey& file_key)
{
    auto salt = base64_decode(stanza.args[1]);
    if (!salt || !is_work_factor(stanza.args[2])) {
        return header_error("malformed scrypt stanza");
    }
    auto key = scrypt_key(passphrase, *salt, std::stoi(stanza.args[2]));
    if (!key) {
        return std::unexpected(key.error());
    }
    const bool opened = aead_open(*key, k_zero_nonce, stanza.body, file_key.data());
    sodium_memzero(key->data(), key->size());
    return opened;
}

} // namespace dbkeep::stream::age

namespace dbkeep::stream {
namespace {

// The meaningful lines of a key file (no comments, no blanks, trailing spaces and CRs cut), with line numbers.
Result<std::vector<std::pair<int, std::string>>> key_lines(const std::filesystem::path& path, const std::string& what)
{
    std::ifstream f(path);
    if (!f) {
        return fail(ErrorKind::not_found, "read " + what, path.string(), "cannot open it");
    }
    std::vector<std::pair<int, std::string>> out;
    std::string line;
    int n = 0;
    while (std::getline(f, line)) {
        ++n;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
            line.pop_back();
        }
        if (!line.empty() && line[0] != '#') {
            out.emplace_back(n, std::move(line));
        }
    }
    return out;
}

} // namespace

Result<std::vector<Secret>> read_identity_file(const std::filesystem::path& path)
{
    auto lines = key_lines(path, "identity file");
    if (!lines) {
        return std::unexpected(lines.error());
    }
    std::vector<Secret> out;
    for (auto& [n, line] : *lines) {
        Secret s(std::move(line));
        auto key = age::decode_identity(s);
        if (!key) {
            return fail(ErrorKind::config, "read identity file", path.string(),
                        "line " + std::to_string(n) + " is not an AGE-SECRET-KEY-1... identity");
        }
        sodium_memzero(key->data(), key->size());
        out.push_back(std::move(s));
    }
    if (out.empty()) {
        return fail(ErrorKind::config, "read identity file", path.string(), "no identities in it");
    }
    return out;
}

Result<std::vector<std::string>> read_recipients_file(const std::filesystem::path& path)
{
    auto lines = key_lines(path, "recipients file");
    if (!lines) {
        return std::unexpected(lines.error());
    }
    std::vector<std::string> out;
    for (auto& [n, line] : *lines) {
        if (!age::decode_recipient(line)) {
            return fail(ErrorKind::config, "read recipients file", path.string(),
                        "line " + std::to_string(n) + " is not an age1... recipient");
        }
        out.push_back(std::move(line));
    }
    return out;
}

Result<std::string> recipient_of(const Secret& identity)
{
    if (auto st = age::init_sodium(); !st) {
        return std::unexpected(st.error());
    }
    auto secret = age::decode_identity(identity);
    if (!secret) {
        return std::unexpected(secret.error());
    }
    age::Key pub;
    crypto_scalarmult_base(pub.data(), secret->data());
    sodium_memzero(secret->data(), secret->size());
    return age::bech32_encode("age", pub);
}

Status validate_recipient(const std::string& recipient)
{
    auto r = age::decode_recipient(recipient);
    if (!r) {
        return std::unexpected(r.error());
    }
    return {};
}

Result<std::string> write_new_identity(const std::filesystem::path& path)
{
    if (auto st = age::init_sodium(); !st) {
        return std::unexpected(st.error());
    }
    age::Key secret;
    randombytes_buf(secret.data(), secret.size());
    std::string encoded = age::bech32_encode("age-secret-key-", secret);
    sodium_memzero(secret.data(), secret.size());
    for (auto& c : encoded) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    Secret identity(encoded);
    sodium_memzero(encoded.data(), encoded.size());
    auto recipient = recipient_of(identity);
    if (!recipient) {
        return std::unexpected(recipient.error());
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        return fail(e == EEXIST ? ErrorKind::config : ErrorKind::failed, "write identity", path.string(),
                    e == EEXIST ? "the file exists; refusing to overwrite an identity" : errno_message(e));
    }
    std::string text = "# created: " + format_rfc3339(std::chrono::system_clock::now()) +
                       "\n# public key: " + *recipient + "\n" + identity.reveal() + "\n";
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    sodium_memzero(text.data(), text.size());
    if (!ok) {
        ::unlink(path.c_str());
        return fail(ErrorKind::failed, "write identity", path.string(), "write failed");
    }
    return *recipient;
}

} // namespace dbkeep::stream
