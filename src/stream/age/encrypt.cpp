#include "stream/age/encrypt.hpp"

#include "stream/age/format.hpp"
#include "stream/age/keys.hpp"
#include "stream/stage.hpp"

#include <algorithm>
#include <sodium.h>

namespace dbkeep::stream {
namespace {

using age::k_chunk;

class AgeEncryptor final : public Stage {
public:
    AgeEncryptor(Sink& next, std::string header, const age::FileKey& file_key) : Stage(next, "encrypt")
    {
        std::uint8_t nonce[age::k_payload_nonce];
        randombytes_buf(nonce, sizeof nonce);
        m_prefix = std::move(header);
        m_prefix.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
        m_key = age::hkdf(file_key, Bytes(nonce, sizeof nonce), "payload");
        m_buf.reserve(k_chunk);
    }
    ~AgeEncryptor() override { on_abort(); }

private:
    Status on_write(Bytes data) override
    {
        if (auto st = flush_prefix(); !st) {
            return st;
        }
        std::size_t off = 0;
        while (off < data.size()) {
            if (m_buf.size() == k_chunk) {
                // More data follows a full buffer: it is not the last chunk.
                if (auto st = seal(false); !st) {
                    return st;
                }
            }
            std::size_t n = std::min(k_chunk - m_buf.size(), data.size() - off);
            m_buf.insert(m_buf.end(), data.begin() + static_cast<std::ptrdiff_t>(off),
                         data.begin() + static_cast<std::ptrdiff_t>(off + n));
            off += n;
        }
        return {};
    }

    Status on_finish() override
    {
        if (auto st = flush_prefix(); !st) {
            return st;
        }
        return seal(true);
    }

    void on_abort() noexcept override
    {
        sodium_memzero(m_key.data(), m_key.size());
        sodium_memzero(m_buf.data(), m_buf.size());
        m_buf.clear();
    }

    Status flush_prefix()
    {
        if (m_prefix.empty()) {
            return {};
        }
        auto st = next().write(as_bytes(m_prefix));
        m_prefix.clear();
        return st;
    }

    Status seal(bool last)
    {
        auto ct = age::aead_seal(m_key, age::stream_nonce(m_counter++, last), m_buf);
        m_buf.clear();
        return next().write(ct);
    }

    std::string m_prefix; // header + nonce, written before the first chunk
    age::Key m_key;
    std::vector<std::uint8_t> m_buf;
    std::uint64_t m_counter = 0;
};

} // namespace

Result<std::unique_ptr<Sink>> make_age_encryptor(Sink& next, const AgeRecipients& recipients)
{
    if (auto st = age::init_sodium(); !st) {
        return std::unexpected(st.error());
    }
    if (recipients.x25519.empty() && recipients.passphrase.empty()) {
        return fail(ErrorKind::config, "set up encryption", "", "no recipients and no passphrase");
    }
    if (!recipients.passphrase.empty() && !recipients.x25519.empty()) {
        return fail(ErrorKind::config, "set up encryption", "",
                    "a passphrase cannot be combined with recipients in one age file",
                    "use recipients only, or a passphrase only");
    }
    age::FileKey file_key;
    randombytes_buf(file_key.data(), file_key.size());
    std::vector<age::Stanza> stanzas;
    for (const auto& r : recipients.x25519) {
        auto stanza = age::wrap_x25519(r, file_key);
        if (!stanza) {
            sodium_memzero(file_key.data(), file_key.size());
            return std::unexpected(stanza.error());
        }
        stanzas.push_back(std::move(*stanza));
    }
    if (!recipients.passphrase.empty()) {
        auto stanza = age::wrap_scrypt(recipients.passphrase, recipients.scrypt_work_factor, file_key);
        if (!stanza) {
            sodium_memzero(file_key.data(), file_key.size());
            return std::unexpected(stanza.error());
        }
        stanzas.push_back(std::move(*stanza));
    }
    std::string header(age::k_intro);
    for (const auto& s : stanzas) {
        header += age::format_stanza(s);
    }
    header += "---";
    header += " " + age::base64_encode(age::header_mac(file_key, header)) + "\n";
    auto enc = std::make_unique<AgeEncryptor>(next, std::move(header), file_key);
    sodium_memzero(file_key.data(), file_key.size());
    return enc;
}

} // namespace dbkeep::stream
