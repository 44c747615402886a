#include "stream/age/decrypt.hpp"

#include "stream/age/format.hpp"
#include "stream/age/keys.hpp"

#include <algorithm>
#include <cstring>
#include <sodium.h>

namespace dbkeep::stream {
namespace {

using age::header_error;
using age::k_chunk;
using age::k_tag;

class AgeDecryptor final : public Source {
public:
    AgeDecryptor(Source& in, AgeIdentities ids) : m_in(in), m_ids(std::move(ids)) {}
    ~AgeDecryptor() override { sodium_memzero(m_key.data(), m_key.size()); }

    Result<std::size_t> read(MutableBytes out) override
    {
        if (!m_header_done) {
            if (auto st = read_header(); !st) {
                return std::unexpected(st.error());
            }
            m_header_done = true;
        }
        while (m_pt_pos == m_pt.size()) {
            if (m_finished) {
                return 0;
            }
            if (auto st = next_chunk(); !st) {
                return std::unexpected(st.error());
            }
        }
        std::size_t n = std::min(out.size(), m_pt.size() - m_pt_pos);
        std::memcpy(out.data(), m_pt.data() + m_pt_pos, n);
        m_pt_pos += n;
        return n;
    }

private:
    // Fills m_ct until it holds at least `want` bytes or the input ends.
    Status fill(std::size_t want)
    {
        std::uint8_t buf[64 * 1024];
        while (m_ct.size() < want && !m_eof) {
            auto n = m_in.read(MutableBytes(buf, std::min(sizeof buf, want - m_ct.size() + 1)));
            if (!n) {
                return std::unexpected(n.error());
            }
            if (*n == 0) {
                m_eof = true;
            }
            m_ct.insert(m_ct.end(), buf, buf + *n);
        }
        return {};
    }

    Status read_header()
    {
        if (auto st = age::init_sodium(); !st) {
            return st;
        }
        // Read until the "\n--- " line ends.
        std::size_t scan = 0;
        std::size_t end = std::string::npos;
        for (;;) {
            std::string_view v(reinterpret_cast<const char*>(m_ct.data()), m_ct.size());
            auto mac_line = v.find("\n---", scan);
            if (mac_line != std::string_view::npos) {
                auto nl = v.find('\n', mac_line + 1);
                if (nl != std::string_view::npos) {
                    end = nl + 1;
                    break;
                }
            }
            if (m_ct.size() > age::k_max_header) {
                return header_error("header too long or not an age file");
            }
            scan = m_ct.size() > 4 ? m_ct.size() - 4 : 0;
            std::size_t before = m_ct.size();
            if (auto st = fill(m_ct.size() + 4096); !st) {
                return st;
            }
            if (m_ct.size() == before) {
                return header_error(m_ct.empty() ? "empty input: not an age file" : "truncated header");
            }
        }
        std::string header(reinterpret_cast<const char*>(m_ct.data()), end);
        m_ct.erase(m_ct.begin(), m_ct.begin() + static_cast<std::ptrdiff_t>(end));
        return unwrap(header);
    }

    // Finds the file key in the header, checks the MAC, and derives the payload key.
    Status unwrap(const std::string& text)
    {
        auto header = age::parse_header(text);
        if (!header) {
            return std::unexpected(header.error());
        }
        if (auto st = age::check_stanzas(header->stanzas, m_ids.max_work_factor); !st) {
            return st;
        }
        age::FileKey file_key{};
        auto found = find_file_key(header->stanzas, file_key);
        if (!found) {
            return std::unexpected(found.error());
        }
        if (!*found) {
            // A passphrase file (one scrypt stanza) is opened by the target's passphrase, never by --identity.
            const bool by_passphrase = std::any_of(header->stanzas.begin(), header->stanzas.end(),
                                                   [](const age::Stanza& s) { return s.args[0] == "scrypt"; });
            return fail(ErrorKind::auth, "decrypt", "", "no identity matches this file's recipients",
                        by_passphrase ? "set the target's encryption passphrase to the one the backup was made with"
                                      : "pass the right --identity: the key of one of the backup's recipients");
        }
        age::Key expected = age::header_mac(file_key, std::string_view(text).substr(0, header->mac_input_size));
        if (sodium_memcmp(expected.data(), header->mac.data(), expected.size()) != 0) {
            sodium_memzero(file_key.data(), file_key.size());
            return header_error("header MAC mismatch: the header was altered");
        }
        // Payload nonce and key.
        if (auto st = fill(age::k_payload_nonce); !st) {
            return st;
        }
        if (m_ct.size() < age::k_payload_nonce) {
            sodium_memzero(file_key.data(), file_key.size());
            return fail(ErrorKind::corruption, "decrypt", "", "truncated: the payload nonce is missing");
        }
        m_key = age::hkdf(file_key, Bytes(m_ct.data(), age::k_payload_nonce), "payload");
        sodium_memzero(file_key.data(), file_key.size());
        m_ct.erase(m_ct.begin(), m_ct.begin() + age::k_payload_nonce);
        return {};
    }

    // Tries every identity on every stanza of its type, in file order; true once one opens.
    Result<bool> find_file_key(const std::vector<age::Stanza>& stanzas, age::FileKey& file_key)
    {
        for (const auto& s : stanzas) {
            if (s.args[0] == "X25519") {
                for (const auto& id : m_ids.x25519) {
                    auto opened = age::unwrap_x25519(s, id, file_key);
                    if (!opened || *opened) {
                        return opened;
                    }
                }
            } else if (s.args[0] == "scrypt" && !m_ids.passphrase.empty()) {
                auto opened = age::unwrap_scrypt(s, m_ids.passphrase, file_key);
                if (!opened || *opened) {
                    return opened;
                }
            }
        }
        return false;
    }

    Status next_chunk()
    {
        const std::size_t full = k_chunk + k_tag;
        if (auto st = fill(full + 1); !st) {
            return st;
        }
        bool last = m_ct.size() <= full; // a full chunk followed by more data is not the last
        std::size_t n = last ? m_ct.size() : full;
        if (n < k_tag) {
            return fail(ErrorKind::corruption, "decrypt", "",
                        m_counter == 0 && n == 0 ? "no payload chunks" : "truncated payload chunk");
        }
        if (last && n == k_tag && m_counter > 0) {
            return fail(ErrorKind::corruption, "decrypt", "", "empty final chunk");
        }
        m_pt.resize(n - k_tag);
        if (!age::aead_open(m_key, age::stream_nonce(m_counter, last), Bytes(m_ct.data(), n), m_pt.data())) {
            return fail(ErrorKind::corruption, "decrypt", "",
                        last ? "payload authentication failed: truncated or altered"
                             : "payload authentication failed: altered");
        }
        ++m_counter;
        m_pt_pos = 0;
        m_ct.erase(m_ct.begin(), m_ct.begin() + static_cast<std::ptrdiff_t>(n));
        m_finished = last;
        return {};
    }

    Source& m_in;
    AgeIdentities m_ids;
    std::vector<std::uint8_t> m_ct;
    std::vector<std::uint8_t> m_pt;
    std::size_t m_pt_pos = 0;
    bool m_eof = false;
    bool m_header_done = false;
    bool m_finished = false;
    std::uint64_t m_counter = 0;
    age::Key m_key{};
};

} // namespace

std::unique_ptr<Source> make_age_decryptor(Source& in, AgeIdentities identities)
{
    return std::make_unique<AgeDecryptor>(in, std::move(identities));
}

} // namespace dbkeep::stream
