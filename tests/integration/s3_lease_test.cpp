// Leases on S3 (s3rver), where a release is real requests that honour cancellation unless they are told not
// to. Lease.HeldLeaseIsReleasedEvenAfterCancellation (tests/unit/catalog/lease_test.cpp) runs on a local folder,
// whose delete ignores cancellation: it proves nothing about S3. The field report it answers: after SIGTERM the
// S3 lease was not released ("cannot release the lease ... cancelled by signal"), blocking the next run for
// lease_ttl.
#include "catalog/lease.hpp"
#include "catalog/naming.hpp"
#include "core/cancel.hpp"
#include "storage/s3/s3.hpp"
#include "support/s3_fixture.hpp"
#include "support/tcp_proxy.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;
using namespace dbkeep::catalog;
using namespace dbkeep::test;
using namespace std::chrono_literals;

namespace {

// Resets process-wide cancellation however the test ends.
struct CancelReset {
    CancelReset() = default;
    ~CancelReset() { cancel::reset(); }
    CancelReset(const CancelReset&) = delete;
    CancelReset& operator=(const CancelReset&) = delete;
};

// Both protocols: conditional create (lease.json, read back then deleted on release) and claims (what s3rver
// needs: the runner's claim, deleted on release).
class S3Lease : public S3Test, public ::testing::WithParamInterface<LeaseProtocol> {
protected:
    void SetUp() override
    {
        S3Test::SetUp();
        if (IsSkipped()) {
            return;
        }
        m_proxy = std::make_unique<TcpProxy>(m_s3->port());
        storage::S3Options c;
        c.bucket = m_s3->bucket();
        c.prefix = "leases";
        c.endpoint = "http://127.0.0.1:" + std::to_string(m_proxy->port());
        c.access_key_id = S3Server::k_key;
        c.secret_access_key = Secret(S3Server::k_secret);
        auto s = storage::make_s3_storage(c);
        ASSERT_TRUE(s) << s.error().to_string();
        m_storage = std::move(*s);
    }

    // Every key under the target's folder.
    std::vector<std::string> stored(const std::string& target) const
    {
        std::vector<std::string> keys;
        auto l = m_storage->list(target_prefix(target));
        EXPECT_TRUE(l) << l.error().to_string();
        for (const auto& o : l.value_or(std::vector<storage::ObjectInfo>{})) {
            keys.push_back(o.key);
        }
        return keys;
    }

    std::unique_ptr<TcpProxy> m_proxy;
    std::unique_ptr<storage::Storage> m_storage;
};

} // namespace

// Guards the release path of HeldLease (catalog/lease.cpp: ~HeldLease releases inside a cancel::Shield, so
// the S3 requests of release_lease still go out): a release that honoured cancellation leaves the lease in
// the bucket and this test fails.
TEST_P(S3Lease, HeldLeaseIsReleasedEvenAfterCancellation)
{
    const CancelReset reset;
    auto a = acquire_lease(*m_storage, "orders", 60s, std::chrono::system_clock::now(), GetParam());
    ASSERT_TRUE(a) << a.error().to_string();
    ASSERT_EQ(a->outcome, LeaseOutcome::acquired);
    ASSERT_FALSE(stored("orders").empty()) << "the lease is in the bucket";
    {
        HeldLease held(*m_storage, "orders", a->mine, 60s);
        cancel::request();
        ASSERT_TRUE(cancel::requested());
    }
    const std::string sent = m_proxy->recorded();
    cancel::reset();
    EXPECT_NE(sent.find("<Delete><Quiet>true</Quiet><Object><Key>leases/orders/"), std::string::npos)
        << "the release (DeleteObjects) was sent after cancellation";
    EXPECT_EQ(stored("orders"), std::vector<std::string>{}) << "the lease was left in the bucket";
    // The next run takes the lease at once (not after lease_ttl).
    auto next = acquire_lease(*m_storage, "orders", 60s, std::chrono::system_clock::now(), GetParam());
    ASSERT_TRUE(next) << next.error().to_string();
    EXPECT_EQ(next->outcome, LeaseOutcome::acquired);
    EXPECT_TRUE(release_lease(*m_storage, "orders", next->mine));
}

INSTANTIATE_TEST_SUITE_P(Protocols, S3Lease,
                         ::testing::Values(LeaseProtocol::conditional_create, LeaseProtocol::claims),
                         [](const auto& param_info) {
                             return param_info.param == LeaseProtocol::claims ? std::string("claims")
                                                                              : std::string("conditional_create");
                         });
