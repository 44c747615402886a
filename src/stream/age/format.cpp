#include "stream/age/format.hpp"

#include <algorithm>
#include <sodium.h>

namespace dbkeep::stream::age {

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

namespace {
constexpr int k_base64_variant = sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
} // namespace

std::string base64_encode(Bytes data)
{
    std::string out(sodium_base64_ENCODED_LEN(data.size(), k_base64_variant), '\0');
    sodium_bin2base64(out.data(), out.size(), data.data(), data.size(), k_base64_variant);
    out.resize(out.size() - 1); // the terminating NUL
    return out;
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text)
{
    // Without an ignore set or an end pointer, libsodium fails on any byte outside the alphabet, on
    // padding, and on leftover bits that are not zero (a non-canonical last character).
    std::vector<std::uint8_t> out(text.size() / 4 * 3 + 3);
    std::size_t len = 0;
    if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, nullptr, k_base64_variant) !=
        0) {
        return std::nullopt;
    }
    out.resize(len);
    return out;
}

Key hmac_sha256(Bytes key, Bytes message)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key.data(), key.size());
    crypto_auth_hmacsha256_update(&st, message.data(), message.size());
    Key out;
    crypto_auth_hmacsha256_final(&st, out.data());
    sodium_memzero(&st, sizeof st);
    return out;
}

Key hkdf(Bytes ikm, Bytes salt, std::string_view info)
{
    const std::uint8_t zeros[32] = {};
    Key prk = hmac_sha256(salt.empty() ? Bytes(zeros, sizeof zeros) : salt, ikm);
    std::vector<std::uint8_t> m(info.begin(), info.end());
    m.push_back(1);
    Key out = hmac_sha256(prk, m);
    sodium_memzero(prk.data(), prk.size());
    return out;
}

std::vector<std::uint8_t> aead_seal(const Key& key, const Nonce& nonce, Bytes plaintext)
{
    std::vector<std::uint8_t> ct(plaintext.size() + k_tag);
    unsigned long long len = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(ct.data(), &len, plaintext.data(), plaintext.size(), nullptr, 0, nullptr,
                                              nonce.data(), key.data());
    return ct;
}

bool aead_open(const Key& key, const Nonce& nonce, Bytes ciphertext, std::uint8_t* plaintext)
{
    if (ciphertext.size() < k_tag) {
        return false;
    }
    unsigned long long len = 0;
    return crypto_aead_chacha20poly1305_ietf_decrypt(plaintext, &len, nullptr, ciphertext.data(), ciphertext.size(),
                                                     nullptr, 0, nonce.data(), key.data()) == 0;
}

Nonce stream_nonce(std::uint64_t counter, bool last)
{
    Nonce out{};
    for (int i = 0; i < 8; ++i) {
        out[10 - i] = static_cast<std::uint8_t>(counter >> (8 * i));
    }
    out[11] = last ? 1 : 0;
    return out;
}

Key header_mac(const FileKey& file_key, std::string_view header_through_dashes)
{
    Key mac_key = hkdf(file_key, {}, "header");
    Key mac = hmac_sha256(mac_key, as_bytes(header_through_dashes));
    sodium_memzero(mac_key.data(), mac_key.size());
    return mac;
}

std::string format_stanza(const Stanza& stanza)
{
    std::string out = "->";
    for (const auto& a : stanza.args) {
        out += " " + a;
    }
    out += "\n";
    std::string b = base64_encode(stanza.body);
    for (std::size_t i = 0; i <= b.size(); i += 64) {
        out += b.substr(i, 64) + "\n";
        if (b.size() - i < 64) {
            break;
        }
    }
    return out;
}

namespace {

// "-> type args...": arguments are non-empty runs of visible ASCII separated by single spaces.
Result<std::vector<std::string>> parse_stanza_args(const std::string& line)
{
    if (line.size() < 3 || line[2] != ' ') {
        return header_error("malformed stanza line");
    }
    std::vector<std::string> args;
    std::size_t a = 3;
    while (a <= line.size()) {
        auto sp = line.find(' ', a);
        std::string arg = line.substr(a, sp == std::string::npos ? std::string::npos : sp - a);
        if (arg.empty()) {
            return header_error("empty stanza argument");
        }
        if (!std::all_of(arg.begin(), arg.end(), [](char c) { return c >= 0x21 && c <= 0x7e; })) {
            return header_error("invalid character in a stanza argument");
        }
        args.push_back(arg);
        if (sp == std::string::npos) {
            break;
        }
        a = sp + 1;
    }
    return args;
}

} // namespace

Result<Header> parse_header(std::string_view text)
{
    if (!text.starts_with(k_intro)) {
        return header_error("not an age v1 file (unsupported version or format)");
    }
    std::vector<std::string> lines;
    std::size_t pos = k_intro.size();
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        lines.emplace_back(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
        if (nl == std::string_view::npos) {
            break;
        }
        pos = nl + 1;
    }
    Header header;
    std::size_t i = 0;
    for (; i < lines.size() && lines[i].starts_with("->"); ++i) {
        auto args = parse_stanza_args(lines[i]);
        if (!args) {
            return std::unexpected(args.error());
        }
        // Body: full 64-column lines, then one shorter (possibly empty) line.
        std::string body;
        for (++i;; ++i) {
            if (i >= lines.size()) {
                return header_error("stanza body missing its final line");
            }
            const auto& b = lines[i];
            if (b.size() > 64 || b.starts_with("---") || b.starts_with("->")) {
                return header_error("malformed stanza body");
            }
            body += b;
            if (b.size() < 64) {
                break;
            }
        }
        auto decoded = base64_decode(body);
        if (!decoded) {
            return header_error("stanza body is not canonical base64");
        }
        header.stanzas.push_back({std::move(*args), std::move(*decoded)});
    }
    if (i + 1 != lines.size() || !lines[i].starts_with("--- ")) {
        return header_error("malformed header end");
    }
    auto mac = base64_decode(std::string_view(lines[i]).substr(4));
    if (!mac || mac->size() != header.mac.size() || lines[i].size() != 4 + 43) {
        return header_error("malformed header MAC");
    }
    if (header.stanzas.empty()) {
        return header_error("no recipient stanzas");
    }
    std::copy(mac->begin(), mac->end(), header.mac.begin());
    header.mac_input_size = text.rfind("\n---") + 4;
    return header;
}

} // namespace dbkeep::stream::age
