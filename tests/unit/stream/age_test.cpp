#include "stream/age/age.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::stream;
using dbkeep::test::random_bytes;

namespace {

struct Keys {
    Secret identity;
    std::string recipient;
};

Keys new_keys(test::TempDir& dir, const std::string& name)
{
    auto r = write_new_identity(dir / name);
    EXPECT_TRUE(r);
    auto ids = read_identity_file(dir / name);
    EXPECT_TRUE(ids);
    return {ids->front(), *r};
}

Result<std::string> encrypt(const std::string& plain, const AgeRecipients& r)
{
    std::string out;
    auto sink = make_string_sink(out);
    auto enc = make_age_encryptor(*sink, r);
    if (!enc) {
        return std::unexpected(enc.error());
    }
    // Uneven writes exercise the chunk boundaries.
    std::size_t off = 0, step = 1;
    while (off < plain.size()) {
        std::size_t n = std::min(step, plain.size() - off);
        if (auto st = (*enc)->write(as_bytes(std::string_view(plain).substr(off, n))); !st) {
            return std::unexpected(st.error());
        }
        off += n;
        step = step * 3 + 7;
    }
    if (auto st = (*enc)->finish(); !st) {
        return std::unexpected(st.error());
    }
    return out;
}

Result<std::string> decrypt(const std::string& cipher, AgeIdentities ids)
{
    auto in = make_string_source(cipher);
    auto dec = make_age_decryptor(*in, std::move(ids));
    return read_all(*dec, 1 << 30);
}

} // namespace

TEST(Age, RoundTripsAtChunkBoundaries)
{
    test::TempDir dir;
    auto k = new_keys(dir, "k1");
    for (std::size_t size : {0ul, 1ul, 65535ul, 65536ul, 65537ul, 3ul * 65536 + 5, 1000000ul}) {
        auto plain = random_bytes(size, static_cast<unsigned>(size));
        auto c = encrypt(plain, {.x25519 = {k.recipient}});
        ASSERT_TRUE(c) << c.error().to_string();
        auto p = decrypt(*c, {.x25519 = {k.identity}});
        ASSERT_TRUE(p) << size << ": " << p.error().to_string();
        EXPECT_EQ(*p, plain) << size;
    }
}

TEST(Age, EveryRecipientCanDecryptAndAStrangerCannot)
{
    test::TempDir dir;
    auto online = new_keys(dir, "online"), offline = new_keys(dir, "offline"), stranger = new_keys(dir, "stranger");
    auto c = encrypt("backup bytes", {.x25519 = {online.recipient, offline.recipient}});
    ASSERT_TRUE(c);
    EXPECT_EQ(*decrypt(*c, {.x25519 = {online.identity}}), "backup bytes");
    EXPECT_EQ(*decrypt(*c, {.x25519 = {offline.identity}}), "backup bytes");
    auto no = decrypt(*c, {.x25519 = {stranger.identity}});
    ASSERT_FALSE(no);
    EXPECT_EQ(no.error().kind, ErrorKind::auth);
    EXPECT_NE(no.error().to_string().find("no identity matches"), std::string::npos);
    EXPECT_EQ(no.error().to_string().find(stranger.identity.reveal()), std::string::npos);
    EXPECT_NE(no.error().hint.find("pass the right --identity"), std::string::npos) << no.error().hint;
}

TEST(Age, PassphraseRoundTripAndWrongPassphrase)
{
    auto c = encrypt("secret dump", {.passphrase = Secret("correct horse"), .scrypt_work_factor = 10});
    ASSERT_TRUE(c);
    EXPECT_EQ(*decrypt(*c, {.passphrase = Secret("correct horse")}), "secret dump");
    auto wrong = decrypt(*c, {.passphrase = Secret("wrong")});
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().kind, ErrorKind::auth);
    // A passphrase file is opened by the target's passphrase, not by an identity: the hint says which.
    EXPECT_NE(wrong.error().hint.find("encryption passphrase"), std::string::npos) << wrong.error().to_string();
    test::TempDir dir;
    auto k = new_keys(dir, "k");
    auto with_key = decrypt(*c, {.x25519 = {k.identity}});
    ASSERT_FALSE(with_key);
    EXPECT_NE(with_key.error().hint.find("encryption passphrase"), std::string::npos) << with_key.error().to_string();
}

TEST(Age, TruncationAndBitFlipsAreDetected)
{
    test::TempDir dir;
    auto k = new_keys(dir, "k");
    auto plain = random_bytes(3 * 65536 + 100, 7);
    auto c = *encrypt(plain, {.x25519 = {k.recipient}});
    auto header_end = c.find("\n---");
    header_end = c.find('\n', header_end + 1) + 1;
    for (std::size_t cut : {std::size_t{10}, header_end, header_end + 16, header_end + 65536 + 16, c.size() - 1}) {
        auto r = decrypt(c.substr(0, cut), {.x25519 = {k.identity}});
        EXPECT_FALSE(r) << "truncated at " << cut;
    }
    // Cut exactly at a chunk boundary: the last remaining chunk was not sealed as final.
    auto at_boundary = decrypt(c.substr(0, header_end + 16 + 2 * (65536 + 16)), {.x25519 = {k.identity}});
    EXPECT_FALSE(at_boundary);
    for (std::size_t pos : {std::size_t{30}, header_end - 5, header_end + 3, header_end + 70000, c.size() - 3}) {
        auto flipped = c;
        flipped[pos] = static_cast<char>(flipped[pos] ^ 0x10);
        auto r = decrypt(flipped, {.x25519 = {k.identity}});
        ASSERT_FALSE(r) << "bit flip at " << pos;
        EXPECT_NE(r.error().kind, ErrorKind::failed);
    }
}

TEST(Age, RejectsBadRecipientsAndMixingPassphraseWithRecipients)
{
    EXPECT_FALSE(validate_recipient("age1notarecipient"));
    EXPECT_FALSE(validate_recipient("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8q")); // checksum
    EXPECT_TRUE(validate_recipient("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"));
    std::string out;
    auto sink = make_string_sink(out);
    EXPECT_FALSE(make_age_encryptor(*sink, {.x25519 = {"age1bad"}}));
    auto both = make_age_encryptor(*sink, {.x25519 = {"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"},
                                           .passphrase = Secret("x")});
    ASSERT_FALSE(both);
    EXPECT_EQ(both.error().kind, ErrorKind::config);
    EXPECT_EQ(both.error().hint, "use recipients only, or a passphrase only");
    EXPECT_FALSE(make_age_encryptor(*sink, {}));
}

TEST(Age, KeygenWritesA0600IdentityAndRefusesToOverwrite)
{
    test::TempDir dir;
    auto r = write_new_identity(dir / "key.txt");
    ASSERT_TRUE(r);
    EXPECT_EQ(std::filesystem::status(dir / "key.txt").permissions(),
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    auto again = write_new_identity(dir / "key.txt");
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message.find("refusing to overwrite"), std::string::npos);
    auto ids = read_identity_file(dir / "key.txt");
    ASSERT_TRUE(ids);
    EXPECT_EQ(*recipient_of(ids->front()), *r);
    if (test::have_program("age-keygen")) {
        auto y = test::run({"age-keygen", "-y", (dir / "key.txt").string()});
        EXPECT_EQ(y.out, *r + "\n") << "age-keygen derives the same recipient";
    }
}

TEST(Age, InteropsWithTheAgeTool)
{
    if (!test::have_program("age") || !test::have_program("age-keygen")) {
        GTEST_SKIP() << "age not installed (Debian age)";
    }
    test::TempDir dir;
    auto plain = random_bytes(200000, 3);
    test::write_file(dir / "plain", plain);
    // age encrypts, dbkeep decrypts.
    ASSERT_EQ(test::run({"age-keygen", "-o", (dir / "theirs.txt").string()}).exit_code, 0);
    auto theirs_recipient = test::run({"age-keygen", "-y", (dir / "theirs.txt").string()}).out;
    theirs_recipient.pop_back();
    ASSERT_EQ(
        test::run({"age", "-r", theirs_recipient, "-o", (dir / "by_age").string(), (dir / "plain").string()}).exit_code,
        0);
    auto theirs = read_identity_file(dir / "theirs.txt");
    ASSERT_TRUE(theirs);
    auto p = decrypt(test::read_file(dir / "by_age"), {.x25519 = *theirs});
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_EQ(*p, plain);
    // dbkeep encrypts, age decrypts.
    auto c = encrypt(plain, {.x25519 = {theirs_recipient}});
    test::write_file(dir / "by_dbkeep", *c);
    auto d = test::run({"age", "-d", "-i", (dir / "theirs.txt").string(), (dir / "by_dbkeep").string()});
    ASSERT_EQ(d.exit_code, 0) << d.err;
    EXPECT_EQ(d.out, plain);
}
