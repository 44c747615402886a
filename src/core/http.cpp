#include "core/http.hpp"

#include "core/cancel.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <curl/curl.h>
#include <mutex>
#include <poll.h>
#include <sys/socket.h>

namespace dbkeep::http {
namespace {

constexpr std::size_t k_max_head = 64 * 1024;

bool curl_ready()
{
    static const bool k_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    return k_ready;
}

std::string lowercase(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string trim(std::string_view s)
{
    while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    return std::string(s);
}

// One line of a response head into `response`: a status line starts a new head (1xx, redirects), so only
// the final answer's fields remain.
void add_head_line(std::string_view line, Response& response)
{
    if (line.starts_with("HTTP/")) {
        response.headers.clear();
        auto sp = line.find(' ');
        response.status =
            sp == std::string_view::npos ? 0 : std::strtol(std::string(line.substr(sp + 1)).c_str(), nullptr, 10);
        return;
    }
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
        response.headers.emplace_back(lowercase(std::string(line.substr(0, colon))), trim(line.substr(colon + 1)));
    }
}

struct Transfer {
    const Request* request = nullptr;
    Response response;
    bool too_large = false;
    bool cancelled = false;
    std::optional<Error> reader_error;
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user)
{
    auto* t = static_cast<Transfer*>(user);
    if (t->response.body.size() + size * n > t->request->max_body) {
        t->too_large = true;
        return 0;
    }
    t->response.body.append(data, size * n);
    return size * n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user)
{
    add_head_line(std::string_view(data, size * n), static_cast<Transfer*>(user)->response);
    return size * n;
}

std::size_t on_read(char* data, std::size_t size, std::size_t n, void* user)
{
    auto* t = static_cast<Transfer*>(user);
    auto r = t->request->reader(MutableBytes(reinterpret_cast<std::uint8_t*>(data), size * n));
    if (!r) {
        t->reader_error = r.error();
        return CURL_READFUNC_ABORT;
    }
    return *r;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t)
{
    auto* t = static_cast<Transfer*>(user);
    if (!t->request->ignore_cancel && cancel::requested()) {
        t->cancelled = true;
        return 1;
    }
    return 0;
}

struct Easy {
    CURL* handle = curl_easy_init();
    curl_slist* headers = nullptr;
    ~Easy()
    {
        curl_slist_free_all(headers);
        curl_easy_cleanup(handle);
    }
};

// Options common to perform() and upgrade(): where to connect, the header list, the time limits.
void set_common(Easy& e, const Request& r)
{
    curl_easy_setopt(e.handle, CURLOPT_URL, r.url.c_str());
    if (!r.unix_socket.empty()) {
        curl_easy_setopt(e.handle, CURLOPT_UNIX_SOCKET_PATH, r.unix_socket.c_str());
    }
    for (const auto& [name, value] : r.headers) {
        e.headers = curl_slist_append(e.headers, (value.empty() ? name + ":" : name + ": " + value).c_str());
    }
    // No 100-continue round trip: the servers we talk to answer errors before reading the body anyway.
    e.headers = curl_slist_append(e.headers, "Expect:");
    curl_easy_setopt(e.handle, CURLOPT_HTTPHEADER, e.headers);
    curl_easy_setopt(e.handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e.handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.connect_timeout.count()));
    if (r.timeout.count() > 0) {
        curl_easy_setopt(e.handle, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
    }
    if (r.low_speed_time.count() > 0) {
        curl_easy_setopt(e.handle, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(r.low_speed_bytes));
        curl_easy_setopt(e.handle, CURLOPT_LOW_SPEED_TIME, static_cast<long>(r.low_speed_time.count()));
    }
}

Error transfer_error(Easy& e, CURLcode rc, std::string_view operation, std::string_view object)
{
    long os_errno = 0;
    curl_easy_getinfo(e.handle, CURLINFO_OS_ERRNO, &os_errno);
    std::string message = curl_easy_strerror(rc);
    ErrorKind kind = ErrorKind::transient;
    std::string hint;
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
        kind = ErrorKind::failed;
    } else if (rc == CURLE_COULDNT_CONNECT && (os_errno == EACCES || os_errno == EPERM)) {
        kind = ErrorKind::auth;
        message = errno_message(static_cast<int>(os_errno));
    } else if (rc == CURLE_COULDNT_CONNECT && os_errno != 0) {
        message += ": " + errno_message(static_cast<int>(os_errno));
    }
    return Error{kind, std::string(operation), std::string(object), message, hint};
}

} // namespace

bool retryable_status(long status) noexcept
{
    return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::optional<std::string> Response::header(std::string_view name) const
{
    const std::string wanted = lowercase(std::string(name));
    for (const auto& [n, v] : headers) {
        if (n == wanted) {
            return v;
        }
    }
    return std::nullopt;
}

Result<Response> perform(const Request& request, std::string_view operation, std::string_view object)
{
    if (!curl_ready()) {
        return fail(ErrorKind::failed, std::string(operation), std::string(object), "curl_global_init failed");
    }
    if (!request.ignore_cancel && cancel::requested()) {
        return fail_cancelled(std::string(operation), std::string(object));
    }
    Easy e;
    Transfer t;
    t.request = &request;
    set_common(e, request);
    curl_easy_setopt(e.handle, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e.handle, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e.handle, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e.handle, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(e.handle, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e.handle, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e.handle, CURLOPT_XFERINFODATA, &t);
    if (request.method == "HEAD") {
        curl_easy_setopt(e.handle, CURLOPT_NOBODY, 1L);
    } else if (request.reader) {
        curl_easy_setopt(e.handle, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e.handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
        curl_easy_setopt(e.handle, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e.handle, CURLOPT_READDATA, &t);
        if (request.reader_size) {
            curl_easy_setopt(e.handle, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(*request.reader_size));
        }
    } else if (request.method != "GET") {
        curl_easy_setopt(e.handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
        curl_easy_setopt(e.handle, CURLOPT_POSTFIELDS, request.body.data());
        curl_easy_setopt(e.handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
    CURLcode rc = curl_easy_perform(e.handle);
    if (t.cancelled) {
        return fail_cancelled(std::string(operation), std::string(object));
    }
    if (t.too_large) {
        return fail(ErrorKind::failed, std::string(operation), std::string(object),
                    "response body larger than " + std::to_string(request.max_body) + " bytes");
    }
    if (t.reader_error) {
        return std::unexpected(*t.reader_error);
    }
    if (rc != CURLE_OK) {
        return std::unexpected(transfer_error(e, rc, operation, object));
    }
    curl_easy_getinfo(e.handle, CURLINFO_RESPONSE_CODE, &t.response.status);
    return std::move(t.response);
}

namespace {

// A connection libcurl made with CURLOPT_CONNECT_ONLY: curl_easy_send/curl_easy_recv move the bytes (so TLS
// would work too); poll() on the socket waits, in slices that notice cancellation. libcurl calls on one handle
// are serialised by a mutex held only for the (non-blocking) call, so a reader and a writer can share it.
class CurlStream final : public Upgraded {
public:
    CurlStream(std::unique_ptr<Easy> easy, curl_socket_t fd, bool ignore_cancel, std::string operation,
               std::string object)
        : m_easy(std::move(easy)), m_fd(fd), m_ignore_cancel(ignore_cancel), m_operation(std::move(operation)),
          m_object(std::move(object))
    {
    }

    const Response& response() const override { return m_response; }

    Result<std::size_t> read(MutableBytes out) override
    {
        if (m_pending_pos < m_pending.size()) {
            std::size_t n = std::min(out.size(), m_pending.size() - m_pending_pos);
            std::memcpy(out.data(), m_pending.data() + m_pending_pos, n);
            m_pending_pos += n;
            return n;
        }
        for (;;) {
            std::size_t n = 0;
            CURLcode rc;
            {
                std::lock_guard lock(m_mutex);
                rc = curl_easy_recv(m_easy->handle, out.data(), out.size(), &n);
            }
            if (rc == CURLE_OK) {
                return n;
            }
            if (rc != CURLE_AGAIN) {
                if (m_shut.load()) {
                    return std::size_t{0};
                }
                return fail(ErrorKind::transient, m_operation, m_object, curl_easy_strerror(rc));
            }
            if (auto st = wait(POLLIN); !st) {
                return std::unexpected(st.error());
            }
        }
    }

    Status write(Bytes data) override
    {
        std::size_t off = 0;
        while (off < data.size()) {
            std::size_t n = 0;
            CURLcode rc;
            {
                std::lock_guard lock(m_mutex);
                rc = curl_easy_send(m_easy->handle, data.data() + off, data.size() - off, &n);
            }
            if (rc == CURLE_OK) {
                off += n;
                continue;
            }
            if (rc != CURLE_AGAIN) {
                return fail(ErrorKind::failed, m_operation, m_object,
                            rc == CURLE_SEND_ERROR ? "connection closed by the peer (EPIPE)" : curl_easy_strerror(rc));
            }
            if (auto st = wait(POLLOUT); !st) {
                return st;
            }
        }
        return {};
    }

    void shutdown_write() noexcept override { ::shutdown(m_fd, SHUT_WR); }

    void shutdown() noexcept override
    {
        m_shut.store(true);
        ::shutdown(m_fd, SHUT_RDWR);
    }

    Response m_response;
    std::string m_pending; // bytes received after the answer's head
    std::size_t m_pending_pos = 0;
    // Until the head is read: the request's deadline. A hijacked stream then lasts as long as the command.
    std::chrono::steady_clock::time_point m_deadline = std::chrono::steady_clock::time_point::max();

private:
    Status wait(short events)
    {
        for (;;) {
            if (!m_ignore_cancel && cancel::requested()) {
                return fail_cancelled(m_operation, m_object);
            }
            if (std::chrono::steady_clock::now() > m_deadline) {
                return fail(ErrorKind::transient, m_operation, m_object, "timed out");
            }
            pollfd p{m_fd, events, 0};
            int r = ::poll(&p, 1, 200);
            if (r < 0 && errno != EINTR) {
                return fail(ErrorKind::failed, m_operation, m_object, errno_message(errno));
            }
            if (r > 0) {
                return {};
            }
        }
    }

    std::unique_ptr<Easy> m_easy;
    curl_socket_t m_fd;
    bool m_ignore_cancel;
    std::string m_operation, m_object;
    std::mutex m_mutex;
    std::atomic<bool> m_shut{false};
};

} // namespace

Result<UpgradeResult> upgrade(const Request& request, std::string_view operation, std::string_view object)
{
    const std::string op(operation), obj(object);
    if (!curl_ready()) {
        return fail(ErrorKind::failed, op, obj, "curl_global_init failed");
    }
    if (!request.ignore_cancel && cancel::requested()) {
        return fail_cancelled(op, obj);
    }
    auto easy = std::make_unique<Easy>();
    set_common(*easy, request);
    curl_easy_setopt(easy->handle, CURLOPT_CONNECT_ONLY, 1L);
    if (CURLcode rc = curl_easy_perform(easy->handle); rc != CURLE_OK) {
        return std::unexpected(transfer_error(*easy, rc, operation, object));
    }
    curl_socket_t fd = CURL_SOCKET_BAD;
    curl_easy_getinfo(easy->handle, CURLINFO_ACTIVESOCKET, &fd);
    CURLU* u = curl_url();
    char* path = nullptr;
    char* host = nullptr;
    curl_url_set(u, CURLUPART_URL, request.url.c_str(), 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    char* query = nullptr;
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    std::string head = request.method + " " + (path ? path : "/") + (query ? std::string("?") + query : "") +
                       " HTTP/1.1\r\nHost: " + (host ? host : "localhost") + "\r\n";
    curl_free(path);
    curl_free(host);
    curl_free(query);
    curl_url_cleanup(u);
    for (const auto& [name, value] : request.headers) {
        head += name + ": " + value + "\r\n";
    }
    head += "Content-Length: " + std::to_string(request.body.size()) + "\r\n\r\n" + request.body;

    auto stream = std::make_unique<CurlStream>(std::move(easy), fd, request.ignore_cancel, op, obj);
    if (request.timeout.count() > 0) {
        stream->m_deadline = std::chrono::steady_clock::now() + request.timeout;
    }
    if (auto st = stream->write(as_bytes(head)); !st) {
        return std::unexpected(Error{ErrorKind::transient, op, obj, st.error().message, {}});
    }
    // The answer's head; whatever follows it belongs to the stream.
    std::string received;
    std::size_t end;
    while ((end = received.find("\r\n\r\n")) == std::string::npos) {
        if (received.size() > k_max_head) {
            return fail(ErrorKind::failed, op, obj, "response head larger than 64 KiB");
        }
        char buf[16384];
        auto n = stream->read(MutableBytes(reinterpret_cast<std::uint8_t*>(buf), sizeof buf));
        if (!n) {
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            return fail(ErrorKind::transient, op, obj, "connection closed before the answer");
        }
        received.append(buf, *n);
    }
    Response response;
    std::size_t pos = 0;
    while (pos < end) {
        auto eol = received.find("\r\n", pos);
        add_head_line(std::string_view(received).substr(pos, std::min(eol, end) - pos), response);
        pos = std::min(eol, end) + 2;
    }
    stream->m_pending = received.substr(end + 4);
    UpgradeResult result;
    if (response.status == 101 || response.status == 200) {
        stream->m_deadline = std::chrono::steady_clock::time_point::max();
        stream->m_response = std::move(response);
        result.stream = std::move(stream);
        return result;
    }
    // Refused: read the body (Content-Length, else up to the close) for the error message.
    std::size_t want = response.header("content-length")
                           ? std::strtoull(response.header("content-length")->c_str(), nullptr, 10)
                           : request.max_body;
    want = std::min(want, request.max_body);
    std::string body;
    for (;;) {
        char buf[16384];
        if (body.size() >= want) {
            break;
        }
        auto n = stream->read(MutableBytes(reinterpret_cast<std::uint8_t*>(buf), sizeof buf));
        if (!n || *n == 0) {
            break;
        }
        body.append(buf, *n);
    }
    body.resize(std::min(body.size(), want));
    response.body = std::move(body);
    result.refused = std::move(response);
    return result;
}

} // namespace dbkeep::http
