#include "storage/s3/write.hpp"

#include "observe/log.hpp"
#include "storage/s3/xml.hpp"

#include <algorithm>
#include <deque>
#include <future>

namespace dbkeep::storage::s3 {
namespace {

constexpr std::size_t k_max_parts = 10000;

class Writer final : public ObjectWriter {
public:
    Writer(Client& client, std::string key) : m_client(client), m_key(std::move(key))
    {
        m_part_size = m_client.options().part_size;
        m_buf.reserve(m_part_size);
    }
    ~Writer() override { abort(); }

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
            auto headers = put_headers(m_client.options());
            headers.emplace_back("Content-MD5", content_md5(m_buf));
            auto r = m_client.call(
                {.method = "PUT", .key = m_key, .headers = headers, .body = m_buf, .operation = "upload object"});
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
        auto r = m_client.call({.method = "POST",
                                .key = m_key,
                                .query = {{"uploadId", m_upload_id}},
                                .headers = {{"Content-Type", "application/xml"}},
                                .body = xml,
                                .operation = "complete multipart upload",
                                .slow_answer = true});
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
            auto r = m_client.call({.method = "DELETE",
                                    .key = m_key,
                                    .query = {{"uploadId", m_upload_id}},
                                    .operation = "abort multipart upload",
                                    .cleanup = true});
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
            auto r = m_client.call({.method = "POST",
                                    .key = m_key,
                                    .query = {{"uploads", ""}},
                                    .headers = put_headers(m_client.options()),
                                    .operation = "start multipart upload"});
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
        if (auto st = drain(static_cast<std::size_t>(std::max(1, m_client.options().concurrency) - 1)); !st) {
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
        Client* client = &m_client;
        std::string key = m_key, upload = m_upload_id;
        m_inflight.emplace_back(
            number, std::async(std::launch::async, [client, key, upload, number, part]() -> Result<std::string> {
                auto r = client->call({.method = "PUT",
                                       .key = key,
                                       .query = {{"partNumber", std::to_string(number)}, {"uploadId", upload}},
                                       .headers = {{"Content-MD5", content_md5(*part)}},
                                       .body = *part,
                                       .operation = "upload part"});
                if (!r) {
                    return std::unexpected(r.error());
                }
                return r->header("etag").value_or("");
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

    Client& m_client;
    std::string m_key;
    std::size_t m_part_size;
    std::string m_buf;
    std::string m_upload_id;
    int m_next_part = 1;
    std::deque<std::pair<int, std::future<Result<std::string>>>> m_inflight;
    std::vector<std::pair<int, std::string>> m_etags;
    bool m_done = false;
};

} // namespace

std::unique_ptr<ObjectWriter> make_writer(Client& client, std::string full_key)
{
    return std::make_unique<Writer>(client, std::move(full_key));
}

} // namespace dbkeep::storage::s3
