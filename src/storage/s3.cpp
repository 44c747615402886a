#include "storage/s3.hpp"

#include "config/config.hpp"
#include "core/cancel.hpp"
#include "observe/log.hpp"
#include "storage/aws_credentials.hpp"
#include "storage/sigv4.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <curl/curl.h>
#include <deque>
#include <future>
#include <map>
#include <openssl/evp.h>
#include <random>
#include <thread>

namespace dbkeep::storage {
namespace {

using sigv4::Pairs;
constexpr std::size_t k_read_chunk = 8 << 20;
constexpr std::size_t k_max_parts = 10000;
constexpr int k_attempts = 6;

std::string base64(const unsigned char* d, std::size_t n)
{
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), d, static_cast<int>(n));
    out.resize(static_cast<std::size_t>(len));
    return out;
}

std::string content_md5(const std::string& body)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(body.data(), body.size(), md, &len, EVP_md5(), nullptr);
    return base64(md, len);
}

std::string xml_escape(const std::string& s)
{
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string xml_unescape(std::string s)
{
    static const std::pair<const char*, const char*> k[] = {{"&lt;", "<"},   {"&gt;", ">"},   {"&quot;", "\""},
                                                            {"&apos;", "'"}, {"&#13;", "\r"}, {"&#10;", "\n"},
                                                            {"&amp;", "&"}};
    for (const auto& [from, to] : k) {
        std::size_t pos = 0;
        while ((pos = s.find(from, pos)) != std::string::npos) {
            s.replace(pos, std::strlen(from), to);
            pos += std::strlen(to);
        }
    }
    return s;
}

// All values of <tag>...</tag> in order (flat documents: enough for S3's answers).
std::vector<std::string> xml_values(const std::string& xml, const std::string& tag, std::size_t from = 0,
                                    std::size_t to = std::string::npos)
{
    std::vector<std::string> out;
    const std::string open = "<" + tag + ">", close = "</" + tag + ">";
    std::size_t pos = from;
    while ((pos = xml.find(open, pos)) != std::string::npos && pos < to) {
        auto end = xml.find(close, pos);
        if (end == std::string::npos) {
            break;
        }
        out.push_back(xml_unescape(xml.substr(pos + open.size(), end - pos - open.size())));
        pos = end + close.size();
    }
    return out;
}

std::string xml_value(const std::string& xml, const std::string& tag)
{
    auto v = xml_values(xml, tag);
    return v.empty() ? "" : v.front();
}

struct Response {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers; // lowercase names
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user)
{
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user)
{
    std::string line(data, size * n);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& c : name) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        std::string value = line.substr(colon + 1);
        while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
            value.pop_back();
        }
        while (!value.empty() && value.front() == ' ') {
            value.erase(0, 1);
        }
        (*static_cast<std::map<std::string, std::string>*>(user))[name] = value;
    }
    return size * n;
}

bool retryable(long status, const std::string& body)
{
    return status >= 500 || status == 429 || (status == 400 && body.find("RequestTimeout") != std::string::npos) ||
           body.find("SlowDown") != std::string::npos;
}

class S3Client {
public:
    explicit S3Client(const config::S3StorageConfig& c) : m_config(c), m_credentials(c)
    {
        std::string endpoint = c.endpoint.empty() ? "https://s3." + c.region + ".amazonaws.com" : c.endpoint;
        while (!endpoint.empty() && endpoint.back() == '/') {
            endpoint.pop_back();
        }
        auto scheme_end = endpoint.find("://");
        m_scheme = endpoint.substr(0, scheme_end);
        m_host = endpoint.substr(scheme_end + 3);
        m_path_style = c.path_style == "true" || (c.path_style == "auto" && !c.endpoint.empty());
        if (!m_path_style) {
            m_host = c.bucket + "." + m_host;
        }
    }

    std::string full_key(const std::string& key) const
    {
        return m_config.prefix.empty() ? key : m_config.prefix + "/" + key;
    }
    std::string relative_key(const std::string& full) const
    {
        return m_config.prefix.empty() ? full : full.substr(m_config.prefix.size() + 1);
    }
    const config::S3StorageConfig& config() const { return m_config; }
    CredentialProvider& credentials() { return m_credentials; }

    // One request with retries. `key` is the full object key ("" for the bucket). Cleanup requests (abort)
    // pass cleanup = true: they must still go out after SIGINT/SIGTERM.
    Result<Response> call(const std::string& method, const std::string& key, const Pairs& query, Pairs headers,
                          const std::string& body, const std::string& what, bool cleanup = false)
    {
        Error last{ErrorKind::transient, what, "s3://" + m_config.bucket + "/" + key, "no attempt made"};
        static thread_local std::mt19937 rng{std::random_device{}()};
        for (int attempt = 0; attempt < k_attempts; ++attempt) {
            if (cancel::requested() && !cleanup) {
                return fail_cancelled(what, "s3://" + m_config.bucket + "/" + key);
            }
            if (attempt > 0) {
                auto base = std::min<long>(10000, 200L << attempt);
                auto delay = std::uniform_int_distribution<long>(base / 2, base)(rng);
                observe::debug(
                    "retrying S3 request",
                    {{"operation", what}, {"attempt", std::to_string(attempt + 1)}, {"error", last.message}});
                for (long waited = 0; waited < delay && (cleanup || !cancel::requested()); waited += 50) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                }
            }
            auto r = once(method, key, query, headers, body, what);
            if (r) {
                return r;
            }
            last = r.error();
            if (last.kind != ErrorKind::transient) {
                return std::unexpected(last);
            }
        }
        return std::unexpected(last);
    }

private:
    Result<Response> once(const std::string& method, const std::string& key, const Pairs& query, const Pairs& extra,
                          const std::string& body, const std::string& what)
    {
        const std::string object = "s3://" + m_config.bucket + "/" + key;
        auto cred = m_credentials.get();
        if (!cred) {
            return std::unexpected(cred.error());
        }
        std::string path = m_path_style ? "/" + m_config.bucket + (key.empty() ? "" : "/" + key) : "/" + key;
        sigv4::Request req;
        req.method = method;
        req.path = path;
        req.query = query;
        req.headers = extra;
        req.headers.emplace_back("Host", m_host);
        req.payload_sha256 = m_scheme == "https" ? "UNSIGNED-PAYLOAD" : sigv4::sha256_hex(body);
        sigv4::Options opt{.region = m_config.region, .service = "s3", .time = std::chrono::system_clock::now()};
        auto s = sigv4::sign(req, *cred, opt);

        std::string url = m_scheme + "://" + m_host + sigv4::uri_encode(path, false);
        std::vector<std::pair<std::string, std::string>> q;
        for (const auto& [k, v] : query) {
            q.emplace_back(sigv4::uri_encode(k, true), sigv4::uri_encode(v, true));
        }
        std::sort(q.begin(), q.end());
        for (std::size_t i = 0; i < q.size(); ++i) {
            url += (i == 0 ? "?" : "&") + q[i].first + "=" + q[i].second;
        }
        curl_slist* list = nullptr;
        for (const auto& [k, v] : extra) {
            list = curl_slist_append(list, (k + ": " + v).c_str());
        }
        for (const auto& [k, v] : s.added_headers) {
            list = curl_slist_append(list, (k + ": " + v).c_str());
        }
        list = curl_slist_append(list, ("Authorization: " + s.authorization).c_str());
        list = curl_slist_append(list, "Expect:");
        bool has_type =
            std::any_of(extra.begin(), extra.end(), [](const auto& h) { return h.first == "Content-Type"; });
        if (!has_type) {
            list = curl_slist_append(list, "Content-Type:");
        }
        Response resp;
        CURL* c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp.body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp.headers);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); // a stalled transfer fails after 60 s and is retried
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(m_config.stall_timeout_seconds));
        if (method == "HEAD") {
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        } else if (method != "GET") {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        }
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
        curl_easy_cleanup(c);
        curl_slist_free_all(list);
        if (rc != CURLE_OK) {
            return fail(ErrorKind::transient, what, object, curl_easy_strerror(rc));
        }
        if (resp.status >= 200 && resp.status < 300) {
            return resp;
        }
        std::string code = xml_value(resp.body, "Code"), message = xml_value(resp.body, "Message");
        std::string text = "HTTP " + std::to_string(resp.status) + (code.empty() ? "" : " " + code) +
                           (message.empty() ? "" : ": " + message);
        if (resp.status == 404) {
            return fail(ErrorKind::not_found, what, object, text);
        }
        if (resp.status == 412 || (resp.status == 409 && code == "ConditionalRequestConflict")) {
            return fail(ErrorKind::conflict, what, object, text);
        }
        if (resp.status == 403 || resp.status == 401) {
            std::string hint = code == "SignatureDoesNotMatch"
                                   ? "the secret access key is wrong (credentials from " + m_credentials.source() + ")"
                                   : "check the IAM policy: the role needs s3:PutObject, s3:GetObject, s3:ListBucket "
                                     "and s3:DeleteObject "
                                     "on the bucket and prefix";
            return fail(ErrorKind::auth, what, object, text, hint);
        }
        if (retryable(resp.status, resp.body)) {
            return fail(ErrorKind::transient, what, object, text);
        }
        return fail(ErrorKind::failed, what, object, text);
    }

    config::S3StorageConfig m_config;
    CredentialProvider m_credentials;
    std::string m_scheme, m_host;
    bool m_path_style = true;
};

Pairs put_headers(const config::S3StorageConfig& c)
{
    Pairs h;
    if (!c.storage_class.empty()) {
        h.emplace_back("X-Amz-Storage-Class", c.storage_class);
    }
    if (!c.sse.empty()) {
        h.emplace_back("X-Amz-Server-Side-Encryption", c.sse);
        if (c.sse == "aws:kms" && !c.sse_kms_key_id.empty()) {
            h.emplace_back("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", c.sse_kms_key_id);
        }
    }
    return h;
}

class S3Writer final : public ObjectWriter {
public:
    S3Writer(S3Client& client, std::string key) : m_client(client), m_key(std::move(key))
    {
        m_part_size = m_client.config().part_size;
        m_buf.reserve(m_part_size);
    }
    ~S3Writer() override { abort(); }

    Status write(Bytes data) override
    {
        if (m_done) {
            return fail(ErrorKind::failed, "write object", m_key, "writer already closed");
        }
        std::size_t off = 0;
        while (off < data.size()) {
            std::size_t n = std::min(m_part_size - m_buf.size(), data.size() - off);
            m_buf.append(reinterpret_cast<const char*>(data.data()) + off, n);
            off += n;
            if (m_buf.size() == m_part_size) {
                if (auto st = ship_part(); !st) {
                    return st;
                }
            }
        }
        return {};
    }

    Status finish() override
    {
        if (m_done) {
            return fail(ErrorKind::failed, "commit object", m_key, "writer already closed");
        }
        if (m_upload_id.empty()) {
            // Small object: one PUT.
            auto headers = put_headers(m_client.config());
            headers.emplace_back("Content-MD5", content_md5(m_buf));
            auto r = m_client.call("PUT", m_key, {}, headers, m_buf, "upload object");
            m_buf.clear();
            m_done = true;
            if (!r) {
                return std::unexpected(r.error());
            }
            return {};
        }
        if (!m_buf.empty()) {
            if (auto st = ship_part(); !st) {
                return st;
            }
        }
        if (auto st = drain(0); !st) {
            abort();
            return st;
        }
        std::string xml = "<CompleteMultipartUpload>";
        for (const auto& [n, etag] : m_etags) {
            xml +=
                "<Part><PartNumber>" + std::to_string(n) + "</PartNumber><ETag>" + xml_escape(etag) + "</ETag></Part>";
        }
        xml += "</CompleteMultipartUpload>";
        auto r = m_client.call("POST", m_key, {{"uploadId", m_upload_id}}, {{"Content-Type", "application/xml"}}, xml,
                               "complete multipart upload");
        // S3 may answer 200 with an error document.
        if (r && r->body.find("<Error>") != std::string::npos) {
            r = fail(ErrorKind::failed, "complete multipart upload", m_key, xml_value(r->body, "Message"));
        }
        if (!r) {
            abort();
            return std::unexpected(r.error());
        }
        m_done = true;
        return {};
    }

    void abort() noexcept override
    {
        if (m_done) {
            return;
        }
        m_done = true;
        for (auto& f : m_inflight) {
            f.second.wait();
        }
        m_inflight.clear();
        if (!m_upload_id.empty()) {
            auto r =
                m_client.call("DELETE", m_key, {{"uploadId", m_upload_id}}, {}, "", "abort multipart upload", true);
            if (!r) {
                observe::warn("could not abort the multipart upload; a bucket lifecycle rule should clean it up",
                              {{"key", m_key}, {"error", r.error().to_string()}});
            }
        }
    }

private:
    Status ship_part()
    {
        if (m_upload_id.empty()) {
            auto r = m_client.call("POST", m_key, {{"uploads", ""}}, put_headers(m_client.config()), "",
                                   "start multipart upload");
            if (!r) {
                return std::unexpected(r.error());
            }
            m_upload_id = xml_value(r->body, "UploadId");
            if (m_upload_id.empty()) {
                return fail(ErrorKind::failed, "start multipart upload", m_key, "no UploadId in the answer");
            }
        }
        if (m_next_part > static_cast<int>(k_max_parts)) {
            return fail(ErrorKind::failed, "upload object", m_key, "more than 10,000 parts");
        }
        // Room for one more part in flight: wait for the oldest while `concurrency` are running.
        if (auto st = drain(static_cast<std::size_t>(std::max(1, m_client.config().concurrency) - 1)); !st) {
            return st;
        }
        int number = m_next_part++;
        auto part = std::make_shared<std::string>(std::move(m_buf));
        m_buf = std::string();
        // Grow parts every 1,000 so that 10,000 of them hold 5 TiB whatever the configured size.
        if (m_next_part % 1000 == 1 && m_next_part > 1) {
            m_part_size = std::min<std::size_t>(m_part_size * 2, std::size_t{5} << 30);
        }
        m_buf.reserve(m_part_size);
        S3Client* client = &m_client;
        std::string key = m_key, upload = m_upload_id;
        m_inflight.emplace_back(
            number, std::async(std::launch::async, [client, key, upload, number, part]() -> Result<std::string> {
                auto r = client->call("PUT", key, {{"partNumber", std::to_string(number)}, {"uploadId", upload}},
                                      {{"Content-MD5", content_md5(*part)}}, *part, "upload part");
                if (!r) {
                    return std::unexpected(r.error());
                }
                return r->headers["etag"];
            }));
        return {};
    }

    // Waits until at most `keep` parts are in flight.
    Status drain(std::size_t keep)
    {
        while (m_inflight.size() > keep) {
            auto [number, future] = std::move(m_inflight.front());
            m_inflight.pop_front();
            auto etag = future.get();
            if (!etag) {
                return std::unexpected(etag.error());
            }
            m_etags.emplace_back(number, *etag);
        }
        return {};
    }

    S3Client& m_client;
    std::string m_key;
    std::size_t m_part_size;
    std::string m_buf;
    std::string m_upload_id;
    int m_next_part = 1;
    std::deque<std::pair<int, std::future<Result<std::string>>>> m_inflight;
    std::vector<std::pair<int, std::string>> m_etags;
    bool m_done = false;
};

class S3Reader final : public stream::Source {
public:
    S3Reader(S3Client& client, std::string key, std::uint64_t offset, std::uint64_t end)
        : m_client(client), m_key(std::move(key)), m_offset(offset), m_end(end)
    {
    }
    Result<std::size_t> read(MutableBytes out) override
    {
        if (m_pos == m_buf.size()) {
            if (m_offset >= m_end) {
                return 0;
            }
            std::uint64_t last = std::min<std::uint64_t>(m_offset + k_read_chunk, m_end) - 1;
            auto r = m_client.call("GET", m_key, {},
                                   {{"Range", "bytes=" + std::to_string(m_offset) + "-" + std::to_string(last)}}, "",
                                   "read object");
            if (!r) {
                return std::unexpected(r.error());
            }
            if (r->body.size() != last - m_offset + 1) {
                return fail(ErrorKind::transient, "read object", m_key, "short ranged read");
            }
            m_buf = std::move(r->body);
            m_pos = 0;
            m_offset = last + 1;
        }
        std::size_t n = std::min(out.size(), m_buf.size() - m_pos);
        std::memcpy(out.data(), m_buf.data() + m_pos, n);
        m_pos += n;
        return n;
    }

private:
    S3Client& m_client;
    std::string m_key;
    std::uint64_t m_offset, m_end;
    std::string m_buf;
    std::size_t m_pos = 0;
};

std::int64_t parse_iso(const std::string& t)
{
    std::tm tm{};
    if (std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                    &tm.tm_sec) != 6) {
        return 0;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<std::int64_t>(timegm(&tm));
}

class S3Storage final : public Storage {
public:
    explicit S3Storage(const config::S3StorageConfig& c) : m_client(c) {}

    Result<std::unique_ptr<ObjectWriter>> open_writer(const std::string& key) override
    {
        return std::make_unique<S3Writer>(m_client, m_client.full_key(key));
    }

    Result<std::unique_ptr<stream::Source>> open_reader(const std::string& key, ByteRange range) override
    {
        auto info = stat(key);
        if (!info) {
            return std::unexpected(info.error());
        }
        std::uint64_t end = info->size;
        if (range.length) {
            end = std::min(end, range.offset + *range.length);
        }
        return std::make_unique<S3Reader>(m_client, m_client.full_key(key), range.offset, end);
    }

    Result<ObjectInfo> stat(const std::string& key) override
    {
        auto r = m_client.call("HEAD", m_client.full_key(key), {}, {}, "", "stat object");
        if (!r) {
            return std::unexpected(r.error());
        }
        ObjectInfo info{key, 0, 0};
        info.size = std::stoull(r->headers.contains("content-length") ? r->headers["content-length"] : "0");
        return info;
    }

    Result<std::vector<ObjectInfo>> list(const std::string& prefix) override
    {
        std::vector<ObjectInfo> out;
        std::string token;
        for (;;) {
            Pairs q{{"list-type", "2"}, {"prefix", m_client.full_key(prefix)}};
            if (!token.empty()) {
                q.emplace_back("continuation-token", token);
            }
            auto r = m_client.call("GET", "", q, {}, "", "list objects");
            if (!r) {
                return std::unexpected(r.error());
            }
            std::size_t pos = 0;
            while ((pos = r->body.find("<Contents>", pos)) != std::string::npos) {
                auto end = r->body.find("</Contents>", pos);
                std::string item = r->body.substr(pos, end - pos);
                auto key = xml_value(item, "Key");
                out.push_back({m_client.relative_key(key), std::stoull("0" + xml_value(item, "Size")),
                               parse_iso(xml_value(item, "LastModified"))});
                pos = end;
            }
            if (xml_value(r->body, "IsTruncated") != "true") {
                break;
            }
            token = xml_value(r->body, "NextContinuationToken");
            if (token.empty()) {
                return fail(ErrorKind::failed, "list objects", m_client.config().bucket,
                            "truncated listing without a continuation token");
            }
        }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
        return out;
    }

    Status remove(const std::vector<std::string>& keys) override
    {
        for (std::size_t i = 0; i < keys.size(); i += 1000) {
            std::string xml = "<Delete><Quiet>true</Quiet>";
            for (std::size_t j = i; j < std::min(keys.size(), i + 1000); ++j) {
                xml += "<Object><Key>" + xml_escape(m_client.full_key(keys[j])) + "</Key></Object>";
            }
            xml += "</Delete>";
            auto r = m_client.call("POST", "", {{"delete", ""}},
                                   {{"Content-MD5", content_md5(xml)}, {"Content-Type", "application/xml"}}, xml,
                                   "delete objects");
            if (!r) {
                return std::unexpected(r.error());
            }
            if (r->body.find("<Error>") != std::string::npos) {
                return fail(ErrorKind::failed, "delete objects", xml_value(r->body, "Key"),
                            xml_value(r->body, "Message"));
            }
        }
        return {};
    }

    Result<bool> create_if_absent(const std::string& key, const std::string& bytes) override
    {
        auto headers = put_headers(m_client.config());
        headers.emplace_back("If-None-Match", "*");
        headers.emplace_back("Content-MD5", content_md5(bytes));
        auto r = m_client.call("PUT", m_client.full_key(key), {}, headers, bytes, "create object");
        if (!r) {
            if (r.error().kind == ErrorKind::conflict) {
                return false;
            }
            return std::unexpected(r.error());
        }
        return true;
    }

    bool supports_conditional_create() const override { return true; }

    std::string describe() const override
    {
        const auto& c = m_client.config();
        std::string source = m_client.credentials().source();
        return "s3 s3://" + c.bucket + (c.prefix.empty() ? "" : "/" + c.prefix) +
               (c.endpoint.empty() ? "" : " at " + c.endpoint) +
               (source.empty() ? "" : " (credentials: " + source + ")");
    }

    std::vector<Finding> probe(const std::string& key_prefix) override
    {
        std::vector<Finding> out;
        if (auto skew = s3_clock_skew(m_client.config())) {
            long a = *skew < 0 ? -*skew : *skew;
            if (a > 15 * 60) {
                out.push_back(failed("storage.clock", "this clock is " + std::to_string(*skew) + " s off the server's",
                                     "fix the system clock (NTP): SigV4 requests fail past 15 minutes of skew"));
            } else if (a > 5 * 60) {
                out.push_back(warn("storage.clock", "this clock is " + std::to_string(*skew) + " s off the server's",
                                   "enable NTP before the skew reaches 15 minutes"));
            } else {
                out.push_back(pass("storage.clock", "clock within " + std::to_string(a) + " s of the server's"));
            }
        }
        auto round_trip = probe_round_trip(*this, key_prefix,
                                           {.write = "allow s3:PutObject on the bucket and prefix",
                                            .read = "allow s3:GetObject",
                                            .list = "allow s3:ListBucket on the bucket",
                                            .remove = "allow s3:DeleteObject (retention needs it)"});
        out.insert(out.end(), round_trip.begin(), round_trip.end());
        return out;
    }

private:
    mutable S3Client m_client;
};

} // namespace

Result<long> s3_clock_skew(const config::S3StorageConfig& config)
{
    S3Client client(config);
    auto r = client.call("HEAD", "", {}, {}, "", "read the server clock");
    // Any answer carries a Date header, even an error.
    Response resp;
    if (r) {
        resp = *r;
    }
    std::string date = resp.headers.contains("date") ? resp.headers["date"] : "";
    if (date.empty()) {
        return r ? fail(ErrorKind::failed, "read the server clock", config.bucket, "no Date header")
                 : std::unexpected(r.error());
    }
    std::tm tm{};
    if (!strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) {
        return fail(ErrorKind::failed, "read the server clock", config.bucket, "unreadable Date header: " + date);
    }
    auto server = timegm(&tm);
    return static_cast<long>(std::time(nullptr) - server);
}

Result<std::unique_ptr<Storage>> make_s3_storage(const config::S3StorageConfig& config)
{
    static const bool k_curl = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!k_curl) {
        return fail(ErrorKind::failed, "initialise libcurl", "", "curl_global_init failed");
    }
    return std::make_unique<S3Storage>(config);
}

} // namespace dbkeep::storage
