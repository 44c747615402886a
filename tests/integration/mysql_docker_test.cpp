// MySQL / MariaDB through `type: docker`: MariaDB runs inside a container with no network, reachable only from
// inside it, so mariadb-dump and mariadb run there through the Docker Engine API, the password in their
// environment.
#include "support/docker_fixture.hpp"
#include "support/mariadb_server.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace dbkeep::test;

namespace {

constexpr const char* k_app_pw = "Dock-My-S3cret";

class MysqlDocker : public DockerDaemonTest {
protected:
    MysqlDocker() : DockerDaemonTest("dbkeep-mysql-docker") {}

    void SetUp() override
    {
        DockerDaemonTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        if (auto reason = MariadbServer::skip_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        // The host's /usr, /etc and /lib are bound into the container: its MariaDB is the host's.
        m_docker->run_container("db");
        exec({"sh", "-c", "mkdir -p /tmp/my && chown mysql:mysql /tmp/my"});
        exec({"mariadb-install-db", "--no-defaults", "--datadir=/tmp/my/data", "--user=mysql",
              "--auth-root-authentication-method=normal", "--skip-test-db"});
        m_docker->docker({"exec", "-d", "db", "/usr/sbin/mariadbd", "--no-defaults", "--datadir=/tmp/my/data",
                          "--user=mysql", "--socket=/tmp/my/sock", "--port=3306", "--bind-address=127.0.0.1",
                          "--pid-file=/tmp/my/pid", "--log-bin=/tmp/my/data/binlog", "--server-id=1",
                          "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--log-error=/tmp/my/error.log"});
        ASSERT_TRUE(wait_until([&] { return sql_status("SELECT 1") == 0; }, std::chrono::seconds(30)));
        sql(std::string("CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '") + k_app_pw +
            "'; GRANT ALL PRIVILEGES ON *.* TO 'app'@'127.0.0.1'; CREATE DATABASE shop CHARACTER SET utf8mb4; "
            "CREATE TABLE shop.t (id INT PRIMARY KEY, s VARCHAR(50), b BLOB); INSERT INTO shop.t SELECT seq, "
            "CONCAT('row ', seq, ' 🐬'), UNHEX(LPAD(HEX(seq MOD 256), 2, '0')) FROM shop.seq_1_to_5000;");
        m_work.env = {{"SHOP_PW", k_app_pw}, {"DBKEEP_RESTORE_PASSWORD", k_app_pw}};
    }

    RunResult exec(const std::vector<std::string>& argv, RunOptions o = {})
    {
        std::vector<std::string> args{"exec", "-i", "db"};
        args.insert(args.end(), argv.begin(), argv.end());
        return m_docker->docker(args, std::move(o));
    }
    int sql_status(const std::string& text)
    {
        RunOptions o;
        o.input = text;
        return m_docker
            ->docker({"exec", "-i", "db", "mariadb", "--no-defaults", "--socket=/tmp/my/sock", "-uroot"}, o, false)
            .exit_code;
    }
    std::string checksum(const std::string& table)
    {
        auto out = sql("CHECKSUM TABLE " + table + " EXTENDED");
        return out.substr(out.find('\t') + 1);
    }
    std::string sql(const std::string& text)
    {
        RunOptions o;
        o.input = text;
        return exec({"mariadb", "--no-defaults", "--socket=/tmp/my/sock", "-uroot", "--batch", "--skip-column-names"},
                    o)
            .out;
    }
};

TEST_F(MysqlDocker, RoundTripThroughTheEngineApi)
{
    m_work.write_config(m_work.local_storage_yaml() +
                        "targets:\n  shop:\n    engine: mysql\n    url: mysql://app@127.0.0.1:3306/shop\n"
                        "    password: ${SHOP_PW}\n    runner: { type: docker, container: db, host: '" +
                        m_docker->host() + "' }\n");
    auto b = m_work.dbkeep({"backup", "shop"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ((b.out + b.err).find(k_app_pw), std::string::npos);
    auto manifests = m_work.manifests();
    ASSERT_EQ(manifests.size(), 1U);
    auto m = nlohmann::json::parse(read_file(m_work.backups() / manifests.front()));
    EXPECT_EQ(m["stats"]["shop.t"], 5000);
    EXPECT_EQ(m["runner"], "docker container db");
    EXPECT_FALSE(m["details"]["binlog_file"].get<std::string>().empty());

    auto r = m_work.dbkeep({"restore", "shop", "--to", "mysql://app@127.0.0.1:3306/shop_copy"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(checksum("shop_copy.t"), checksum("shop.t"));
    auto v = m_work.dbkeep({"verify", "shop", "--restore", "--to", "mysql://app@127.0.0.1:3306/scratch"});
    EXPECT_EQ(v.exit_code, 0) << v.err;
}

} // namespace
