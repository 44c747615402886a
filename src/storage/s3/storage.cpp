// The Storage over one bucket and prefix (the S3 API: ListObjectsV2 with continuation tokens, DeleteObjects
// in batches of 1,000, HeadObject, PutObject with If-None-Match: *, ListMultipartUploads and
// AbortMultipartUpload for the sweep), and the clock-skew probe. Every answer is parsed defensively: a number
// that is not one, an entry without its key, a 200 carrying <Error>, a repeated continuation marker are errors.
#include "storage/s3/client.hpp"
#include "storage/s3/read.hpp"
#include "storage/s3/s3.hpp"
#include "storage/s3/write.hpp"
#include "storage/s3/xml.hpp"

#include "core/time.hpp"
#include "core/url.hpp"
#include "observe/log.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <functional>
#include <optional>
#include <set>

namespace dbkeep::storage {
namespace {

using s3::Client;
using s3::xml_value;

std::int64_t unix_seconds(const std::string& rfc3339)
{
    auto t = parse_rfc3339(rfc3339);
    return t ? std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count() : 0;
}

// A decimal count as S3 writes it (Size, Content-Length); nullopt for anything else.
std::optional<std::uint64_t> parse_count(const std::string& text)
{
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end) {
        return std::nullopt;
    }
    return value;
}

class S3Storage final : public Storage {
public:
    explicit S3Storage(const S3Options& o) : m_client(o) {}

    Result<std::unique_ptr<ObjectWriter>> open_writer(const std::string& key) override
    {
        return s3::make_writer(m_client, m_client.full_key(key));
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
        return s3::make_reader(m_client, m_client.full_key(key), range.offset, end);
    }

    Result<ObjectInfo> stat(const std::string& key) override
    {
        auto r = m_client.call({.method = "HEAD", .key = m_client.full_key(key), .operation = "stat object"});
        if (!r) {
            return std::unexpected(r.error());
        }
        auto size = parse_count(r->header("content-length").value_or(""));
        if (!size) {
            return fail(ErrorKind::corruption, "stat object", key, "the server answered an unreadable Content-Length",
                        "check the endpoint is an S3 server");
        }
        return ObjectInfo{key, *size, 0};
    }

    Result<std::vector<ObjectInfo>> list(const std::string& prefix) override
    {
        std::vector<ObjectInfo> out;
        auto pages = list_pages(
            "list objects", {{"list-type", "2"}, {"prefix", m_client.full_key(prefix)}}, "continuation-token",
            {"NextContinuationToken"}, [&](const std::string& body) -> Status {
                for (const auto& item : s3::xml_values(body, "Contents")) {
                    auto key = xml_value(item, "Key");
                    auto size = parse_count(xml_value(item, "Size"));
                    if (key.empty() || !size) {
                        return std::unexpected(listing_error("list objects", "an entry without a Key or with an "
                                                                             "unreadable Size"));
                    }
                    out.push_back({m_client.relative_key(key), *size, unix_seconds(xml_value(item, "LastModified"))});
                }
                return {};
            });
        if (!pages) {
            return std::unexpected(pages.error());
        }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
        return out;
    }

    // Multipart uploads begun under prefix and never completed or aborted (ListMultipartUploads): a backup
    // killed before it could abort its upload leaves one, and the bucket bills its parts until it is aborted.
    Result<std::vector<IncompleteWrite>> list_incomplete(const std::string& prefix) override
    {
        std::vector<IncompleteWrite> out;
        auto pages = list_pages("list multipart uploads", {{"uploads", ""}, {"prefix", m_client.full_key(prefix)}}, "",
                                {"NextKeyMarker", "NextUploadIdMarker"}, [&](const std::string& body) -> Status {
                                    for (const auto& item : s3::xml_values(body, "Upload")) {
                                        auto key = xml_value(item, "Key");
                                        auto upload = xml_value(item, "UploadId");
                                        if (key.empty() || upload.empty()) {
                                            return std::unexpected(listing_error(
                                                "list multipart uploads", "an upload without a Key or an UploadId"));
                                        }
                                        out.push_back({.key = m_client.relative_key(key),
                                                       .handle = m_client.relative_key(key) + "?uploadId=" + upload,
                                                       .modified_unix = unix_seconds(xml_value(item, "Initiated")),
                                                       .size = 0});
                                    }
                                    return {};
                                });
        if (!pages && s3::not_implemented(pages.error())) {
            // The store cannot list them (s3rver, some S3-compatible servers): there is nothing to sweep that
            // dbkeep can find; each failed upload is still aborted by the writer that began it.
            observe::debug("the store does not list multipart uploads; incomplete uploads are not swept",
                           {{"prefix", prefix}, {"error", pages.error().message}});
            return out;
        }
        if (!pages) {
            return std::unexpected(pages.error());
        }
        return out;
    }

    Status discard_incomplete(const IncompleteWrite& write) override
    {
        const auto at = write.handle.rfind("?uploadId=");
        if (at == std::string::npos) {
            return fail(ErrorKind::failed, "abort multipart upload", write.handle, "not a multipart upload handle");
        }
        auto r = m_client.call({.method = "DELETE",
                                .key = m_client.full_key(write.handle.substr(0, at)),
                                .query = {{"uploadId", write.handle.substr(at + 10)}},
                                .operation = "abort multipart upload"});
        if (!r && r.error().kind != ErrorKind::not_found) {
            return std::unexpected(r.error());
        }
        return {};
    }

    Status remove(const std::vector<std::string>& keys) override
    {
        for (std::size_t i = 0; i < keys.size(); i += 1000) {
            std::string xml = "<Delete><Quiet>true</Quiet>";
            for (std::size_t j = i; j < std::min(keys.size(), i + 1000); ++j) {
                xml += "<Object><Key>" + s3::xml_escape(m_client.full_key(keys[j])) + "</Key></Object>";
            }
            xml += "</Delete>";
            auto r =
                m_client.call({.method = "POST",
                               .query = {{"delete", ""}},
                               .headers = {{"Content-MD5", s3::content_md5(xml)}, {"Content-Type", "application/xml"}},
                               .body = xml,
                               .operation = "delete objects"});
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
        auto headers = s3::put_headers(m_client.options());
        headers.emplace_back("If-None-Match", "*");
        headers.emplace_back("Content-MD5", s3::content_md5(bytes));
        auto r = m_client.call({.method = "PUT",
                                .key = m_client.full_key(key),
                                .headers = headers,
                                .body = bytes,
                                .operation = "create object"});
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
        const auto& o = m_client.options();
        std::string source = m_client.credentials().source();
        return "s3 s3://" + o.bucket + (o.prefix.empty() ? "" : "/" + o.prefix) +
               (o.endpoint.empty() ? "" : " at " + o.endpoint) +
               (source.empty() ? "" : " (credentials: " + source + ")");
    }

    std::vector<Finding> probe(const std::string& key_prefix) override
    {
        std::vector<Finding> out;
        if (auto skew = s3_clock_skew(m_client.options())) {
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
    Error listing_error(const std::string& operation, const std::string& what) const
    {
        return Error{ErrorKind::corruption, operation, m_client.options().bucket, "the server's listing holds " + what,
                     "check that the endpoint is an S3 server"};
    }

    // Reads every page of a listing: page(body) for each, following the markers the answer names in next_tags
    // (ListObjectsV2: NextContinuationToken, sent back as token_query; ListMultipartUploads: NextKeyMarker and
    // NextUploadIdMarker, sent back as key-marker and upload-id-marker). A 200 whose body is an <Error> document, a
    // truncated page without a marker, or a marker that repeats (a server that would make us loop forever) is an error.
    Status list_pages(const std::string& operation, const sigv4::Pairs& query, const std::string& token_query,
                      const std::vector<std::string>& next_tags, const std::function<Status(const std::string&)>& page)
    {
        std::vector<std::string> markers;
        std::set<std::vector<std::string>> seen;
        for (;;) {
            sigv4::Pairs q = query;
            for (std::size_t i = 0; i < markers.size(); ++i) {
                q.emplace_back(token_query.empty() ? marker_query(next_tags[i]) : token_query, markers[i]);
            }
            auto r = m_client.call({.method = "GET", .query = q, .operation = operation});
            if (!r) {
                return std::unexpected(r.error());
            }
            if (r->body.find("<Error>") != std::string::npos) {
                return fail(ErrorKind::failed, operation, m_client.options().bucket,
                            "the server answered 200 with an error: " + xml_value(r->body, "Code") + " " +
                                xml_value(r->body, "Message"));
            }
            if (r->body.find("<ListBucketResult") == std::string::npos &&
                r->body.find("<ListMultipartUploadsResult") == std::string::npos) {
                return std::unexpected(listing_error(operation, "no listing document"));
            }
            if (auto st = page(r->body); !st) {
                return st;
            }
            if (xml_value(r->body, "IsTruncated") != "true") {
                return {};
            }
            markers.clear();
            for (const auto& tag : next_tags) {
                markers.push_back(xml_value(r->body, tag));
            }
            if (markers.empty() || markers.front().empty()) {
                return fail(ErrorKind::failed, operation, m_client.options().bucket,
                            "truncated listing without a continuation marker");
            }
            if (!seen.insert(markers).second) {
                return fail(ErrorKind::failed, operation, m_client.options().bucket,
                            "the listing repeats its continuation marker: the server would make it loop forever");
            }
        }
    }

    // NextKeyMarker -> key-marker, NextUploadIdMarker -> upload-id-marker (ListMultipartUploads).
    static std::string marker_query(const std::string& tag)
    {
        return tag == "NextKeyMarker" ? "key-marker" : "upload-id-marker";
    }

    mutable Client m_client;
};

} // namespace

std::optional<std::string> s3_endpoint_problem(const std::string& endpoint)
{
    if (endpoint.empty()) {
        return std::nullopt;
    }
    auto url = parse_url(endpoint);
    if (!url || (url->scheme != "http" && url->scheme != "https")) {
        return "must start with http:// or https://";
    }
    if (url->host.empty()) {
        return "must name a host";
    }
    if (!url->user.empty() || !url->password.empty()) {
        return "must not carry credentials (use access_key_id and secret_access_key)";
    }
    if (!url->path.empty() || !url->query.empty() || endpoint.find('?') != std::string::npos) {
        return "must not have a path or query (the bucket goes in 'bucket', a folder in 'prefix')";
    }
    return std::nullopt;
}

Result<long> s3_clock_skew(const S3Options& options)
{
    Client client(options);
    // Any answer carries a Date header, an error too: a 403 RequestTimeTooSkewed is the case this is for.
    auto r = client.exchange({.method = "HEAD", .operation = "read the server clock"});
    if (!r) {
        return std::unexpected(r.error());
    }
    auto date = r->header("date");
    if (!date || date->empty()) {
        return fail(ErrorKind::failed, "read the server clock", options.bucket, "no Date header");
    }
    std::tm tm{};
    if (!strptime(date->c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) {
        return fail(ErrorKind::failed, "read the server clock", options.bucket, "unreadable Date header: " + *date);
    }
    auto server = std::chrono::system_clock::from_time_t(timegm(&tm));
    return static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(client.now() - server).count());
}

Result<std::unique_ptr<Storage>> make_s3_storage(const S3Options& options)
{
    return std::make_unique<S3Storage>(options);
}

} // namespace dbkeep::storage
