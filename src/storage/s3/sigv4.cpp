#include "storage/s3/sigv4.hpp"

#include "core/hex.hpp"
#include "core/percent.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace dbkeep::storage::sigv4 {
namespace {

std::string hmac(const std::string& key, const std::string& msg)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
         msg.size(), out, &len);
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string lower(std::string s)
{
    for (auto& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

// Trims and folds runs of whitespace (including folded line breaks) into single spaces.
std::string fold_value(const std::string& v)
{
    std::string out;
    bool space = false;
    for (char c : v) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            space = !out.empty();
            continue;
        }
        if (space) {
            out += ' ';
            space = false;
        }
        out += c;
    }
    return out;
}

std::string normalize(const std::string& path)
{
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i <= path.size()) {
        auto slash = path.find('/', i);
        std::string seg = path.substr(i, slash == std::string::npos ? std::string::npos : slash - i);
        if (seg == "..") {
            if (!parts.empty()) {
                parts.pop_back();
            }
        } else if (!seg.empty() && seg != ".") {
            parts.push_back(seg);
        }
        if (slash == std::string::npos) {
            break;
        }
        i = slash + 1;
    }
    std::string out;
    for (const auto& p : parts) {
        out += "/" + p;
    }
    bool trailing = !path.empty() && path.back() == '/' && !parts.empty();
    if (path.size() >= 2 && (path.ends_with("/.") || path.ends_with("/..")) && !parts.empty()) {
        trailing = true;
    }
    return out.empty() ? "/" : out + (trailing ? "/" : "");
}

std::string amz_date(std::chrono::system_clock::time_point t)
{
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

} // namespace

std::string uri_encode(const std::string& s, bool encode_slash)
{
    return percent_encode(s, !encode_slash);
}

std::string sha256_hex(std::string_view data)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
    return to_hex(Bytes(md, sizeof md));
}

Signed sign(const Request& req, const Credentials& cred, const Options& opt)
{
    Signed out;
    const std::string date_time = amz_date(opt.time);
    const std::string date = date_time.substr(0, 8);

    out.added_headers.emplace_back("X-Amz-Date", date_time);
    if (opt.add_content_sha256_header) {
        out.added_headers.emplace_back("X-Amz-Content-Sha256", req.payload_sha256);
    }
    if (!cred.session_token.empty()) {
        out.added_headers.emplace_back("X-Amz-Security-Token", cred.session_token);
    }

    // Canonical headers: lowercase names, folded values, duplicates joined with ',' in order, sorted by name.
    std::vector<std::pair<std::string, std::string>> headers;
    auto add = [&](const std::string& name, const std::string& value) {
        std::string n = lower(name);
        for (auto& h : headers) {
            if (h.first == n) {
                h.second += "," + fold_value(value);
                return;
            }
        }
        headers.emplace_back(n, fold_value(value));
    };
    for (const auto& [k, v] : req.headers) {
        add(k, v);
    }
    for (const auto& [k, v] : out.added_headers) {
        if (k == "X-Amz-Security-Token" && !opt.sign_session_token) {
            continue;
        }
        add(k, v);
    }
    std::sort(headers.begin(), headers.end());
    std::string canonical_headers, signed_headers;
    for (const auto& [k, v] : headers) {
        canonical_headers += k + ":" + v + "\n";
        signed_headers += (signed_headers.empty() ? "" : ";") + k;
    }

    // Canonical query: encoded names and values, sorted by name then value.
    std::vector<std::pair<std::string, std::string>> q;
    for (const auto& [k, v] : req.query) {
        q.emplace_back(uri_encode(k, true), uri_encode(v, true));
    }
    std::sort(q.begin(), q.end());
    std::string canonical_query;
    for (const auto& [k, v] : q) {
        canonical_query += (canonical_query.empty() ? "" : "&") + k + "=" + v;
    }

    std::string path = opt.normalize_path ? normalize(req.path) : req.path;
    if (path.empty()) {
        path = "/";
    }
    out.canonical_request = req.method + "\n" + uri_encode(path, false) + "\n" + canonical_query + "\n" +
                            canonical_headers + "\n" + signed_headers + "\n" + req.payload_sha256;
    const std::string scope = date + "/" + opt.region + "/" + opt.service + "/aws4_request";
    out.string_to_sign = "AWS4-HMAC-SHA256\n" + date_time + "\n" + scope + "\n" + sha256_hex(out.canonical_request);
    std::string k = hmac("AWS4" + cred.secret_access_key, date);
    k = hmac(k, opt.region);
    k = hmac(k, opt.service);
    k = hmac(k, "aws4_request");
    std::string sig = hmac(k, out.string_to_sign);
    out.signature = to_hex(as_bytes(sig));
    out.authorization = "AWS4-HMAC-SHA256 Credential=" + cred.access_key_id + "/" + scope +
                        ", SignedHeaders=" + signed_headers + ", Signature=" + out.signature;
    return out;
}

} // namespace dbkeep::storage::sigv4
