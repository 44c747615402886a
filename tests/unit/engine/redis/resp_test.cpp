// RESP replies from a peer that lies about a bulk string's length: refused by the length alone, before a byte of
// it is buffered (a $<len> up to 4 GiB was accepted and read into memory).
#include "engine/redis/resp.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace dbkeep;

namespace {

// One connection on 127.0.0.1: reads the command, answers `reply`, waits for the client to close.
class OneReplyPeer {
public:
    explicit OneReplyPeer(std::string reply) : m_reply(std::move(reply))
    {
        m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        EXPECT_EQ(::listen(m_listen, 1), 0);
        socklen_t len = sizeof addr;
        ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len);
        port = ntohs(addr.sin_port);
        m_thread = std::thread([this] {
            const int fd = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                return;
            }
            char buf[256];
            (void)::recv(fd, buf, sizeof buf, 0);
            (void)::send(fd, m_reply.data(), m_reply.size(), MSG_NOSIGNAL);
            timeval tv{5, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            while (::recv(fd, buf, sizeof buf, 0) > 0) {
            }
            ::close(fd);
        });
    }
    ~OneReplyPeer()
    {
        ::shutdown(m_listen, SHUT_RDWR);
        m_thread.join();
        ::close(m_listen);
    }
    OneReplyPeer(const OneReplyPeer&) = delete;
    OneReplyPeer& operator=(const OneReplyPeer&) = delete;

    int port = 0;

private:
    std::string m_reply;
    int m_listen = -1;
    std::thread m_thread;
};

Result<engine::resp::Reply> ping(const std::string& reply)
{
    OneReplyPeer peer(reply);
    auto conn = engine::resp::Connection::connect({.host = "127.0.0.1", .port = peer.port});
    if (!conn) {
        return std::unexpected(conn.error());
    }
    return (*conn)->command({"PING"});
}

} // namespace

TEST(Resp, ABulkLongerThanRedisAllowsIsCorruptionBeforeAnyOfItIsRead)
{
    for (const char* head : {"$536870913\r\n", "$4294967295\r\n", "$9223372036854775807\r\n"}) {
        auto r = ping(head);
        ASSERT_FALSE(r) << head;
        EXPECT_EQ(r.error().kind, ErrorKind::corruption) << head << r.error().to_string();
        EXPECT_NE(r.error().message.find("invalid bulk length"), std::string::npos) << r.error().to_string();
    }
    auto ok = ping("$4\r\nPONG\r\n");
    ASSERT_TRUE(ok) << ok.error().to_string();
    EXPECT_EQ(ok->text, "PONG");
}
