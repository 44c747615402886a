#include "core/human.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;

// `dbkeep show` padded its columns by bytes: "café" (5 bytes) and "日本" (6 bytes, 4 columns) misaligned.
TEST(DisplayWidth, CountsColumnsNotBytes)
{
    EXPECT_EQ(display_width(""), 0u);
    EXPECT_EQ(display_width("orders"), 6u);
    EXPECT_EQ(display_width("café"), 4u);         // é: 2 bytes, 1 column
    EXPECT_EQ(display_width("cafe\u0301"), 4u);   // e + combining acute: no column of its own
    EXPECT_EQ(display_width("日本"), 4u);         // CJK: 2 columns each
    EXPECT_EQ(display_width("한글"), 4u);         // Hangul syllables
    EXPECT_EQ(display_width("ｆｕｌｌ"), 8u);     // fullwidth forms
    EXPECT_EQ(display_width("Привет"), 6u);       // Cyrillic: 1 each
    EXPECT_EQ(display_width("x\U0001F600y"), 4u); // an emoji: 2
    EXPECT_EQ(display_width("\U00020000"), 2u);   // CJK extension B (4 bytes)
    EXPECT_EQ(display_width("a\\x01b"), 6u);      // printable's escape: plain ASCII
}

TEST(DisplayWidth, BytesThatAreNotUtf8AreOneColumnEach)
{
    EXPECT_EQ(display_width("\xff"), 1u);
    EXPECT_EQ(display_width("a\xc3"), 2u);            // a lead byte at the end
    EXPECT_EQ(display_width("\xc3(x"), 3u);           // a lead byte before a non-continuation
    EXPECT_EQ(display_width("\xc0\xaf"), 2u);         // overlong '/'
    EXPECT_EQ(display_width("\xed\xa0\x80"), 3u);     // a UTF-16 surrogate
    EXPECT_EQ(display_width("\xf4\x90\x80\x80"), 4u); // past U+10FFFF
}

TEST(DisplayWidth, PadToWidthPadsByColumns)
{
    EXPECT_EQ(pad_to_width("ab", 4), "ab  ");
    EXPECT_EQ(pad_to_width("café", 6), "café  ");
    EXPECT_EQ(pad_to_width("日本", 6), "日本  ");
    EXPECT_EQ(pad_to_width("日本", 3), "日本"); // wider already: as it is
}

TEST(Printable, ControlCharactersAreEscapedAndUtf8Kept)
{
    EXPECT_EQ(printable("a\nb\x7f"), "a\\x0ab\\x7f");
    EXPECT_EQ(printable("日本"), "日本");
}
