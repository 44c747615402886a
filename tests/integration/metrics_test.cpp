// Metrics from one-shot runs (`backup`, `run --due`), which the daemon's /metrics cannot serve: a
// node_exporter textfile checked with Debian's `promtool check metrics`, and a real Prometheus Pushgateway
// (Debian's prometheus-pushgateway) read back through its API.
#include "support/process.hpp"
#include "support/redis_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <regex>

using namespace dbkeep::test;

namespace {

// The value of `name{target="cache"}` in a rendered file, or -1.
double sample(const std::string& text, const std::string& name)
{
    std::smatch m;
    const std::regex re("\n" + name + "\\{target=\"cache\"\\} ([0-9.e+]+)\n");
    return std::regex_search(text, m, re) ? std::stod(m[1].str()) : -1;
}

double now_unix()
{
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class Metrics : public RedisTest {
protected:
    void SetUp() override
    {
        RedisTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        m_redis = std::make_unique<RedisServer>();
    }
    std::unique_ptr<RedisServer> m_redis;
};

} // namespace

TEST_F(Metrics, OneShotRunsWriteAValidTextfileWhoseCountersCarryOver)
{
    if (!have_program("promtool")) {
        GTEST_SKIP() << "promtool (Debian package prometheus) is not installed";
    }
    const auto prom = m_work.dir() / "textfile" / "dbkeep.prom";
    std::filesystem::create_directories(prom.parent_path());
    const std::string metrics = "metrics:\n  textfile: " + prom.string() + "\n";
    const std::string schedule = "    schedule: '0 3 * * *'\n";
    write_config(m_redis->url(), schedule);
    m_work.write_config(read_file(m_work.dir() / "dbkeep.yaml") + metrics);

    auto run = dbkeep({"run", "--due"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    std::string text = read_file(prom);
    auto check = sh("promtool check metrics < '" + prom.string() + "'");
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err << text;
    EXPECT_EQ(sample(text, "dbkeep_backups_total"), 1) << text;
    EXPECT_GT(sample(text, "dbkeep_last_success_timestamp_seconds"), now_unix() - 600) << text;
    EXPECT_GT(sample(text, "dbkeep_last_size_bytes"), 0) << text;
    EXPECT_GT(sample(text, "dbkeep_next_scheduled_timestamp_seconds"), now_unix()) << text;
    EXPECT_EQ(sample(text, "dbkeep_failures_total"), 0) << text;
    EXPECT_NE(text.find("dbkeep_build_info{version=\""), std::string::npos) << text;
    for (const auto& e : std::filesystem::directory_iterator(prom.parent_path())) {
        EXPECT_EQ(e.path(), prom) << "no temp file left beside the textfile";
    }

    // A failed backup: failures and the failure time are recorded, the success counter carries over.
    write_config("redis://127.0.0.1:" + std::to_string(free_port()), schedule);
    m_work.write_config(read_file(m_work.dir() / "dbkeep.yaml") + metrics);
    auto failed = dbkeep({"backup", "cache"});
    ASSERT_NE(failed.exit_code, 0);
    text = read_file(prom);
    EXPECT_EQ(sh("promtool check metrics < '" + prom.string() + "'").exit_code, 0) << text;
    EXPECT_EQ(sample(text, "dbkeep_backups_total"), 1) << text;
    EXPECT_EQ(sample(text, "dbkeep_failures_total"), 1) << text;
    EXPECT_GT(sample(text, "dbkeep_last_failure_timestamp_seconds"), now_unix() - 600) << text;
    EXPECT_GT(sample(text, "dbkeep_last_success_timestamp_seconds"), 0) << "the last success is still known";
}

TEST_F(Metrics, ABackupPushesItsTargetsGroupToAPushgateway)
{
    if (!have_program("prometheus-pushgateway")) {
        GTEST_SKIP() << "prometheus-pushgateway (Debian package) is not installed";
    }
    const int port = free_port();
    const std::string address = "127.0.0.1:" + std::to_string(port);
    Background gateway({"prometheus-pushgateway", "--web.listen-address=" + address}, {},
                       (m_work.dir() / "pushgateway.log").string());
    ASSERT_TRUE(wait_until([&] { return sh("curl -sf http://" + address + "/-/ready").exit_code == 0; }))
        << read_file(m_work.dir() / "pushgateway.log");
    write_config(m_redis->url());
    m_work.write_config(read_file(m_work.dir() / "dbkeep.yaml") + "metrics:\n  pushgateway: http://" + address +
                        "\n  job: nightly\n");
    auto b = dbkeep({"backup", "cache"});
    ASSERT_EQ(b.exit_code, 0) << b.err;

    auto api = sh("curl -sf http://" + address + "/api/v1/metrics");
    ASSERT_EQ(api.exit_code, 0) << api.err;
    auto groups = nlohmann::json::parse(api.out)["data"];
    bool found = false;
    for (const auto& g : groups) {
        if (g["labels"].value("job", "") != "nightly" || g["labels"].value("target", "") != "cache") {
            continue;
        }
        found = true;
        const auto& family = g["dbkeep_backups_total"];
        ASSERT_FALSE(family.is_null()) << g.dump();
        EXPECT_EQ(family["metrics"][0]["value"], "1") << family.dump();
        EXPECT_FALSE(g["dbkeep_build_info"].is_null()) << g.dump();
    }
    EXPECT_TRUE(found) << api.out;
}

TEST_F(Metrics, APushgatewayThatIsDownNeitherFailsTheBackupNorHidesIt)
{
    write_config(m_redis->url());
    m_work.write_config(read_file(m_work.dir() / "dbkeep.yaml") +
                        "metrics:\n  pushgateway: http://127.0.0.1:" + std::to_string(free_port()) + "\n");
    auto b = dbkeep({"backup", "cache"});
    EXPECT_EQ(b.exit_code, 0) << b.err;
    EXPECT_NE(b.err.find("metrics not written"), std::string::npos) << b.err;
    EXPECT_EQ(m_work.manifests().size(), 1u);
}
