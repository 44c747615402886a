// How a full-synchronisation restore tells the destination's connection from another local process's: the
// owner of a TCP socket (/proc/net/tcp) against the destination process's user (/proc/PID/status).
#include "engine/redis/replica_load.hpp"
#include "engine/redis/resp.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

using namespace dbkeep;
using namespace dbkeep::engine;

TEST(ReplicaLoad, TheOwnerOfALoopbackConnectionIsItsProcesssUser)
{
    auto listener = resp::Listener::open("127.0.0.1");
    ASSERT_TRUE(listener) << listener.error().to_string();
    auto client = resp::Connection::connect({.host = "127.0.0.1", .port = (*listener)->port()});
    ASSERT_TRUE(client) << client.error().to_string();
    auto accepted = (*listener)->accept(std::chrono::seconds(5), std::chrono::seconds(5));
    ASSERT_TRUE(accepted) << accepted.error().to_string();
    const int peer = (*accepted)->peer_port();
    ASSERT_GT(peer, 0);
    EXPECT_EQ(redis::socket_owner(peer, (*listener)->port()), ::geteuid());
    EXPECT_EQ(redis::socket_owner(peer, (*listener)->port() == 1 ? 2 : 1), std::nullopt)
        << "a socket is matched by both its ports";
}

TEST(ReplicaLoad, AProcesssUserIsReadOnlyForADecimalVisiblePid)
{
    EXPECT_EQ(redis::process_uid(std::to_string(::getpid())), ::geteuid());
    EXPECT_EQ(redis::process_uid(""), std::nullopt);
    EXPECT_EQ(redis::process_uid("self"), std::nullopt) << "only a number names a process";
    EXPECT_EQ(redis::process_uid("1/../self"), std::nullopt);
    EXPECT_EQ(redis::process_uid("4294967295"), std::nullopt);
}
