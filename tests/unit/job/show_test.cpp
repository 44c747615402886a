#include "core/human.hpp"
#include "job/show.hpp"

#include <gtest/gtest.h>
#include <sstream>

using namespace dbkeep;

namespace {

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        out.push_back(line);
    }
    return out;
}

// The display column where `cell` begins in line (display_width of what precedes it).
std::size_t column_of(const std::string& line, const std::string& cell)
{
    const auto at = line.find(cell);
    EXPECT_NE(at, std::string::npos) << line << " lacks " << cell;
    return at == std::string::npos ? 0 : display_width(line.substr(0, at));
}

} // namespace

// Non-ASCII names (a table "café", a schema "日本") shifted the columns after them: padding counted bytes.
TEST(ShowListing, ColumnsAlignByDisplayWidth)
{
    engine::Contents c;
    c.columns = {"desc", "schema", "name", "owner"};
    c.entries = {{"TABLE", "public", "café", "alice"},
                 {"TABLE", "日本", "orders", "bob"},
                 {"TABLE DATA", "public", "plain", "carol"}};
    const auto lines = lines_of(job::listing_text(c));
    ASSERT_EQ(lines.size(), 4u) << job::listing_text(c);
    EXPECT_EQ(lines[0], "    DESC       SCHEMA NAME   OWNER");
    const std::size_t owner = column_of(lines[0], "OWNER");
    const std::size_t name = column_of(lines[0], "NAME");
    EXPECT_EQ(column_of(lines[1], "alice"), owner) << lines[1];
    EXPECT_EQ(column_of(lines[2], "bob"), owner) << lines[2];
    EXPECT_EQ(column_of(lines[3], "carol"), owner) << lines[3];
    EXPECT_EQ(column_of(lines[2], "orders"), name) << lines[2];
    EXPECT_EQ(column_of(lines[1], "café"), name) << lines[1];
    EXPECT_EQ(lines[1], "    TABLE      public café   alice");
    EXPECT_EQ(lines[2], "    TABLE      日本   orders bob");
}

TEST(ShowListing, ControlCharactersAreEscapedAndTheLastColumnIsNotPadded)
{
    engine::Contents c;
    c.columns = {"name", "note"};
    c.entries = {{"a\nb", "x"}, {"c", "long note"}};
    EXPECT_EQ(job::listing_text(c), "    NAME   NOTE\n"
                                    "    a\\x0ab x\n"
                                    "    c      long note\n");
    EXPECT_EQ(job::listing_text(engine::Contents{}), "");
}
