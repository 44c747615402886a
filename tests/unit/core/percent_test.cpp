#include "core/hex.hpp"
#include "core/percent.hpp"

#include <gtest/gtest.h>
#include <set>

using namespace dbkeep;

TEST(Percent, EncodesAllButTheUnreservedSetWithUppercaseHex)
{
    EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
    EXPECT_EQ(percent_encode("a b/c+d=é"), "a%20b%2Fc%2Bd%3D%C3%A9");
    EXPECT_EQ(percent_encode("a b/c", true), "a%20b/c");
    EXPECT_EQ(percent_encode(std::string("\0\xff", 2)), "%00%FF");
}

TEST(Percent, DecodesExactlyTwoHexDigitsAndPassesTheRestThrough)
{
    EXPECT_EQ(percent_decode("a%20b%2fc%2F"), "a b/c/");
    EXPECT_EQ(percent_decode("100%"), "100%");
    EXPECT_EQ(percent_decode("%4"), "%4");
    EXPECT_EQ(percent_decode("%zz%+1"), "%zz%+1");
    EXPECT_EQ(percent_decode("a+b"), "a+b");
    EXPECT_EQ(percent_decode(percent_encode("every byte \x01\x7f\xfe")), "every byte \x01\x7f\xfe");
}

TEST(Hex, EncodesLowercaseTwoCharactersAByte)
{
    const std::uint8_t bytes[] = {0x00, 0x0f, 0xa0, 0xff};
    EXPECT_EQ(to_hex(Bytes(bytes, sizeof bytes)), "000fa0ff");
    EXPECT_EQ(to_hex(Bytes{}), "");
}

TEST(Hex, RandomHexHasTheRequestedLengthAndVaries)
{
    std::set<std::string> seen;
    for (int i = 0; i < 20; ++i) {
        auto token = random_hex(8);
        EXPECT_EQ(token.size(), 16u);
        EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos);
        seen.insert(token);
    }
    EXPECT_EQ(seen.size(), 20u);
}
