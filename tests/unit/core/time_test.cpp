#include "core/time.hpp"

#include <chrono>
#include <gtest/gtest.h>

using namespace dbkeep;
using namespace std::chrono;

namespace {

TimePoint utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0, int ms = 0)
{
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s} + milliseconds{ms};
}

} // namespace

TEST(Rfc3339, FormatTimeIsRfc3339UtcWithMilliseconds)
{
    EXPECT_EQ(format_rfc3339(utc(1970, 1, 1)), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(format_rfc3339(utc(2026, 11, 25, 0, 0, 0, 123)), "2026-11-25T00:00:00.123Z");
    EXPECT_EQ(format_rfc3339(utc(2024, 2, 29, 23, 59, 59, 7)), "2024-02-29T23:59:59.007Z");
    // Before the epoch, milliseconds still count forward within the second.
    EXPECT_EQ(format_rfc3339(utc(1970, 1, 1) - milliseconds(1)), "1969-12-31T23:59:59.999Z");
    // Sub-millisecond precision is truncated.
    EXPECT_EQ(format_rfc3339(utc(2026, 1, 1) + microseconds(1999)), "2026-01-01T00:00:00.001Z");
}

TEST(Rfc3339, ParseTimeReadsUtcOffsetsAndFractions)
{
    EXPECT_EQ(parse_rfc3339("2026-11-25T10:20:30Z"), utc(2026, 11, 25, 10, 20, 30));
    EXPECT_EQ(parse_rfc3339("2026-11-25t10:20:30z"), utc(2026, 11, 25, 10, 20, 30));
    EXPECT_EQ(parse_rfc3339("2026-11-25T10:20:30"), utc(2026, 11, 25, 10, 20, 30)); // no zone: UTC
    EXPECT_EQ(parse_rfc3339("2026-11-25 10:20:30Z"), utc(2026, 11, 25, 10, 20, 30));
    EXPECT_EQ(parse_rfc3339("2026-11-25T10:20:30+02:00"), utc(2026, 11, 25, 8, 20, 30));
    EXPECT_EQ(parse_rfc3339("2026-11-25T10:20:30+05:30"), utc(2026, 11, 25, 4, 50, 30));
    EXPECT_EQ(parse_rfc3339("2026-11-25T20:20:30-08:00"), utc(2026, 11, 26, 4, 20, 30));
    EXPECT_EQ(parse_rfc3339("2026-01-01T00:30:00+01:00"), utc(2025, 12, 31, 23, 30, 0));
    EXPECT_EQ(parse_rfc3339("2026-11-25T10:20:30.5Z"), utc(2026, 11, 25, 10, 20, 30, 500));
    EXPECT_EQ(parse_rfc3339("2026-11-25T10:20:30.12Z"), utc(2026, 11, 25, 10, 20, 30, 120));
    EXPECT_EQ(parse_rfc3339("2026-11-25T10:20:30.123456789Z"), utc(2026, 11, 25, 10, 20, 30, 123));
    EXPECT_EQ(parse_rfc3339("2026-11-25T10:20:30.250-01:00"), utc(2026, 11, 25, 11, 20, 30, 250));
}

TEST(Rfc3339, ParseTimeOfADateAloneIsMidnightUtc)
{
    EXPECT_EQ(parse_rfc3339("2026-11-25"), utc(2026, 11, 25));
    EXPECT_EQ(parse_rfc3339("2024-02-29"), utc(2024, 2, 29));
}

TEST(Rfc3339, ParseTimeRoundTripsFormatTime)
{
    for (auto t :
         {utc(2026, 11, 25, 0, 0, 0, 1), utc(1999, 12, 31, 23, 59, 59, 999), utc(2038, 1, 19, 3, 14, 7, 500)}) {
        auto text = format_rfc3339(t);
        EXPECT_EQ(parse_rfc3339(text), t) << text;
    }
}

TEST(Rfc3339, ParseTimeRejectsInvalidText)
{
    for (const char* bad : {"",
                            "yesterday",
                            "2026",
                            "2026-11",
                            "2026-1-25",
                            "2026-11-5",
                            "2026/11/25",
                            "2026-11-25X10:20:30Z",
                            "2026-11-25T10:20Z",
                            "2026-11-25T10:20",
                            "2026-11-25T1:20:30Z",
                            "2026-11-25T10:20:30ZZ",
                            "2026-11-25T10:20:30 Z",
                            "2026-11-25T10:20:30+0200",
                            "2026-11-25T10:20:30+2:00",
                            "2026-11-25T10:20:30+02",
                            "2026-11-25T10:20:30.Z",
                            "2026-11-25T10:20:30+24:00",
                            "2026-11-25T10:20:30+02:60",
                            "2026-13-01",
                            "2026-00-10",
                            "2026-11-00",
                            "2026-11-31",
                            "2025-02-29",
                            "2026-11-25T24:00:00Z",
                            "2026-11-25T10:60:00Z",
                            "2026-11-25T10:20:61Z",
                            "2026-11-25T-1:20:30Z",
                            " 2026-11-25",
                            "+2026-11-25",
                            "2026-11-25 ",
                            "2026-1-050"}) {
        EXPECT_FALSE(parse_rfc3339(bad)) << bad;
    }
}
