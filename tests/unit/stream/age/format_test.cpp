// The age header's building blocks: strict unpadded base64 (libsodium) and bech32 keys.
#include "stream/age/bech32.hpp"
#include "stream/age/format.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::stream::age;

namespace {
std::vector<std::uint8_t> bytes_of(std::string_view s)
{
    return {s.begin(), s.end()};
}
} // namespace

TEST(AgeFormat, Base64EncodesWithoutPadding)
{
    EXPECT_EQ(base64_encode(as_bytes("")), "");
    EXPECT_EQ(base64_encode(as_bytes("f")), "Zg");
    EXPECT_EQ(base64_encode(as_bytes("fo")), "Zm8");
    EXPECT_EQ(base64_encode(as_bytes("foo")), "Zm9v");
    EXPECT_EQ(base64_encode(as_bytes("\xfb\xff")), "+/8");
}

TEST(AgeFormat, Base64DecodesCanonicalText)
{
    EXPECT_EQ(base64_decode(""), std::vector<std::uint8_t>{});
    EXPECT_EQ(base64_decode("Zg"), bytes_of("f"));
    EXPECT_EQ(base64_decode("Zm8"), bytes_of("fo"));
    EXPECT_EQ(base64_decode("Zm9vYmFy"), bytes_of("foobar"));
    EXPECT_EQ(base64_decode("+/8"), bytes_of("\xfb\xff"));
}

TEST(AgeFormat, Base64RejectsWhatTheSpecForbids)
{
    EXPECT_FALSE(base64_decode("Zg==")) << "padding";
    EXPECT_FALSE(base64_decode("Zh")) << "non-zero trailing bits";
    EXPECT_FALSE(base64_decode("Zm9")) << "non-zero trailing bits";
    EXPECT_FALSE(base64_decode("Zm9vY")) << "a length of 4n+1";
    EXPECT_FALSE(base64_decode("Zm9v\n")) << "a newline";
    EXPECT_FALSE(base64_decode("Zm 9v")) << "a space";
    EXPECT_FALSE(base64_decode("Zm9v_-")) << "the URL-safe alphabet";
    EXPECT_FALSE(base64_decode(std::string_view("Zm\0v", 4))) << "a NUL byte";
}

TEST(AgeFormat, StanzaBodiesWrapAt64ColumnsAndEndWithAShortLine)
{
    Stanza exact{{"X", "a"}, std::vector<std::uint8_t>(48, 0)}; // 64 base64 characters
    auto text = format_stanza(exact);
    EXPECT_EQ(text, "-> X a\n" + std::string(64, 'A') + "\n\n");
    auto parsed = parse_header(std::string(k_intro) + text + "--- " + base64_encode(Key{}) + "\n");
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    ASSERT_EQ(parsed->stanzas.size(), 1u);
    EXPECT_EQ(parsed->stanzas[0].args, (std::vector<std::string>{"X", "a"}));
    EXPECT_EQ(parsed->stanzas[0].body, exact.body);
}

TEST(AgeFormat, Bech32RoundTripsAndRejectsMixedCaseAndBadChecksums)
{
    Key key{};
    for (std::size_t i = 0; i < key.size(); ++i) {
        key[i] = static_cast<std::uint8_t>(i * 7);
    }
    auto text = bech32_encode("age", key);
    EXPECT_TRUE(text.starts_with("age1"));
    auto back = bech32_decode(text, "age");
    ASSERT_TRUE(back);
    EXPECT_TRUE(std::equal(back->begin(), back->end(), key.begin(), key.end()));

    std::string upper = text;
    for (auto& c : upper) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    EXPECT_TRUE(bech32_decode(upper, "age"));
    std::string mixed = text;
    mixed[5] = static_cast<char>(std::toupper(static_cast<unsigned char>(mixed[5])));
    if (mixed != text) {
        EXPECT_FALSE(bech32_decode(mixed, "age"));
    }
    std::string altered = text;
    altered[10] = altered[10] == 'q' ? 'p' : 'q';
    EXPECT_FALSE(bech32_decode(altered, "age"));
    EXPECT_FALSE(bech32_decode(text, "age-secret-key-"));
}
