#include "catalog/lease.hpp"
#include "catalog/naming.hpp"
#include "core/cancel.hpp"
#include "storage/local.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <atomic>
#include <functional>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace dbkeep;
using namespace dbkeep::catalog;
using namespace std::chrono_literals;

namespace {
struct Fixture {
    test::TempDir dir{"dbkeep-lease"};
    std::unique_ptr<storage::Storage> storage = storage::make_local_storage({.root = dir.path()});
};
auto now()
{
    return std::chrono::system_clock::now();
}

// Starts `threads` runners at once on the target's lease; returns how many believe they hold it.
int race(storage::Storage& storage, int threads, LeaseProtocol protocol = LeaseProtocol::conditional_create)
{
    std::atomic<int> winners{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> runners;
    for (int i = 0; i < threads; ++i) {
        runners.emplace_back([&] {
            while (!go.load()) {
            }
            auto a = acquire_lease(storage, "orders", 60s, now(), protocol);
            if (a && a->outcome != LeaseOutcome::busy) {
                ++winners;
            }
        });
    }
    go = true;
    for (auto& t : runners) {
        t.join();
    }
    return winners.load();
}
} // namespace

TEST(Lease, FirstRunnerAcquiresSecondFindsItBusy)
{
    Fixture f;
    auto a = acquire_lease(*f.storage, "orders", 60s, now());
    ASSERT_TRUE(a) << a.error().to_string();
    EXPECT_EQ(a->outcome, LeaseOutcome::acquired);
    auto b = acquire_lease(*f.storage, "orders", 60s, now());
    ASSERT_TRUE(b);
    EXPECT_EQ(b->outcome, LeaseOutcome::busy);
    EXPECT_EQ(b->other.owner, a->mine.owner);
    EXPECT_EQ(b->other.pid, a->mine.pid);
    EXPECT_FALSE(b->other.host.empty());
    // Another target is independent.
    EXPECT_EQ(acquire_lease(*f.storage, "cache", 60s, now())->outcome, LeaseOutcome::acquired);
}

TEST(Lease, ExpiredLeaseIsTakenOver)
{
    Fixture f;
    auto a = acquire_lease(*f.storage, "orders", 1s, now() - 10s);
    ASSERT_EQ(a->outcome, LeaseOutcome::acquired);
    auto b = acquire_lease(*f.storage, "orders", 60s, now());
    ASSERT_TRUE(b);
    EXPECT_EQ(b->outcome, LeaseOutcome::took_over);
    EXPECT_EQ(b->other.owner, a->mine.owner);
    // The old holder can no longer renew or release it.
    EXPECT_FALSE(renew_lease(*f.storage, "orders", a->mine, 60s, now()));
    ASSERT_TRUE(release_lease(*f.storage, "orders", a->mine));
    EXPECT_EQ(acquire_lease(*f.storage, "orders", 60s, now())->outcome, LeaseOutcome::busy);
    // A runner that read the expired lease late cannot take it over again.
    auto late = acquire_lease(*f.storage, "orders", 60s, now() + 2h);
    ASSERT_TRUE(late);
    EXPECT_EQ(late->outcome, LeaseOutcome::took_over) << "only once b's own lease expired";
    EXPECT_NE(late->other.owner, a->mine.owner);
}

TEST(Lease, ReleaseAfterTakeoverLeavesNothingBehind)
{
    Fixture f;
    ASSERT_EQ(acquire_lease(*f.storage, "orders", 1s, now() - 1h)->outcome, LeaseOutcome::acquired);
    auto b = acquire_lease(*f.storage, "orders", 60s, now());
    ASSERT_EQ(b->outcome, LeaseOutcome::took_over);
    ASSERT_TRUE(release_lease(*f.storage, "orders", b->mine));
    EXPECT_TRUE(test::list_files(f.dir.path()).empty()) << test::list_files(f.dir.path()).front();
}

// An unreadable lease.json is not a free lease: held until the store dates it older than the ttl, and then
// taken over by exactly one of the runners racing for it (the old code let every contender take it at once).
TEST(Lease, UnreadableLeaseIsHeldUntilItIsOlderThanTheTtlThenOneRunnerTakesItOver)
{
    for (int round = 0; round < 10; ++round) {
        Fixture f;
        std::filesystem::create_directories(f.dir.path() / "orders");
        const auto lease = f.dir.path() / "orders" / "lease.json";
        test::write_file(lease, "{garbage");
        auto fresh = acquire_lease(*f.storage, "orders", 60s, now());
        ASSERT_TRUE(fresh) << fresh.error().to_string();
        EXPECT_EQ(fresh->outcome, LeaseOutcome::busy);
        EXPECT_TRUE(fresh->other.owner.starts_with("unreadable-")) << fresh->other.owner;

        std::filesystem::last_write_time(lease, std::filesystem::file_time_type::clock::now() - 2h);
        EXPECT_EQ(race(*f.storage, 4), 1) << "round " << round;
    }
}

TEST(Lease, OfManyRunnersRacingExactlyOneWins)
{
    for (int round = 0; round < 20; ++round) {
        Fixture f;
        EXPECT_EQ(race(*f.storage, 6), 1) << "round " << round;
    }
}

TEST(Lease, RacingTakeoversOfAnExpiredLeaseHaveOneWinner)
{
    for (int round = 0; round < 20; ++round) {
        Fixture f;
        ASSERT_EQ(acquire_lease(*f.storage, "orders", 1s, now() - 1h)->outcome, LeaseOutcome::acquired);
        EXPECT_EQ(race(*f.storage, 4), 1) << "round " << round;
    }
}

TEST(Lease, HeldLeaseRenewsWhileHeldAndReleasesAtTheEnd)
{
    Fixture f;
    auto a = acquire_lease(*f.storage, "orders", 1s, now());
    ASSERT_EQ(a->outcome, LeaseOutcome::acquired);
    {
        HeldLease held(*f.storage, "orders", a->mine, 1s);
        // Past the first ttl: only renewal keeps it alive.
        ASSERT_TRUE(test::wait_until([&] { return now() > a->mine.expires; }));
        auto b = acquire_lease(*f.storage, "orders", 60s, now());
        ASSERT_TRUE(b);
        EXPECT_EQ(b->outcome, LeaseOutcome::busy);
        EXPECT_GT(b->other.expires, now());
    }
    EXPECT_FALSE(std::filesystem::exists(f.dir.path() / "orders" / "lease.json"));
}

namespace {
// A pid that belonged to a process of this host that has exited (and was reaped).
int dead_pid()
{
    pid_t child = ::fork();
    if (child == 0) {
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return static_cast<int>(child);
}

// Rewrites the target's lease as if `edit` had been true of its holder.
void edit_lease(Fixture& f, const std::function<void(LeaseInfo&)>& edit)
{
    auto path = f.dir.path() / "orders" / "lease.json";
    auto info = lease_from_json(test::read_file(path));
    ASSERT_TRUE(info);
    edit(*info);
    test::write_file(path, lease_to_json(*info));
}
} // namespace

TEST(Lease, RecordsWhereItsPidMeansSomething)
{
    Fixture f;
    auto a = acquire_lease(*f.storage, "orders", 60s, now());
    ASSERT_TRUE(a);
    auto back = lease_from_json(lease_to_json(a->mine));
    ASSERT_TRUE(back);
    EXPECT_FALSE(back->boot_id.empty());
    EXPECT_EQ(back->pid_namespace.rfind("pid:[", 0), 0u) << back->pid_namespace;
    EXPECT_GT(back->pid_start, 0u);
    EXPECT_FALSE(lease_holder_is_dead_here(*back)) << "this very process is alive";
}

TEST(Lease, ALeaseOfADeadProcessOnThisHostIsTakenOverAtOnce)
{
    Fixture f;
    ASSERT_EQ(acquire_lease(*f.storage, "orders", 600s, now())->outcome, LeaseOutcome::acquired);
    const int pid = dead_pid();
    edit_lease(f, [&](LeaseInfo& l) { l.pid = pid; });
    auto b = acquire_lease(*f.storage, "orders", 60s, now());
    ASSERT_TRUE(b) << b.error().to_string();
    EXPECT_EQ(b->outcome, LeaseOutcome::took_over);
    EXPECT_TRUE(b->holder_dead);
    EXPECT_EQ(b->other.pid, pid);
    // Exactly once: the next runner finds the new holder (alive) busy.
    EXPECT_EQ(acquire_lease(*f.storage, "orders", 60s, now())->outcome, LeaseOutcome::busy);
}

TEST(Lease, AReusedPidIsTakenOverAtOnce)
{
    Fixture f;
    ASSERT_EQ(acquire_lease(*f.storage, "orders", 600s, now())->outcome, LeaseOutcome::acquired);
    // Our own pid, but recorded with another start time: the process that wrote it is gone.
    edit_lease(f, [](LeaseInfo& l) { l.pid_start += 12345; });
    auto b = acquire_lease(*f.storage, "orders", 60s, now());
    ASSERT_TRUE(b);
    EXPECT_EQ(b->outcome, LeaseOutcome::took_over);
    EXPECT_TRUE(b->holder_dead);
}

TEST(Lease, ADeadPidIsNotEnoughElsewhereOrWithoutTheFieldsThatPlaceIt)
{
    const int pid = dead_pid();
    for (const auto& edit : std::vector<std::function<void(LeaseInfo&)>>{
             [&](LeaseInfo& l) { l.host = "another-host"; }, [&](LeaseInfo& l) { l.pid_namespace = "pid:[1]"; },
             [&](LeaseInfo& l) { l.boot_id.clear(); }, // a lease of an older version
         }) {
        Fixture f;
        ASSERT_EQ(acquire_lease(*f.storage, "orders", 600s, now())->outcome, LeaseOutcome::acquired);
        edit_lease(f, [&](LeaseInfo& l) {
            l.pid = pid;
            edit(l);
        });
        auto b = acquire_lease(*f.storage, "orders", 60s, now());
        ASSERT_TRUE(b);
        EXPECT_EQ(b->outcome, LeaseOutcome::busy);
    }
}

TEST(Lease, AnotherBootOfThisHostMeansTheHolderIsGone)
{
    Fixture f;
    ASSERT_EQ(acquire_lease(*f.storage, "orders", 600s, now())->outcome, LeaseOutcome::acquired);
    edit_lease(f, [](LeaseInfo& l) { l.boot_id = "00000000-0000-0000-0000-000000000000"; });
    auto b = acquire_lease(*f.storage, "orders", 60s, now());
    ASSERT_TRUE(b);
    EXPECT_EQ(b->outcome, LeaseOutcome::took_over);
}

// The claims protocol (stores that ignore If-None-Match): of many runners racing, at most one holds the lease,
// and an uncontended runner always gets it.
TEST(Lease, ClaimsOfManyRunnersRacingNeverTwoWinners)
{
    for (int round = 0; round < 5; ++round) {
        Fixture f;
        EXPECT_LE(race(*f.storage, 4, LeaseProtocol::claims), 1) << "round " << round;
    }
    Fixture f;
    auto a = acquire_lease(*f.storage, "orders", 60s, now(), LeaseProtocol::claims);
    ASSERT_TRUE(a) << a.error().to_string();
    EXPECT_EQ(a->outcome, LeaseOutcome::acquired);
    auto b = acquire_lease(*f.storage, "orders", 60s, now(), LeaseProtocol::claims);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->outcome, LeaseOutcome::busy);
    EXPECT_EQ(b->other.owner, a->mine.owner);
    ASSERT_TRUE(release_lease(*f.storage, "orders", a->mine));
    EXPECT_EQ(acquire_lease(*f.storage, "orders", 60s, now(), LeaseProtocol::claims)->outcome, LeaseOutcome::acquired);
}

TEST(Lease, ClaimsAnExpiredHolderIsTakenOverAndCannotConfirm)
{
    Fixture f;
    auto a = acquire_lease(*f.storage, "orders", 1s, now() - 1h, LeaseProtocol::claims);
    ASSERT_EQ(a->outcome, LeaseOutcome::acquired);
    auto b = acquire_lease(*f.storage, "orders", 60s, now(), LeaseProtocol::claims);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->outcome, LeaseOutcome::took_over);
    auto lost = confirm_lease(*f.storage, "orders", a->mine, now());
    ASSERT_FALSE(lost);
    EXPECT_EQ(lost.error().kind, ErrorKind::conflict);
    EXPECT_TRUE(confirm_lease(*f.storage, "orders", b->mine, now()));
}

// A holder paused longer than the ttl and taken over must not commit: confirm() fails (the old code had no
// such check, and the paused holder committed alongside the new one).
TEST(Lease, AHolderWhoseLeaseWasTakenOverFailsToConfirm)
{
    Fixture f;
    auto a = acquire_lease(*f.storage, "orders", 1s, now() - 1h);
    ASSERT_EQ(a->outcome, LeaseOutcome::acquired);
    HeldLease held(*f.storage, "orders", a->mine, 3600s);
    EXPECT_TRUE(held.confirm());
    auto b = acquire_lease(*f.storage, "orders", 60s, now());
    ASSERT_EQ(b->outcome, LeaseOutcome::took_over);
    auto st = held.confirm();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind, ErrorKind::conflict);
    EXPECT_NE(st.error().message.find("took the lease over"), std::string::npos) << st.error().to_string();
}

// Releasing is cleanup: after SIGINT/SIGTERM it still happens (the old release failed with "cancelled by
// signal" and the lease blocked the next run for its ttl).
TEST(Lease, HeldLeaseIsReleasedEvenAfterCancellation)
{
    Fixture f;
    auto a = acquire_lease(*f.storage, "orders", 60s, now());
    ASSERT_EQ(a->outcome, LeaseOutcome::acquired);
    {
        HeldLease held(*f.storage, "orders", a->mine, 60s);
        cancel::request();
    }
    cancel::reset();
    EXPECT_FALSE(std::filesystem::exists(f.dir.path() / "orders" / "lease.json"));
}

TEST(Lease, ProtocolProbeFindsConditionalCreateOnALocalFolder)
{
    Fixture f;
    auto p = lease_protocol_for(*f.storage, "orders");
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_EQ(*p, LeaseProtocol::conditional_create);
    const auto folder = f.dir.path() / "orders";
    EXPECT_TRUE(!std::filesystem::exists(folder) || std::filesystem::is_empty(folder)) << "the probe is removed";
}
