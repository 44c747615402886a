#include "core/error.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;

TEST(Error, ToStringNamesOperationObjectMessageAndHint)
{
    Error e{ErrorKind::auth, "connect to", "orders", "password authentication failed", "check ORDERS_PASSWORD"};
    EXPECT_EQ(e.to_string(), "connect to orders: password authentication failed (check ORDERS_PASSWORD)");
}

TEST(Error, WrapPrependsTheOuterOperation)
{
    auto r = wrap(Error{ErrorKind::failed, "upload", "k", "disk full", ""}, "back up orders");
    EXPECT_EQ(r.error().operation, "back up orders: upload");
    EXPECT_EQ(r.error().kind, ErrorKind::failed);
}
