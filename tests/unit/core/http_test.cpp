// core/http and with_retry against a tiny HTTP server on loopback: every header of an error answer is kept,
// the body cap, the deadline and the low-speed limit hold, cancellation ends a request within a second, an
// upgraded connection carries raw bytes both ways, and retries stop on non-transient errors and cancellation.
#include "core/cancel.hpp"
#include "core/http.hpp"
#include "core/retry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace dbkeep;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Accepts connections on 127.0.0.1 and hands each, with the request head read, to `serve` on its own thread.
class LoopbackServer {
public:
    using Serve = std::function<void(int fd, const std::string& head)>;

    explicit LoopbackServer(Serve serve) : m_serve(std::move(serve))
    {
        m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::listen(m_listen, 16);
        socklen_t len = sizeof addr;
        ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len);
        m_port = ntohs(addr.sin_port);
        m_thread = std::thread([this] { accept_loop(); });
    }

    ~LoopbackServer()
    {
        m_stop.store(true);
        ::shutdown(m_listen, SHUT_RDWR);
        m_thread.join();
        for (auto& t : m_workers) {
            t.join();
        }
        ::close(m_listen);
    }

    std::string url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(m_port) + path; }
    int connections() const { return m_connections.load(); }

    static void send_all(int fd, const std::string& s) { (void)::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

    // Waits until the client closes (or 10 s pass).
    static void wait_for_close(int fd)
    {
        timeval tv{10, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[4096];
        while (::recv(fd, buf, sizeof buf, 0) > 0) {
        }
    }

private:
    void accept_loop()
    {
        for (;;) {
            int fd = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0 || m_stop.load()) {
                if (fd >= 0) {
                    ::close(fd);
                }
                return;
            }
            ++m_connections;
            m_workers.emplace_back([this, fd] {
                std::string head;
                char c;
                while (head.find("\r\n\r\n") == std::string::npos && ::recv(fd, &c, 1, 0) == 1) {
                    head += c;
                }
                m_serve(fd, head);
                ::close(fd);
            });
        }
    }

    Serve m_serve;
    int m_listen = -1;
    int m_port = 0;
    std::atomic<bool> m_stop{false};
    std::atomic<int> m_connections{0};
    std::thread m_thread;
    std::vector<std::thread> m_workers;
};

http::Request get(const std::string& url)
{
    http::Request r;
    r.url = url;
    return r;
}

class Http : public ::testing::Test {
protected:
    void SetUp() override { cancel::reset(); }
    void TearDown() override { cancel::reset(); }
};

} // namespace

TEST_F(Http, ErrorAnswerKeepsEveryHeaderAndItsBody)
{
    LoopbackServer server([](int fd, const std::string&) {
        LoopbackServer::send_all(fd, "HTTP/1.1 403 Forbidden\r\nDate: Mon, 30 Nov 2026 18:00:00 GMT\r\n"
                                     "X-Amz-Request-Id: R1\r\nX-Amz-Request-Id: R2\r\nContent-Length: 34\r\n\r\n"
                                     "<Error><Code>Denied</Code></Error>");
    });
    auto r = http::perform(get(server.url("/b")), "get", "b");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->status, 403);
    EXPECT_EQ(r->header("Date"), "Mon, 30 Nov 2026 18:00:00 GMT");
    EXPECT_EQ(r->header("x-amz-request-id"), "R1");
    EXPECT_EQ(std::count_if(r->headers.begin(), r->headers.end(),
                            [](const auto& h) { return h.first == "x-amz-request-id"; }),
              2);
    EXPECT_EQ(r->body, "<Error><Code>Denied</Code></Error>");
}

TEST_F(Http, SendsMethodHeadersAndBody)
{
    std::string seen;
    LoopbackServer server([&seen](int fd, const std::string& head) {
        seen = head;
        char buf[5];
        (void)::recv(fd, buf, sizeof buf, MSG_WAITALL);
        seen += std::string(buf, sizeof buf);
        LoopbackServer::send_all(fd, "HTTP/1.1 204 No Content\r\n\r\n");
    });
    http::Request req = get(server.url("/p?q=1"));
    req.method = "PUT";
    req.headers = {{"X-One", "1"}};
    req.body = "hello";
    auto r = http::perform(req, "put", "p");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->status, 204);
    EXPECT_EQ(seen.rfind("PUT /p?q=1 HTTP/1.1\r\n", 0), 0u) << seen;
    EXPECT_NE(seen.find("X-One: 1\r\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("Content-Length: 5\r\n"), std::string::npos) << seen;
    EXPECT_TRUE(seen.ends_with("hello")) << seen;
}

TEST_F(Http, StreamedBodyIsSentFromTheReader)
{
    std::string seen;
    LoopbackServer server([&seen](int fd, const std::string&) {
        char buf[10];
        (void)::recv(fd, buf, sizeof buf, MSG_WAITALL);
        seen.assign(buf, sizeof buf);
        LoopbackServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    http::Request req = get(server.url());
    req.method = "PUT";
    int calls = 0;
    req.reader = [&calls](MutableBytes out) -> Result<std::size_t> {
        if (calls++ == 2) {
            return 0;
        }
        std::memcpy(out.data(), "01234", 5);
        return 5;
    };
    req.reader_size = 10;
    auto r = http::perform(req, "put", "p");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(seen, "0123401234");
}

TEST_F(Http, BodyLargerThanTheCapFails)
{
    LoopbackServer server([](int fd, const std::string&) {
        LoopbackServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + std::string(300000, 'x'));
    });
    http::Request req = get(server.url());
    req.max_body = 100000;
    auto r = http::perform(req, "get", "big");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::failed);
    EXPECT_NE(r.error().message.find("larger than 100000 bytes"), std::string::npos) << r.error().message;
    req.max_body = 300000;
    auto ok = http::perform(req, "get", "big");
    ASSERT_TRUE(ok) << ok.error().to_string();
    EXPECT_EQ(ok->body.size(), 300000u);
}

// The request fails as transient, and sooner than `limit`.
static void expect_transient_within(const http::Request& req, Clock::duration limit)
{
    auto start = Clock::now();
    auto r = http::perform(req, "get", "slow");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::transient) << r.error().to_string();
    EXPECT_LT(Clock::now() - start, limit);
}

TEST_F(Http, DeadlineEndsASilentServerAsTransient)
{
    LoopbackServer server([](int fd, const std::string&) { LoopbackServer::wait_for_close(fd); });
    http::Request req = get(server.url());
    req.timeout = 500ms;
    expect_transient_within(req, 3s);
}

TEST_F(Http, LowSpeedLimitEndsAStalledTransferAsTransient)
{
    LoopbackServer server([](int fd, const std::string&) {
        LoopbackServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc");
        LoopbackServer::wait_for_close(fd);
    });
    http::Request req = get(server.url());
    req.low_speed_time = 1s;
    expect_transient_within(req, 5s);
}

TEST_F(Http, CancellationEndsARequestWithinASecond)
{
    LoopbackServer server([](int fd, const std::string&) { LoopbackServer::wait_for_close(fd); });
    std::thread canceller([] {
        std::this_thread::sleep_for(300ms);
        cancel::request();
    });
    auto start = Clock::now();
    auto r = http::perform(get(server.url()), "get", "hanging");
    auto took = Clock::now() - start;
    canceller.join();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::cancelled);
    EXPECT_LT(took, 1300ms);
}

TEST_F(Http, CleanupRequestsStillGoOutAfterCancellation)
{
    LoopbackServer server(
        [](int fd, const std::string&) { LoopbackServer::send_all(fd, "HTTP/1.1 204 No Content\r\n\r\n"); });
    cancel::request();
    http::Request req = get(server.url());
    EXPECT_EQ(http::perform(req, "get", "x").error().kind, ErrorKind::cancelled);
    req.ignore_cancel = true;
    auto r = http::perform(req, "abort", "x");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->status, 204);
}

TEST_F(Http, RefusedConnectionIsTransient)
{
    int port = 0;
    {
        LoopbackServer gone([](int, const std::string&) {});
        port = std::stoi(gone.url().substr(std::string("http://127.0.0.1:").size()));
    }
    auto r = http::perform(get("http://127.0.0.1:" + std::to_string(port) + "/"), "get", "x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::transient);
}

TEST_F(Http, UpgradedConnectionCarriesRawBytesBothWays)
{
    LoopbackServer server([](int fd, const std::string& head) {
        if (head.find("Upgrade: tcp") == std::string::npos) {
            LoopbackServer::send_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno");
            return;
        }
        char body[2]; // the request's "{}"
        (void)::recv(fd, body, sizeof body, MSG_WAITALL);
        LoopbackServer::send_all(fd, "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nhi:");
        char buf[4096];
        ssize_t n;
        while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) { // echo until our half-close
            LoopbackServer::send_all(fd, std::string(buf, static_cast<std::size_t>(n)));
        }
    });
    http::Request req = get(server.url("/exec/1/start"));
    req.method = "POST";
    req.headers = {{"Connection", "Upgrade"}, {"Upgrade", "tcp"}};
    req.body = "{}";
    auto up = http::upgrade(req, "attach", "x");
    ASSERT_TRUE(up) << up.error().to_string();
    ASSERT_TRUE(up->stream);
    EXPECT_EQ(up->stream->response().status, 101);
    ASSERT_TRUE(up->stream->write(as_bytes("ping")));
    up->stream->shutdown_write();
    std::string got;
    std::uint8_t buf[100];
    for (;;) {
        auto n = up->stream->read(buf);
        ASSERT_TRUE(n) << n.error().to_string();
        if (*n == 0) {
            break;
        }
        got.append(reinterpret_cast<const char*>(buf), *n);
    }
    EXPECT_EQ(got, "hi:ping");

    req.headers.clear();
    auto refused = http::upgrade(req, "attach", "x");
    ASSERT_TRUE(refused) << refused.error().to_string();
    EXPECT_FALSE(refused->stream);
    EXPECT_EQ(refused->refused.status, 400);
    EXPECT_EQ(refused->refused.body, "no");
}

TEST_F(Http, RetryStopsAtTheFirstNonTransientError)
{
    int calls = 0;
    Status st = with_retry(RetryPolicy{.first_delay = 1ms}, [&calls]() -> Status {
        ++calls;
        return fail(calls < 2 ? ErrorKind::transient : ErrorKind::auth, "op", "obj", "denied");
    });
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind, ErrorKind::auth);
    EXPECT_EQ(calls, 2);
}

TEST_F(Http, RetryGivesUpAfterTheAttemptsWithTheLastError)
{
    int calls = 0;
    std::vector<int> announced;
    RetryPolicy policy{.attempts = 4, .first_delay = 1ms};
    policy.on_retry = [&announced](int attempt, const Error&) { announced.push_back(attempt); };
    Result<int> r = with_retry(policy, [&calls]() -> Result<int> {
        ++calls;
        return fail(ErrorKind::transient, "op", "obj", "try " + std::to_string(calls));
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(calls, 4);
    EXPECT_EQ(r.error().message, "try 4");
    EXPECT_EQ(announced, (std::vector<int>{2, 3, 4}));
    int ok_calls = 0;
    auto ok = with_retry(policy, [&ok_calls]() -> Result<int> {
        return ++ok_calls < 3 ? Result<int>(fail(ErrorKind::transient, "op", "obj", "x")) : Result<int>(42);
    });
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, 42);
}

TEST_F(Http, RetryStopsOnCancellationDuringThePause)
{
    int calls = 0;
    std::thread canceller([] {
        std::this_thread::sleep_for(200ms);
        cancel::request();
    });
    auto start = Clock::now();
    Status st = with_retry(RetryPolicy{.first_delay = 10s}, [&calls]() -> Status {
        ++calls;
        return fail(ErrorKind::transient, "upload part", "k", "reset");
    });
    auto took = Clock::now() - start;
    canceller.join();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind, ErrorKind::cancelled);
    EXPECT_EQ(st.error().operation, "upload part");
    EXPECT_EQ(calls, 1);
    EXPECT_LT(took, 1s);
}

TEST_F(Http, RetryDelaysGrowWithJitterUpToTheCap)
{
    RetryPolicy policy{.first_delay = 400ms, .max_delay = 2000ms};
    for (int i = 0; i < 20; ++i) {
        auto d2 = retry_delay(policy, 2), d3 = retry_delay(policy, 3), d9 = retry_delay(policy, 9);
        EXPECT_GE(d2, 200ms);
        EXPECT_LE(d2, 400ms);
        EXPECT_GE(d3, 400ms);
        EXPECT_LE(d3, 800ms);
        EXPECT_GE(d9, 1000ms);
        EXPECT_LE(d9, 2000ms);
    }
}

TEST(HttpRetryableStatus, OnlyTemporaryAnswersAreWorthSendingAgain)
{
    for (long status : {408L, 429L, 500L, 502L, 503L, 504L}) {
        EXPECT_TRUE(http::retryable_status(status)) << status;
    }
    for (long status : {200L, 301L, 400L, 403L, 404L, 412L, 501L, 505L, 511L}) {
        EXPECT_FALSE(http::retryable_status(status)) << status;
    }
}
