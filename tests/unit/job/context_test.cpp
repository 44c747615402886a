#include "job/context.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using job::wrap_once;

// "back up orders: back up orders: the server has no database to back up": an engine's fail("back up", "orders")
// wrapped by the job's "back up orders" named the context twice.
TEST(WrapOnce, DoesNotRepeatAContextTheErrorAlreadyNames)
{
    auto same = wrap_once(Error{ErrorKind::not_found, "back up", "orders", "no database", ""}, "back up orders");
    EXPECT_EQ(same.error().to_string(), "back up orders: no database");
    EXPECT_EQ(same.error().kind, ErrorKind::not_found);
    auto once =
        wrap_once(Error{ErrorKind::failed, "back up orders: write manifest", "", "disk full", ""}, "back up orders");
    EXPECT_EQ(once.error().to_string(), "back up orders: write manifest: disk full");
    auto twice =
        wrap_once(wrap_once(Error{ErrorKind::failed, "upload", "k", "disk full", ""}, "back up orders").error(),
                  "back up orders");
    EXPECT_EQ(twice.error().to_string(), "back up orders: upload k: disk full");
    // Any other error is wrapped as wrap does; a target whose name begins the same is another context.
    auto other = wrap_once(Error{ErrorKind::failed, "back up", "orders2", "no database", ""}, "back up orders");
    EXPECT_EQ(other.error().to_string(), "back up orders: back up orders2: no database");
    auto word = wrap_once(Error{ErrorKind::failed, "back up ordersx", "", "no database", ""}, "back up orders");
    EXPECT_EQ(word.error().operation, "back up orders: back up ordersx");
    auto plain = wrap_once(Error{ErrorKind::failed, "upload", "k", "disk full", ""}, "back up orders");
    EXPECT_EQ(plain.error().operation, "back up orders: upload");
}
