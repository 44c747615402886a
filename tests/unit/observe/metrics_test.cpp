#include "observe/metrics.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

using namespace dbkeep;

TEST(Metrics, RendersPrometheusTextPerTarget)
{
    observe::Metrics m;
    m.started("orders");
    EXPECT_TRUE(m.get("orders").running);
    m.succeeded("orders", 1795000000, 12.5, 4096);
    m.failed("cache");
    auto text = m.render();
    EXPECT_NE(text.find("# TYPE dbkeep_last_success_timestamp_seconds gauge"), std::string::npos);
    EXPECT_NE(text.find("dbkeep_last_success_timestamp_seconds{target=\"orders\"} 1795000000\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("dbkeep_last_duration_seconds{target=\"orders\"} 12.5\n"), std::string::npos) << text;
    EXPECT_NE(text.find("dbkeep_last_size_bytes{target=\"orders\"} 4096\n"), std::string::npos);
    EXPECT_NE(text.find("dbkeep_failures_total{target=\"cache\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("dbkeep_running{target=\"orders\"} 0\n"), std::string::npos);
    EXPECT_NE(text.find("dbkeep_last_success_timestamp_seconds{target=\"cache\"} 0\n"), std::string::npos);
}

TEST(Metrics, SeedKeepsTheNewestSuccess)
{
    observe::Metrics m;
    m.seed_last_success("a", 200, 10);
    m.seed_last_success("a", 100, 5);
    EXPECT_EQ(m.get("a").last_success_unix, 200);
    EXPECT_EQ(m.get("a").last_size_bytes, 10u);
}

TEST(HttpListener, ServesMetricsAndHealthzOverRealHttp)
{
    if (!test::have_program("curl")) {
        GTEST_SKIP() << "curl not installed";
    }
    observe::Metrics m;
    m.succeeded("orders", 42, 1, 7);
    auto l = observe::listen_http("127.0.0.1:0", m);
    ASSERT_TRUE(l) << l.error().to_string();
    std::string base = "http://127.0.0.1:" + std::to_string((*l)->port());
    auto health = test::run({"curl", "-sS", "-f", base + "/healthz"});
    EXPECT_EQ(health.exit_code, 0) << health.err;
    EXPECT_EQ(health.out, "ok\n");
    auto metrics = test::run({"curl", "-sS", "-f", base + "/metrics"});
    EXPECT_EQ(metrics.exit_code, 0);
    EXPECT_NE(metrics.out.find("dbkeep_last_size_bytes{target=\"orders\"} 7"), std::string::npos) << metrics.out;
    auto missing = test::run({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", base + "/nope"});
    EXPECT_EQ(missing.out, "404");
}

TEST(HttpListener, BadAddressIsAConfigError)
{
    observe::Metrics m;
    auto l = observe::listen_http("no-port-here", m);
    ASSERT_FALSE(l);
    EXPECT_EQ(l.error().kind, ErrorKind::config);
}

TEST(Metrics, LeaseBusyAndVerifiedRestoreAreRenderedAndCarriedOver)
{
    observe::Metrics m;
    m.started("orders");
    m.lease_busy("orders");
    m.verified_restore("orders", 1795000000);
    m.verified_restore("orders", 1700000000); // an older proof never moves the gauge back
    const auto busy = m.get("orders").lease_busy_unix;
    EXPECT_FALSE(m.get("orders").running);
    EXPECT_GT(busy, 1.7e9);
    const auto text = m.render();
    EXPECT_NE(text.find("# TYPE dbkeep_lease_busy_timestamp_seconds gauge"), std::string::npos) << text;
    EXPECT_NE(text.find("dbkeep_last_verified_restore_timestamp_seconds{target=\"orders\"} 1795000000\n"),
              std::string::npos)
        << text;
    // The next one-shot run starts from this run's textfile.
    observe::Metrics next;
    next.load_previous(text);
    EXPECT_NEAR(next.get("orders").lease_busy_unix, busy, 1e-3); // 15 significant digits in the text
    EXPECT_EQ(next.get("orders").last_verified_restore_unix, 1795000000);
}

// metrics.textfile in a folder that does not exist: the export fails (the run's outcome stays its own) with the
// hint to create the folder or make it writable.
TEST(Metrics, ATextfileInAMissingFolderSaysTheFolderMustExist)
{
    test::TempDir dir{"dbkeep-metrics-textfile"};
    observe::Metrics m;
    m.succeeded("orders", 1795000000, 1.0, 10);
    observe::MetricsExport out;
    out.textfile = (dir.path() / "node_exporter" / "textfile" / "dbkeep.prom").string();
    auto st = observe::export_metrics(out, m);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind, ErrorKind::failed) << st.error().to_string();
    EXPECT_NE(st.error().hint.find("the folder of metrics.textfile must exist and be writable"), std::string::npos)
        << st.error().to_string();
}
