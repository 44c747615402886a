// The AWS SigV4 test suite (tests/vectors/data/sigv4): for every case, the canonical request, the string to
// sign and the signature must equal the published ones.
#include "catalog/naming.hpp"
#include "core/time.hpp"
#include "core/url.hpp"
#include "storage/s3/sigv4.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep;
using namespace dbkeep::storage;
namespace fs = std::filesystem;

namespace {

fs::path suite()
{
    return fs::path(DBKEEP_VECTORS_DIR) / "sigv4";
}

std::string percent_decode(const std::string& s)
{
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string trim_newline(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
        s.pop_back();
    }
    return s;
}

// Parses request.txt: request line, headers with folded continuation lines, blank line, body.
sigv4::Request parse_request(const std::string& text, std::string& body)
{
    sigv4::Request r;
    std::size_t pos = text.find('\n');
    std::string line = text.substr(0, pos);
    auto sp1 = line.find(' ');
    auto sp2 = line.rfind(' ');
    r.method = line.substr(0, sp1);
    std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto q = target.find('?');
    r.path = percent_decode(target.substr(0, q));
    if (q != std::string::npos) {
        std::string query = target.substr(q + 1);
        std::size_t start = 0;
        while (start <= query.size()) {
            auto amp = query.find('&', start);
            std::string kv = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
            auto eq = kv.find('=');
            r.query.emplace_back(percent_decode(kv.substr(0, eq)),
                                 eq == std::string::npos ? "" : percent_decode(kv.substr(eq + 1)));
            if (amp == std::string::npos) {
                break;
            }
            start = amp + 1;
        }
    }
    pos = pos == std::string::npos ? text.size() : pos + 1;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        std::string h = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        if (h.empty()) {
            body = text.substr(pos);
            break;
        }
        if ((h[0] == ' ' || h[0] == '\t') && !r.headers.empty()) {
            r.headers.back().second += " " + h;
            continue;
        }
        auto colon = h.find(':');
        r.headers.emplace_back(h.substr(0, colon), h.substr(colon + 1));
    }
    return r;
}

std::vector<std::string> cases()
{
    std::vector<std::string> out;
    std::error_code ec;
    if (!fs::is_directory(suite(), ec)) {
        return {"(vectors folder absent)"};
    }
    for (const auto& e : fs::directory_iterator(suite())) {
        if (e.is_directory()) {
            out.push_back(e.path().filename().string());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

class SigV4Vector : public ::testing::TestWithParam<std::string> {};

TEST_P(SigV4Vector, MatchesCanonicalRequestStringToSignAndSignature)
{
    if (!fs::is_directory(suite())) {
        // The vectors are part of the repository: without them no known-answer test runs, so that is a failure.
        FAIL() << "SigV4 vectors not found at " << suite() << " (tests/vectors/data/sigv4 in the repository)";
    }
    auto dir = suite() / GetParam();
    auto ctx = nlohmann::json::parse(test::read_file(dir / "context.json"));
    std::string body;
    auto req = parse_request(test::read_file(dir / "request.txt"), body);
    req.payload_sha256 = sigv4::sha256_hex(body);
    sigv4::Credentials cred{ctx["credentials"]["access_key_id"], ctx["credentials"]["secret_access_key"],
                            ctx["credentials"].value("token", "")};
    sigv4::Options opt;
    opt.region = ctx["region"];
    opt.service = ctx["service"];
    opt.time = *parse_rfc3339(ctx["timestamp"].get<std::string>());
    opt.normalize_path = ctx.value("normalize", true);
    opt.sign_session_token = !ctx.value("omit_session_token", false);
    opt.add_content_sha256_header = ctx.value("sign_body", false);
    auto s = sigv4::sign(req, cred, opt);
    EXPECT_EQ(s.canonical_request, trim_newline(test::read_file(dir / "header-canonical-request.txt"))) << GetParam();
    EXPECT_EQ(s.string_to_sign, trim_newline(test::read_file(dir / "header-string-to-sign.txt"))) << GetParam();
    EXPECT_EQ(s.signature, trim_newline(test::read_file(dir / "header-signature.txt"))) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(AwsSuite, SigV4Vector, ::testing::ValuesIn(cases()), [](const auto& param_info) {
    std::string n = param_info.param;
    for (auto& c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c))) {
            c = '_';
        }
    }
    return n;
});
