#include "storage/s3/client.hpp"

#include "core/retry.hpp"
#include "observe/log.hpp"
#include "storage/s3/xml.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <openssl/evp.h>

namespace dbkeep::storage::s3 {
namespace {

constexpr std::string_view k_not_implemented = "HTTP 501";

bool retryable(long status, const std::string& body)
{
    return http::retryable_status(status) || (status == 400 && body.find("RequestTimeout") != std::string::npos) ||
           body.find("SlowDown") != std::string::npos;
}

std::string base64(const unsigned char* d, std::size_t n)
{
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), d, static_cast<int>(n));
    out.resize(static_cast<std::size_t>(len));
    return out;
}

} // namespace

bool not_implemented(const Error& error) noexcept
{
    return error.message.starts_with(k_not_implemented);
}

std::string content_md5(std::string_view body)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(body.data(), body.size(), md, &len, EVP_md5(), nullptr);
    return base64(md, len);
}

sigv4::Pairs put_headers(const S3Options& o)
{
    sigv4::Pairs h;
    if (!o.storage_class.empty()) {
        h.emplace_back("X-Amz-Storage-Class", o.storage_class);
    }
    if (o.sse != ServerSideEncryption::none) {
        h.emplace_back("X-Amz-Server-Side-Encryption", o.sse == ServerSideEncryption::kms ? "aws:kms" : "AES256");
        if (o.sse == ServerSideEncryption::kms && !o.sse_kms_key_id.empty()) {
            h.emplace_back("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", o.sse_kms_key_id);
        }
    }
    return h;
}

Client::Client(const S3Options& o) : m_options(o), m_credentials(o), m_region(o.region)
{
    std::string endpoint = o.endpoint.empty() ? "https://s3." + o.region + ".amazonaws.com" : o.endpoint;
    while (!endpoint.empty() && endpoint.back() == '/') {
        endpoint.pop_back();
    }
    auto scheme_end = endpoint.find("://");
    m_scheme = endpoint.substr(0, scheme_end);
    m_host = scheme_end == std::string::npos ? endpoint : endpoint.substr(scheme_end + 3);
    m_path_style = o.path_style == PathStyle::path || (o.path_style == PathStyle::automatic && !o.endpoint.empty());
    if (!m_path_style) {
        m_host = o.bucket + "." + m_host;
    }
}

std::string Client::full_key(const std::string& key) const
{
    return m_options.prefix.empty() ? key : m_options.prefix + "/" + key;
}

std::string Client::relative_key(const std::string& full) const
{
    return m_options.prefix.empty() ? full : full.substr(m_options.prefix.size() + 1);
}

std::chrono::system_clock::time_point Client::now() const
{
    return std::chrono::system_clock::now() + m_options.clock_offset;
}

Result<http::Response> Client::exchange(const Call& call)
{
    RetryPolicy policy{.ignore_cancel = call.cleanup};
    policy.on_retry = [&call](int attempt, const Error& last) {
        observe::debug("retrying S3 request",
                       {{"operation", call.operation}, {"attempt", std::to_string(attempt)}, {"error", last.message}});
    };
    return with_retry(policy, [&]() -> Result<http::Response> {
        auto r = once(call);
        if (r && retryable(r->status, r->body)) {
            return std::unexpected(to_error(call, *r));
        }
        return r;
    });
}

std::pair<std::string, std::string> Client::region_and_host() const
{
    std::lock_guard lock(m_region_mutex);
    return {m_region, m_host};
}

bool Client::follow_region(const http::Response& resp)
{
    if (m_options.region_given || (resp.status != 301 && resp.status != 307)) {
        return false;
    }
    const std::string region = resp.header("x-amz-bucket-region").value_or("");
    const bool plausible = !region.empty() && region.size() <= 32 &&
                           std::all_of(region.begin(), region.end(),
                                       [](unsigned char c) { return std::islower(c) || std::isdigit(c) || c == '-'; });
    std::lock_guard lock(m_region_mutex);
    if (!plausible || region == m_region) {
        return false;
    }
    observe::warn("the bucket is in another region: using it",
                  {{"bucket", m_options.bucket},
                   {"region", region},
                   {"hint", "set region: " + region + " on the storage to skip this request"}});
    if (m_options.endpoint.empty()) {
        m_host = (m_path_style ? "" : m_options.bucket + ".") + "s3." + region + ".amazonaws.com";
    }
    m_region = region;
    return true;
}

Result<http::Response> Client::call(const Call& call)
{
    auto r = exchange(call);
    if (r && follow_region(*r)) {
        r = exchange(call); // once: the region is now the bucket's own
    }
    if (!r) {
        return r;
    }
    if (r->status >= 200 && r->status < 300) {
        return r;
    }
    return std::unexpected(to_error(call, *r));
}

Result<http::Response> Client::once(const Call& call)
{
    const std::string object = "s3://" + m_options.bucket + "/" + call.key;
    auto cred = m_credentials.get();
    if (!cred) {
        return std::unexpected(cred.error());
    }
    const auto [region, host] = region_and_host();
    std::string path =
        m_path_style ? "/" + m_options.bucket + (call.key.empty() ? "" : "/" + call.key) : "/" + call.key;
    sigv4::Request req;
    req.method = call.method;
    req.path = path;
    req.query = call.query;
    req.headers = call.headers;
    req.headers.emplace_back("Host", host);
    req.payload_sha256 = m_scheme == "https" ? "UNSIGNED-PAYLOAD" : sigv4::sha256_hex(call.body);
    sigv4::Options opt{.region = region, .service = "s3", .time = now()};
    auto s = sigv4::sign(req, *cred, opt);

    http::Request h;
    h.method = call.method;
    h.url = m_scheme + "://" + host + sigv4::uri_encode(path, false);
    std::vector<std::pair<std::string, std::string>> q;
    for (const auto& [k, v] : call.query) {
        q.emplace_back(sigv4::uri_encode(k, true), sigv4::uri_encode(v, true));
    }
    std::sort(q.begin(), q.end());
    for (std::size_t i = 0; i < q.size(); ++i) {
        h.url += (i == 0 ? "?" : "&") + q[i].first + "=" + q[i].second;
    }
    h.headers = call.headers;
    h.headers.insert(h.headers.end(), s.added_headers.begin(), s.added_headers.end());
    h.headers.emplace_back("Authorization", s.authorization);
    bool has_type = std::any_of(call.headers.begin(), call.headers.end(),
                                [](const auto& header) { return header.first == "Content-Type"; });
    if (!has_type) {
        h.headers.emplace_back("Content-Type", ""); // no default form type from libcurl
    }
    // The body is streamed from the caller's buffer (a 16 MiB multipart part is not copied per attempt).
    if (!call.body.empty()) {
        auto sent = std::make_shared<std::size_t>(0);
        h.reader = [body = call.body, sent](MutableBytes out) -> Result<std::size_t> {
            const std::size_t n = std::min(out.size(), body.size() - *sent);
            std::memcpy(out.data(), body.data() + *sent, n);
            *sent += n;
            return n;
        };
        h.reader_size = call.body.size();
    }
    h.low_speed_time = m_options.stall_timeout; // a stalled (or trickling) transfer fails and is retried
    h.low_speed_bytes = call.slow_answer ? 1 : k_min_transfer_rate;
    h.max_body = std::size_t{64} << 20; // ranged reads ask for 8 MiB; listings are ~1 MiB
    h.ignore_cancel = call.cleanup;
    return http::perform(h, call.operation, object);
}

Error Client::to_error(const Call& call, const http::Response& resp)
{
    const std::string object = "s3://" + m_options.bucket + "/" + call.key;
    std::string code = xml_value(resp.body, "Code"), message = xml_value(resp.body, "Message");
    std::string text = "HTTP " + std::to_string(resp.status) + (code.empty() ? "" : " " + code) +
                       (message.empty() ? "" : ": " + message);
    if (resp.status == 404) {
        return Error{ErrorKind::not_found, call.operation, object, text,
                     error_hint(resp.status, code, call.operation, m_options.bucket, m_credentials.source())};
    }
    // The bucket lives in another region: S3 says which (x-amz-bucket-region, <Region>, <Endpoint>).
    if (resp.status == 301 || resp.status == 307 || code == "PermanentRedirect" ||
        code == "AuthorizationHeaderMalformed") {
        std::string region = resp.header("x-amz-bucket-region").value_or(xml_value(resp.body, "Region"));
        const std::string endpoint = xml_value(resp.body, "Endpoint");
        const auto printable = [](const std::string& s) {
            return s.size() <= 64 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
                       return std::isalnum(c) || c == '-' || c == '.' || c == '_';
                   });
        };
        if (!printable(region)) {
            region.clear();
        }
        text += region.empty() ? "" : ": the bucket is in region " + region;
        text += endpoint.empty() || !printable(endpoint) ? "" : " (endpoint " + endpoint + ")";
        return Error{ErrorKind::config, call.operation, object, text,
                     region.empty() ? "set the storage's region to the bucket's region"
                                    : "set region: " + region + " on the storage (or AWS_REGION=" + region + ")"};
    }
    if (resp.status == 412 || (resp.status == 409 && code == "ConditionalRequestConflict")) {
        return Error{ErrorKind::conflict, call.operation, object, text, {}};
    }
    if (resp.status == 403 || resp.status == 401) {
        return Error{ErrorKind::auth, call.operation, object, text,
                     error_hint(resp.status, code, call.operation, m_options.bucket, m_credentials.source())};
    }
    if (retryable(resp.status, resp.body)) {
        return Error{ErrorKind::transient, call.operation, object, text, {}};
    }
    return Error{ErrorKind::failed, call.operation, object, text, {}};
}

namespace {

// The IAM action a call needs, by its Call::operation.
std::string permission_for(const std::string& operation)
{
    if (operation == "read object" || operation == "stat object") {
        return "s3:GetObject";
    }
    if (operation == "list objects") {
        return "s3:ListBucket";
    }
    if (operation == "list multipart uploads") {
        return "s3:ListBucketMultipartUploads";
    }
    if (operation == "delete objects") {
        return "s3:DeleteObject";
    }
    if (operation == "abort multipart upload") {
        return "s3:AbortMultipartUpload";
    }
    if (operation == "upload object" || operation == "create object" || operation == "upload part" ||
        operation == "start multipart upload" || operation == "complete multipart upload") {
        return "s3:PutObject";
    }
    return {};
}

} // namespace

std::string error_hint(long status, const std::string& code, const std::string& operation, const std::string& bucket,
                       const std::string& credential_source)
{
    const std::string from = credential_source.empty() ? "" : " (credentials from " + credential_source + ")";
    if (code == "NoSuchBucket") {
        return "the bucket " + bucket + " does not exist: create it, or fix the storage's bucket (and endpoint)";
    }
    if (code == "SignatureDoesNotMatch") {
        return "the secret access key is wrong" + from;
    }
    if (code == "InvalidAccessKeyId") {
        return "the server knows no such access key id: fix it, or the credentials it comes from" + from;
    }
    if (code == "ExpiredToken" || code == "TokenRefreshRequired" || code == "InvalidToken") {
        return "the session token has expired or is not valid: refresh the temporary credentials" + from;
    }
    if (code == "RequestTimeTooSkewed") {
        return "this machine's clock is more than 15 minutes off: fix it (NTP)";
    }
    // Retried with backoff before this (retryable): the server kept failing, which no setting here causes.
    if (code == "SlowDown") {
        return "the server kept asking to slow down (throttling) through every retry: retry later, or spread the "
               "targets' schedules so fewer backups write to the bucket at once";
    }
    if (status >= 500 && status <= 599 && status != 501) {
        return "the storage server failed (HTTP " + std::to_string(status) +
               ") on every retry: it is down or overloaded, not refusing this request; retry later and check the "
               "service's status";
    }
    if ((status == 401 || status == 403) && (code == "AccessDenied" || code.empty())) {
        const std::string action = permission_for(operation);
        return "check the IAM policy: " +
               (action.empty() ? std::string("the role needs this request's permission") : "the role needs " + action) +
               " on the bucket " + bucket + " and the storage's prefix";
    }
    return {};
}

} // namespace dbkeep::storage::s3
