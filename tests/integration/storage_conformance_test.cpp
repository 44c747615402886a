// One conformance suite for every storage backend: the same behaviour from a local folder and from an
// S3-compatible server that checks SigV4 signatures (s3rver).
#include "config/config.hpp"
#include "storage/local.hpp"
#include "storage/s3/s3.hpp"
#include "support/random_bytes.hpp"
#include "support/s3_fixture.hpp"
#include "support/tcp_proxy.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::test;

namespace {

storage::S3Options s3_config(int port, const std::string& bucket)
{
    storage::S3Options c;
    c.bucket = bucket;
    c.prefix = "ci/prefix";
    c.region = "us-east-1";
    c.endpoint = "http://127.0.0.1:" + std::to_string(port);
    c.part_size = 5 << 20;
    c.concurrency = 3;
    c.access_key_id = S3Server::k_key;
    c.secret_access_key = Secret(S3Server::k_secret);
    return c;
}

Status write_object(storage::Storage& s, const std::string& key, const std::string& data, std::size_t step = 1 << 20)
{
    auto w = s.open_writer(key);
    if (!w) {
        return std::unexpected(w.error());
    }
    for (std::size_t off = 0; off < data.size(); off += step) {
        if (auto st = (*w)->write(as_bytes(std::string_view(data).substr(off, step))); !st) {
            return st;
        }
    }
    return (*w)->finish();
}

class Conformance : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override
    {
        if (GetParam() == "local") {
            m_storage = storage::make_local_storage({.root = m_dir.path() / "root"});
            return;
        }
        if (auto reason = S3Server::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        m_s3 = std::make_unique<S3Server>();
        m_storage = *storage::make_s3_storage(s3_config(m_s3->port(), m_s3->bucket()));
    }

    TempDir m_dir;
    std::unique_ptr<S3Server> m_s3;
    std::unique_ptr<storage::Storage> m_storage;
};

} // namespace

TEST_P(Conformance, WritesReadsAndStatsSmallObjects)
{
    ASSERT_TRUE(write_object(*m_storage, "t/a.txt", "hello"));
    EXPECT_EQ(*storage::get_object(*m_storage, "t/a.txt"), "hello");
    EXPECT_EQ(m_storage->stat("t/a.txt")->size, 5u);
    ASSERT_TRUE(write_object(*m_storage, "t/empty", ""));
    EXPECT_EQ(*storage::get_object(*m_storage, "t/empty"), "");
    ASSERT_TRUE(write_object(*m_storage, "t/a.txt", "replaced"));
    EXPECT_EQ(*storage::get_object(*m_storage, "t/a.txt"), "replaced");
}

TEST_P(Conformance, MissingObjectsAreNotFound)
{
    auto r = m_storage->open_reader("t/missing");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::not_found);
    auto s = m_storage->stat("t/missing");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, ErrorKind::not_found);
    EXPECT_TRUE(m_storage->remove({"t/missing"})) << "removing a missing key is not an error";
}

TEST_P(Conformance, LargeObjectsStreamInPartsAndReadBackWithRanges)
{
    auto data = random_bytes(17 * 1024 * 1024 + 123, 1); // four 5 MiB parts on S3
    ASSERT_TRUE(write_object(*m_storage, "big/object.bin", data, 1000003));
    auto back = storage::get_object(*m_storage, "big/object.bin", 64 << 20);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_TRUE(*back == data);
    auto ranged =
        m_storage->open_reader("big/object.bin", storage::ByteRange{.offset = 9 * 1024 * 1024, .length = 100});
    ASSERT_TRUE(ranged);
    EXPECT_EQ(*stream::read_all(**ranged), data.substr(9 * 1024 * 1024, 100));
    auto tail = m_storage->open_reader("big/object.bin",
                                       storage::ByteRange{.offset = data.size() - 10, .length = std::nullopt});
    EXPECT_EQ(*stream::read_all(**tail), data.substr(data.size() - 10));
}

TEST_P(Conformance, ListsByPrefixInKeyOrderAcrossPages)
{
    const int n = GetParam() == "local" ? 30 : 1005; // more than one ListObjectsV2 page of 1000
    for (int i = 0; i < n; ++i) {
        char key[32];
        std::snprintf(key, sizeof key, "many/%05d", i);
        ASSERT_TRUE(write_object(*m_storage, key, "x"));
    }
    ASSERT_TRUE(write_object(*m_storage, "other/key", "y"));
    auto listed = m_storage->list("many/");
    ASSERT_TRUE(listed) << listed.error().to_string();
    ASSERT_EQ(listed->size(), static_cast<std::size_t>(n));
    EXPECT_EQ(listed->front().key, "many/00000");
    EXPECT_EQ(listed->back().key, (n == 30 ? "many/00029" : "many/01004"));
    EXPECT_EQ(listed->front().size, 1u);
}

TEST_P(Conformance, RemovesObjectsInBatches)
{
    std::vector<std::string> keys;
    for (int i = 0; i < 12; ++i) {
        keys.push_back("rm/" + std::to_string(i));
        ASSERT_TRUE(write_object(*m_storage, keys.back(), "z"));
    }
    auto removed = m_storage->remove(keys);
    ASSERT_TRUE(removed) << removed.error().to_string();
    EXPECT_TRUE(m_storage->list("rm/")->empty());
}

TEST_P(Conformance, AbortedWriterLeavesNothing)
{
    {
        auto w = m_storage->open_writer("ab/partial");
        ASSERT_TRUE(w);
        auto data = random_bytes(11 * 1024 * 1024, 2); // starts a multipart upload on S3
        ASSERT_TRUE((*w)->write(as_bytes(data)));
        (*w)->abort();
    }
    {
        auto w = m_storage->open_writer("ab/dropped");
        ASSERT_TRUE((*w)->write(as_bytes(std::string("never committed"))));
        // destroyed without finish()
    }
    EXPECT_TRUE(m_storage->list("ab/")->empty());
    EXPECT_EQ(m_storage->stat("ab/partial").error().kind, ErrorKind::not_found);
}

TEST_P(Conformance, CreateIfAbsentCreatesOnce)
{
    auto first = m_storage->create_if_absent("lease/x.json", "one");
    ASSERT_TRUE(first) << first.error().to_string();
    EXPECT_TRUE(*first);
    EXPECT_EQ(*storage::get_object(*m_storage, "lease/x.json"), "one");
    if (GetParam() == "s3") {
        GTEST_SKIP()
            << "s3rver ignores If-None-Match on PUT: S3Wire.CreateIfAbsentSendsIfNoneMatch checks what dbkeep sends";
    }
    EXPECT_FALSE(*m_storage->create_if_absent("lease/x.json", "two"));
    EXPECT_EQ(*storage::get_object(*m_storage, "lease/x.json"), "one");
}

INSTANTIATE_TEST_SUITE_P(Backends, Conformance, ::testing::Values("local", "s3"),
                         [](const auto& param_info) { return param_info.param; });

// What dbkeep sends, where s3rver cannot show it (recorded on the wire).
class S3Wire : public S3Test {
protected:
    void SetUp() override
    {
        S3Test::SetUp();
        if (IsSkipped()) {
            return;
        }
        m_proxy = std::make_unique<TcpProxy>(m_s3->port());
        m_storage = *storage::make_s3_storage(s3_config(m_proxy->port(), m_s3->bucket()));
    }
    std::unique_ptr<TcpProxy> m_proxy;
    std::unique_ptr<storage::Storage> m_storage;
};

TEST_F(S3Wire, CreateIfAbsentSendsIfNoneMatch)
{
    ASSERT_TRUE(m_storage->create_if_absent("l/lease.json", "{}"));
    auto sent = m_proxy->recorded();
    EXPECT_NE(sent.find("PUT /dbkeep-test/ci/prefix/l/lease.json"), std::string::npos) << sent.substr(0, 500);
    EXPECT_NE(sent.find("If-None-Match: *"), std::string::npos);
}

TEST_F(S3Wire, AbortSendsAbortMultipartUpload)
{
    {
        auto w = m_storage->open_writer("ab/partial");
        ASSERT_TRUE((*w)->write(as_bytes(random_bytes(6 * 1024 * 1024, 3))));
        (*w)->abort();
    }
    auto sent = m_proxy->recorded();
    EXPECT_NE(sent.find("POST /dbkeep-test/ci/prefix/ab/partial?uploads="), std::string::npos);
    EXPECT_NE(sent.find("DELETE /dbkeep-test/ci/prefix/ab/partial?uploadId="), std::string::npos);
    EXPECT_EQ(sent.find("x-amz-checksum-crc32"), std::string::npos) << "no CRC32 checksum headers";
    EXPECT_NE(sent.find("Content-MD5: "), std::string::npos);
}

TEST_F(S3Wire, ResetConnectionsAreRetriedAndTheUploadCompletes)
{
    m_proxy->reset_connections(3, 100 * 1024);
    auto data = random_bytes(12 * 1024 * 1024, 4);
    auto st = write_object(*m_storage, "retry/object", data);
    ASSERT_TRUE(st) << st.error().to_string();
    EXPECT_GE(m_proxy->resets_done(), 1);
    EXPECT_TRUE(*storage::get_object(*m_storage, "retry/object", 64 << 20) == data);
}

TEST_F(S3Wire, WrongSecretIsAnAuthErrorNamingTheCause)
{
    auto c = s3_config(m_s3->port(), m_s3->bucket());
    c.secret_access_key = Secret("definitely-wrong-secret");
    auto bad = *storage::make_s3_storage(c);
    auto st = write_object(*bad, "x/y", "data");
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind, ErrorKind::auth);
    EXPECT_NE(st.error().to_string().find("SignatureDoesNotMatch"), std::string::npos) << st.error().to_string();
    EXPECT_EQ(st.error().to_string().find("definitely-wrong-secret"), std::string::npos);
    EXPECT_TRUE(m_storage->list("x/")->empty());
}

TEST_F(S3Wire, StalledTransfersAreAbortedAndRetried)
{
    auto c = s3_config(m_proxy->port(), m_s3->bucket());
    c.stall_timeout = std::chrono::seconds(2);
    auto s = *storage::make_s3_storage(c);
    m_proxy->stall_connections(2, 200 * 1024, 30);
    auto data = random_bytes(11 * 1024 * 1024, 5);
    auto t0 = std::chrono::steady_clock::now();
    auto st = write_object(*s, "stall/object", data);
    ASSERT_TRUE(st) << st.error().to_string();
    EXPECT_GE(m_proxy->stalls_done(), 1);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(25)) << "retried long before the stall ended";
    EXPECT_TRUE(*storage::get_object(*s, "stall/object", 64 << 20) == data);
}
