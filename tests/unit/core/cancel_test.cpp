// core/cancel: a Shield hides a pending cancellation from its own thread for its budget only.
#include "core/cancel.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <thread>

using namespace dbkeep;
using namespace std::chrono_literals;

TEST(Cancel, AShieldHidesCancellationForItsBudgetOnly)
{
    cancel::reset();
    cancel::request();
    EXPECT_TRUE(cancel::requested());
    {
        const cancel::Shield cleanup(300ms);
        EXPECT_FALSE(cancel::requested()) << "cleanup runs after a signal";
        bool seen_elsewhere = false;
        std::thread other([&] { seen_elsewhere = cancel::requested(); });
        other.join();
        EXPECT_TRUE(seen_elsewhere) << "a Shield affects only its own thread";
        {
            const cancel::Shield inner(50ms);
            std::this_thread::sleep_for(80ms);
            EXPECT_TRUE(cancel::requested()) << "the inner budget is spent";
        }
        EXPECT_FALSE(cancel::requested()) << "the outer budget is not";
        std::this_thread::sleep_for(300ms);
        EXPECT_TRUE(cancel::requested()) << "a peer that never answers cannot hold the process past the budget";
    }
    EXPECT_TRUE(cancel::requested());
    {
        const cancel::Shield outer(100ms);
        const cancel::Shield inner(10s);
        std::this_thread::sleep_for(150ms);
        EXPECT_TRUE(cancel::requested()) << "an inner Shield never outlasts the outer one's budget";
    }
    cancel::reset();
    EXPECT_FALSE(cancel::requested());
}
