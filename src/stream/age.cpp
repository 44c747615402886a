#include "stream/age.hpp"

#include "catalog/naming.hpp"
#include "stream/stage.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sodium.h>
#include <unistd.h>

namespace dbkeep::stream {
namespace {

constexpr std::string_view k_intro = "age-encryption.org/v1\n";
constexpr std::size_t k_chunk = 64 * 1024;
constexpr std::size_t k_tag = 16;
constexpr std::size_t k_file_key = 16;
constexpr std::size_t k_max_header = 1 << 20;

using Key = std::array<std::uint8_t, 32>;

Status init_sodium()
{
    if (sodium_init() < 0) {
        return fail(ErrorKind::failed, "initialise libsodium", "", "sodium_init failed");
    }
    return {};
}

std::unexpected<Error> header_error(const std::string& what)
{
    return fail(ErrorKind::corruption, "read age header", "", what);
}

// ---- base64 (standard alphabet, no padding, canonical only) ----
constexpr char k_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string b64_encode(const std::uint8_t* data, std::size_t n)
{
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        std::uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        out += {k_b64[v >> 18], k_b64[(v >> 12) & 63], k_b64[(v >> 6) & 63], k_b64[v & 63]};
    }
    if (n - i == 1) {
        std::uint32_t v = data[i] << 16;
        out += {k_b64[v >> 18], k_b64[(v >> 12) & 63]};
    } else if (n - i == 2) {
        std::uint32_t v = (data[i] << 16) | (data[i + 1] << 8);
        out += {k_b64[v >> 18], k_b64[(v >> 12) & 63], k_b64[(v >> 6) & 63]};
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> b64_decode(std::string_view s)
{
    if (s.size() % 4 == 1) {
        return std::nullopt;
    }
    std::vector<std::uint8_t> out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : s) {
        const char* p = c ? std::strchr(k_b64, c) : nullptr;
        if (!p) {
            return std::nullopt;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(p - k_b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        return std::nullopt; // non-canonical: leftover bits must be zero
    }
    return out;
}

// ---- bech32 (BIP 173) ----
constexpr char k_bech32[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

std::uint32_t bech32_polymod(const std::vector<std::uint8_t>& values)
{
    constexpr std::uint32_t gen[] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    std::uint32_t chk = 1;
    for (auto v : values) {
        std::uint8_t top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (int i = 0; i < 5; ++i) {
            if ((top >> i) & 1) {
                chk ^= gen[i];
            }
        }
    }
    return chk;
}

std::vector<std::uint8_t> hrp_expand(const std::string& hrp)
{
    std::vector<std::uint8_t> v;
    for (char c : hrp) {
        v.push_back(static_cast<std::uint8_t>(c) >> 5);
    }
    v.push_back(0);
    for (char c : hrp) {
        v.push_back(static_cast<std::uint8_t>(c) & 31);
    }
    return v;
}

std::string bech32_encode(const std::string& hrp, const std::uint8_t* data, std::size_t n)
{
    std::vector<std::uint8_t> five;
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < n; ++i) {
        acc = (acc << 8) | data[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            five.push_back((acc >> bits) & 31);
        }
    }
    if (bits > 0) {
        five.push_back((acc << (5 - bits)) & 31);
    }
    auto values = hrp_expand(hrp);
    values.insert(values.end(), five.begin(), five.end());
    values.insert(values.end(), 6, 0);
    std::uint32_t mod = bech32_polymod(values) ^ 1;
    std::string out = hrp + "1";
    for (auto v : five) {
        out += k_bech32[v];
    }
    for (int i = 0; i < 6; ++i) {
        out += k_bech32[(mod >> (5 * (5 - i))) & 31];
    }
    return out;
}

// Decodes a bech32 string of the given (lowercase) hrp into bytes; case-insensitive but not mixed.
std::optional<std::vector<std::uint8_t>> bech32_decode(std::string s, const std::string& hrp)
{
    bool lower = false, upper = false;
    for (char& c : s) {
        lower |= (c >= 'a' && c <= 'z');
        upper |= (c >= 'A' && c <= 'Z');
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (lower && upper) {
        return std::nullopt;
    }
    auto sep = s.rfind('1');
    if (sep == std::string::npos || s.substr(0, sep) != hrp || s.size() - sep - 1 < 6) {
        return std::nullopt;
    }
    std::vector<std::uint8_t> five;
    for (std::size_t i = sep + 1; i < s.size(); ++i) {
        const char* p = std::strchr(k_bech32, s[i]);
        if (!p || !s[i]) {
            return std::nullopt;
        }
        five.push_back(static_cast<std::uint8_t>(p - k_bech32));
    }
    auto values = hrp_expand(hrp);
    values.insert(values.end(), five.begin(), five.end());
    if (bech32_polymod(values) != 1) {
        return std::nullopt;
    }
    five.resize(five.size() - 6);
    std::vector<std::uint8_t> out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (auto v : five) {
        acc = (acc << 5) | v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out.push_back((acc >> bits) & 0xff);
        }
    }
    if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0) {
        return std::nullopt;
    }
    return out;
}

// ---- primitives ----
Key hmac_sha256(const std::uint8_t* key, std::size_t key_len, const std::uint8_t* msg, std::size_t n)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, msg, n);
    Key out;
    crypto_auth_hmacsha256_final(&st, out.data());
    return out;
}

// HKDF-SHA-256 with a 32-byte output (one expand block).
Key hkdf(const std::uint8_t* ikm, std::size_t ikm_len, const std::uint8_t* salt, std::size_t salt_len,
         std::string_view info)
{
    std::uint8_t zeros[32] = {};
    Key prk = salt_len ? hmac_sha256(salt, salt_len, ikm, ikm_len) : hmac_sha256(zeros, 32, ikm, ikm_len);
    std::vector<std::uint8_t> m(info.begin(), info.end());
    m.push_back(1);
    Key out = hmac_sha256(prk.data(), prk.size(), m.data(), m.size());
    sodium_memzero(prk.data(), prk.size());
    return out;
}

std::vector<std::uint8_t> aead_seal(const Key& key, const std::uint8_t nonce[12], const std::uint8_t* pt, std::size_t n)
{
    std::vector<std::uint8_t> ct(n + k_tag);
    unsigned long long len = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(ct.data(), &len, pt, n, nullptr, 0, nullptr, nonce, key.data());
    return ct;
}

bool aead_open(const Key& key, const std::uint8_t nonce[12], const std::uint8_t* ct, std::size_t n, std::uint8_t* pt)
{
    if (n < k_tag) {
        return false;
    }
    unsigned long long len = 0;
    return crypto_aead_chacha20poly1305_ietf_decrypt(pt, &len, nullptr, ct, n, nullptr, 0, nonce, key.data()) == 0;
}

void stream_nonce(std::uint64_t counter, bool last, std::uint8_t out[12])
{
    std::memset(out, 0, 12);
    for (int i = 0; i < 8; ++i) {
        out[10 - i] = static_cast<std::uint8_t>(counter >> (8 * i));
    }
    out[11] = last ? 1 : 0;
}

Result<Key> scrypt_key(const Secret& passphrase, const std::vector<std::uint8_t>& salt, int log_n)
{
    std::string label = "age-encryption.org/v1/scrypt";
    std::vector<std::uint8_t> full(label.begin(), label.end());
    full.insert(full.end(), salt.begin(), salt.end());
    Key key;
    const auto& pw = passphrase.reveal();
    if (crypto_pwhash_scryptsalsa208sha256_ll(reinterpret_cast<const std::uint8_t*>(pw.data()), pw.size(), full.data(),
                                              full.size(), 1ull << log_n, 8, 1, key.data(), key.size()) != 0) {
        return fail(ErrorKind::failed, "derive passphrase key", "", "scrypt failed (out of memory?)");
    }
    return key;
}

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

Result<Key> decode_recipient(const std::string& r)
{
    auto bytes = bech32_decode(r, "age");
    if (!bytes || bytes->size() != 32 || r.rfind("age1", 0) != 0) {
        return fail(ErrorKind::config, "read age recipient", r, "not a valid age1... X25519 recipient");
    }
    Key k;
    std::copy(bytes->begin(), bytes->end(), k.begin());
    return k;
}

struct Stanza {
    std::vector<std::string> args; // args[0] is the type
    std::vector<std::uint8_t> body;
};

std::string format_stanza(const Stanza& s)
{
    std::string out = "->";
    for (const auto& a : s.args) {
        out += " " + a;
    }
    out += "\n";
    std::string b = b64_encode(s.body.data(), s.body.size());
    for (std::size_t i = 0; i <= b.size(); i += 64) {
        out += b.substr(i, 64) + "\n";
        if (b.size() - i < 64) {
            break;
        }
    }
    return out;
}

// ---- encryption ----
class AgeEncryptor final : public Stage {
public:
    AgeEncryptor(Sink& next, std::string header, const std::array<std::uint8_t, k_file_key>& file_key)
        : Stage(next, "encrypt")
    {
        std::uint8_t nonce[16];
        randombytes_buf(nonce, sizeof nonce);
        m_prefix = std::move(header);
        m_prefix.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
        m_key = hkdf(file_key.data(), file_key.size(), nonce, sizeof nonce, "payload");
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
        std::uint8_t nonce[12];
        stream_nonce(m_counter++, last, nonce);
        auto ct = aead_seal(m_key, nonce, m_buf.data(), m_buf.size());
        m_buf.clear();
        return next().write(Bytes(ct.data(), ct.size()));
    }

    std::string m_prefix; // header + nonce, written before the first chunk
    Key m_key;
    std::vector<std::uint8_t> m_buf;
    std::uint64_t m_counter = 0;
};

// ---- decryption ----
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
        if (auto st = init_sodium(); !st) {
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
            if (m_ct.size() > k_max_header) {
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
        return parse_and_unwrap(header);
    }

    Status parse_and_unwrap(const std::string& header)
    {
        if (header.rfind(k_intro, 0) != 0) {
            return header_error("not an age v1 file (unsupported version or format)");
        }
        std::vector<std::string> lines;
        std::size_t pos = k_intro.size();
        while (pos < header.size()) {
            auto nl = header.find('\n', pos);
            lines.push_back(header.substr(pos, nl - pos));
            pos = nl + 1;
        }
        std::vector<Stanza> stanzas;
        std::size_t i = 0;
        for (; i < lines.size() && lines[i].rfind("->", 0) == 0; ++i) {
            const auto& l = lines[i];
            if (l.size() < 3 || l[2] != ' ') {
                return header_error("malformed stanza line");
            }
            Stanza s;
            std::size_t a = 3;
            while (a <= l.size()) {
                auto sp = l.find(' ', a);
                std::string arg = l.substr(a, sp == std::string::npos ? std::string::npos : sp - a);
                if (arg.empty()) {
                    return header_error("empty stanza argument");
                }
                for (char c : arg) {
                    if (c < 0x21 || c > 0x7e) {
                        return header_error("invalid character in a stanza argument");
                    }
                }
                s.args.push_back(arg);
                if (sp == std::string::npos) {
                    break;
                }
                a = sp + 1;
            }
            // Body: full 64-column lines, then one shorter (possibly empty) line.
            std::string body;
            for (++i;; ++i) {
                if (i >= lines.size()) {
                    return header_error("stanza body missing its final line");
                }
                const auto& b = lines[i];
                if (b.size() > 64 || b.rfind("---", 0) == 0 || b.rfind("->", 0) == 0) {
                    return header_error("malformed stanza body");
                }
                body += b;
                if (b.size() < 64) {
                    break;
                }
            }
            auto decoded = b64_decode(body);
            if (!decoded) {
                return header_error("stanza body is not canonical base64");
            }
            s.body = std::move(*decoded);
            stanzas.push_back(std::move(s));
        }
        if (i + 1 != lines.size() || lines[i].rfind("--- ", 0) != 0) {
            return header_error("malformed header end");
        }
        auto mac = b64_decode(std::string_view(lines[i]).substr(4));
        if (!mac || mac->size() != 32 || lines[i].size() != 4 + 43) {
            return header_error("malformed header MAC");
        }
        if (stanzas.empty()) {
            return header_error("no recipient stanzas");
        }

        // Validate every known stanza, then try the identities.
        bool has_scrypt = false;
        for (const auto& s : stanzas) {
            if (s.args[0] == "X25519") {
                if (s.args.size() != 2) {
                    return header_error("X25519 stanza needs exactly one argument");
                }
                auto share = b64_decode(s.args[1]);
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
                auto salt = b64_decode(s.args[1]);
                if (!salt || salt->size() != 16) {
                    return header_error("malformed scrypt salt");
                }
                const auto& wf = s.args[2];
                if (wf.empty() || wf.size() > 2 || wf[0] == '0' ||
                    !std::all_of(wf.begin(), wf.end(), [](char c) { return c >= '0' && c <= '9'; })) {
                    return header_error("malformed scrypt work factor");
                }
                if (std::stoi(wf) > m_ids.max_work_factor) {
                    return header_error("scrypt work factor " + wf + " is above the limit " +
                                        std::to_string(m_ids.max_work_factor));
                }
                if (s.body.size() != k_file_key + k_tag) {
                    return header_error("scrypt stanza body has the wrong size");
                }
            }
        }
        std::array<std::uint8_t, k_file_key> file_key{};
        bool found = false;
        std::uint8_t zero_nonce[12] = {};
        for (const auto& s : stanzas) {
            if (found) {
                break;
            }
            if (s.args[0] == "X25519") {
                auto share = *b64_decode(s.args[1]);
                for (const auto& id : m_ids.x25519) {
                    auto secret = decode_identity(id);
                    if (!secret) {
                        return std::unexpected(secret.error());
                    }
                    Key pub, shared;
                    crypto_scalarmult_base(pub.data(), secret->data());
                    if (crypto_scalarmult(shared.data(), secret->data(), share.data()) != 0) {
                        sodium_memzero(secret->data(), secret->size());
                        return header_error("X25519 share is a low-order point");
                    }
                    sodium_memzero(secret->data(), secret->size());
                    std::uint8_t salt[64];
                    std::memcpy(salt, share.data(), 32);
                    std::memcpy(salt + 32, pub.data(), 32);
                    Key wrap = hkdf(shared.data(), 32, salt, 64, "age-encryption.org/v1/X25519");
                    found = aead_open(wrap, zero_nonce, s.body.data(), s.body.size(), file_key.data());
                    sodium_memzero(wrap.data(), wrap.size());
                    if (found) {
                        break;
                    }
                }
            } else if (s.args[0] == "scrypt" && !m_ids.passphrase.empty()) {
                auto key = scrypt_key(m_ids.passphrase, *b64_decode(s.args[1]), std::stoi(s.args[2]));
                if (!key) {
                    return std::unexpected(key.error());
                }
                found = aead_open(*key, zero_nonce, s.body.data(), s.body.size(), file_key.data());
                sodium_memzero(key->data(), key->size());
            }
        }
        if (!found) {
            return fail(ErrorKind::auth, "decrypt", "", "no identity matches this file's recipients",
                        "pass the right --identity (or passphrase)");
        }
        // Header MAC over everything up to and including "---".
        Key mac_key = hkdf(file_key.data(), file_key.size(), nullptr, 0, "header");
        auto mac_end = header.rfind("\n---") + 4;
        Key expected =
            hmac_sha256(mac_key.data(), mac_key.size(), reinterpret_cast<const std::uint8_t*>(header.data()), mac_end);
        if (sodium_memcmp(expected.data(), mac->data(), 32) != 0) {
            return header_error("header MAC mismatch: the header was altered");
        }
        // Payload nonce and key.
        if (auto st = fill(16); !st) {
            return st;
        }
        if (m_ct.size() < 16) {
            return fail(ErrorKind::corruption, "decrypt", "", "truncated: the payload nonce is missing");
        }
        m_key = hkdf(file_key.data(), file_key.size(), m_ct.data(), 16, "payload");
        sodium_memzero(file_key.data(), file_key.size());
        m_ct.erase(m_ct.begin(), m_ct.begin() + 16);
        return {};
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
        std::uint8_t nonce[12];
        stream_nonce(m_counter, last, nonce);
        m_pt.resize(n - k_tag);
        if (!aead_open(m_key, nonce, m_ct.data(), n, m_pt.data())) {
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
    Key m_key{};
};

} // namespace

Result<std::unique_ptr<Sink>> make_age_encryptor(Sink& next, const AgeRecipients& recipients)
{
    if (auto st = init_sodium(); !st) {
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
    std::array<std::uint8_t, k_file_key> file_key;
    randombytes_buf(file_key.data(), file_key.size());
    std::uint8_t zero_nonce[12] = {};
    std::string header(k_intro);
    for (const auto& r : recipients.x25519) {
        auto pub = decode_recipient(r);
        if (!pub) {
            return std::unexpected(pub.error());
        }
        Key eph, share, shared;
        randombytes_buf(eph.data(), eph.size());
        crypto_scalarmult_base(share.data(), eph.data());
        if (crypto_scalarmult(shared.data(), eph.data(), pub->data()) != 0) {
            return fail(ErrorKind::config, "set up encryption", r, "recipient is a low-order point");
        }
        sodium_memzero(eph.data(), eph.size());
        std::uint8_t salt[64];
        std::memcpy(salt, share.data(), 32);
        std::memcpy(salt + 32, pub->data(), 32);
        Key wrap = hkdf(shared.data(), 32, salt, 64, "age-encryption.org/v1/X25519");
        header += format_stanza(
            {{"X25519", b64_encode(share.data(), 32)}, aead_seal(wrap, zero_nonce, file_key.data(), file_key.size())});
    }
    if (!recipients.passphrase.empty()) {
        std::vector<std::uint8_t> salt(16);
        randombytes_buf(salt.data(), salt.size());
        auto key = scrypt_key(recipients.passphrase, salt, recipients.scrypt_work_factor);
        if (!key) {
            return std::unexpected(key.error());
        }
        header += format_stanza(
            {{"scrypt", b64_encode(salt.data(), salt.size()), std::to_string(recipients.scrypt_work_factor)},
             aead_seal(*key, zero_nonce, file_key.data(), file_key.size())});
    }
    header += "---";
    Key mac_key = hkdf(file_key.data(), file_key.size(), nullptr, 0, "header");
    Key mac = hmac_sha256(mac_key.data(), mac_key.size(), reinterpret_cast<const std::uint8_t*>(header.data()),
                          header.size());
    header += " " + b64_encode(mac.data(), mac.size()) + "\n";
    auto enc = std::make_unique<AgeEncryptor>(next, std::move(header), file_key);
    sodium_memzero(file_key.data(), file_key.size());
    return enc;
}

std::unique_ptr<Source> make_age_decryptor(Source& in, AgeIdentities identities)
{
    return std::make_unique<AgeDecryptor>(in, std::move(identities));
}

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
        if (!decode_identity(s)) {
            return fail(ErrorKind::config, "read identity file", path.string(),
                        "line " + std::to_string(n) + " is not an AGE-SECRET-KEY-1... identity");
        }
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
        if (!decode_recipient(line)) {
            return fail(ErrorKind::config, "read recipients file", path.string(),
                        "line " + std::to_string(n) + " is not an age1... recipient");
        }
        out.push_back(std::move(line));
    }
    return out;
}

Result<std::string> recipient_of(const Secret& identity)
{
    if (auto st = init_sodium(); !st) {
        return std::unexpected(st.error());
    }
    auto secret = decode_identity(identity);
    if (!secret) {
        return std::unexpected(secret.error());
    }
    Key pub;
    crypto_scalarmult_base(pub.data(), secret->data());
    sodium_memzero(secret->data(), secret->size());
    return bech32_encode("age", pub.data(), pub.size());
}

Status validate_recipient(const std::string& recipient)
{
    auto r = decode_recipient(recipient);
    if (!r) {
        return std::unexpected(r.error());
    }
    return {};
}

Result<std::string> write_new_identity(const std::filesystem::path& path)
{
    if (auto st = init_sodium(); !st) {
        return std::unexpected(st.error());
    }
    Key secret;
    randombytes_buf(secret.data(), secret.size());
    std::string encoded = bech32_encode("age-secret-key-", secret.data(), secret.size());
    sodium_memzero(secret.data(), secret.size());
    for (auto& c : encoded) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    Secret identity(encoded);
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
    std::string text = "# created: " + catalog::format_time(std::chrono::system_clock::now()) +
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
