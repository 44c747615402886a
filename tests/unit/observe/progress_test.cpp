#include "observe/progress.hpp"

#include <atomic>
#include <gtest/gtest.h>
#include <thread>

using namespace dbkeep;
using namespace std::chrono_literals;

TEST(Progress, TheLineHasBytesRateAndAnEtaOnlyWhenTheExpectedSizeIsAhead)
{
    const std::uint64_t mib = 1 << 20;
    const auto line = observe::progress_line("backup orders", 50 * mib, 2.0, 150 * mib);
    EXPECT_EQ(line.rfind("backup orders: ", 0), 0u) << line;
    EXPECT_NE(line.find("MiB/s"), std::string::npos) << line;
    EXPECT_NE(line.find("about 4.0s left"), std::string::npos) << line; // 100 MiB more at 25 MiB/s
    EXPECT_EQ(observe::progress_line("b", 200 * mib, 2.0, 150 * mib).find("left"), std::string::npos);
    EXPECT_EQ(observe::progress_line("b", 10, 1.0, 0).find("left"), std::string::npos);
}

// Not on a terminal: a log line per period, so a long run shows it is alive in CloudWatch or kubectl logs.
TEST(Progress, NotOnATerminalItLogsPeriodically)
{
    std::atomic<std::uint64_t> done{0};
    testing::internal::CaptureStderr();
    {
        observe::Progress p({.what = "backup orders", .expected_bytes = 0, .terminal = false, .log_every = 200ms},
                            [&] { return done.load(); });
        for (int i = 0; i < 25; ++i) {
            done += 1 << 20;
            std::this_thread::sleep_for(100ms);
        }
    }
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("progress"), std::string::npos) << err;
    EXPECT_NE(err.find("backup orders: "), std::string::npos) << err;
    EXPECT_EQ(err.find('\r'), std::string::npos) << "no terminal line in a log";
}

// On a terminal: the line is rewritten in place and cleared at the end.
TEST(Progress, OnATerminalTheLineIsRewrittenAndClearedAtTheEnd)
{
    testing::internal::CaptureStderr();
    {
        observe::Progress p({.what = "restore orders", .terminal = true}, [] { return std::uint64_t{4096}; });
        std::this_thread::sleep_for(1500ms);
    }
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("\r\033[Krestore orders: 4.0 KiB"), std::string::npos) << err;
    EXPECT_TRUE(err.ends_with("\r\033[K")) << err;
}
