// The C2SP/CCTV age test vectors (tests/vectors/data/age): every vector that uses only X25519 and scrypt and
// is not armored must decrypt to its payload hash when it expects success, and be rejected otherwise.
#include "stream/age/age.hpp"
#include "stream/sha256.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <zlib.h>

using namespace dbkeep;
namespace fs = std::filesystem;

namespace {

struct Vector {
    std::string name;
    std::string expect, payload_sha256, passphrase;
    std::vector<std::string> identities;
    bool armored = false, compressed = false, unsupported = false;
    std::string body;
};

fs::path vectors_dir()
{
    return fs::path(DBKEEP_VECTORS_DIR) / "age";
}

std::string inflate_all(const std::string& in)
{
    z_stream z{};
    inflateInit(&z);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    std::string out;
    char buf[65536];
    int rc = Z_OK;
    while (rc == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_NO_FLUSH);
        out.append(buf, sizeof buf - z.avail_out);
    }
    inflateEnd(&z);
    return out;
}

Vector load(const fs::path& path)
{
    Vector v;
    v.name = path.filename().string();
    std::string text = test::read_file(path);
    auto blank = text.find("\n\n");
    std::string head = text.substr(0, blank + 1);
    v.body = text.substr(blank + 2);
    std::size_t pos = 0;
    while (pos < head.size()) {
        auto nl = head.find('\n', pos);
        std::string line = head.substr(pos, nl - pos);
        pos = nl + 1;
        auto colon = line.find(": ");
        std::string key = line.substr(0, colon), value = line.substr(colon + 2);
        if (key == "expect") {
            v.expect = value;
        } else if (key == "payload") {
            v.payload_sha256 = value;
        } else if (key == "identity") {
            if (value.rfind("AGE-SECRET-KEY-1", 0) == 0) {
                v.identities.push_back(value);
            } else {
                v.unsupported = true; // post-quantum hybrid identities
            }
        } else if (key == "passphrase") {
            v.passphrase = value;
        } else if (key == "armored") {
            v.armored = value == "yes";
        } else if (key == "compressed") {
            v.compressed = true;
        }
    }
    if (v.compressed) {
        v.body = inflate_all(v.body);
    }
    return v;
}

std::vector<std::string> vector_names()
{
    std::vector<std::string> names;
    std::error_code ec;
    if (!fs::is_directory(vectors_dir(), ec)) {
        return {"(vectors folder absent)"};
    }
    for (const auto& e : fs::directory_iterator(vectors_dir())) {
        auto n = e.path().filename().string();
        // Armored files and post-quantum hybrid recipients are outside what dbkeep writes or reads.
        if (n != "LICENSE" && n.rfind("armor", 0) != 0 && n.rfind("hybrid", 0) != 0) {
            names.push_back(n);
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

} // namespace

class AgeVector : public ::testing::TestWithParam<std::string> {};

TEST_P(AgeVector, DecryptsOrIsRejectedAsPublished)
{
    if (!fs::is_directory(vectors_dir())) {
        // The vectors are part of the repository: without them no known-answer test runs, so that is a failure.
        FAIL() << "age vectors not found at " << vectors_dir() << " (tests/vectors/data/age in the repository)";
    }
    auto v = load(vectors_dir() / GetParam());
    if (v.armored || v.unsupported || v.name.rfind("hybrid", 0) == 0) {
        GTEST_SKIP() << v.name << ": armor / post-quantum hybrid recipients are not supported by design";
    }
    stream::AgeIdentities ids;
    for (const auto& i : v.identities) {
        ids.x25519.emplace_back(i);
    }
    ids.passphrase = Secret(v.passphrase);
    auto in = stream::make_string_source(v.body);
    auto dec = stream::make_age_decryptor(*in, ids);
    auto plain = stream::read_all(*dec, 64 << 20);
    if (v.expect == "success") {
        ASSERT_TRUE(plain) << v.name << ": " << plain.error().to_string();
        EXPECT_EQ(stream::sha256_hex(as_bytes(*plain)), v.payload_sha256) << v.name;
    } else {
        EXPECT_FALSE(plain) << v.name << " should fail with: " << v.expect;
        if (!plain && v.expect == "no match") {
            EXPECT_EQ(plain.error().kind, ErrorKind::auth) << v.name << ": " << plain.error().to_string();
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Published, AgeVector, ::testing::ValuesIn(vector_names()), [](const auto& param_info) {
    std::string n = param_info.param;
    for (auto& c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c))) {
            c = '_';
        }
    }
    return n;
});
