#include "support/mariadb_server.hpp"

#include "support/data_template.hpp"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <unistd.h>

namespace dbkeep::test {
namespace {

constexpr const char* k_root_password = "root-Pw-2b81";

} // namespace

std::string MariadbServer::skip_reason()
{
    for (const char* p : {"mariadbd", "mariadb", "mariadb-dump", "mariadb-install-db"}) {
        if (!have_program(p) && !std::filesystem::exists(std::string("/usr/sbin/") + p)) {
            return std::string("MariaDB not installed (") + p + " missing; apt-get install mariadb-server)";
        }
    }
    if (::geteuid() == 0 && run({"id", "-u", "mysql"}).exit_code != 0) {
        return "no mysql system user to run mariadbd as";
    }
    return {};
}

MariadbServer::MariadbServer()
{
    m_dir = std::make_unique<TempDir>("dbkeep-mariadb");
    const std::string d = m_dir->path().string();
    const bool root = ::geteuid() == 0;
    // A tmpdir of its own: servers sharing /tmp delete each other's temporary tables (a starting mariadbd
    // removes the #sql* files it finds there), and a query of a test running beside it fails with "Error on
    // delete of '/tmp/#sql-temptable-...' (Errcode: 2)".
    std::filesystem::create_directories(d + "/tmp");
    if (root &&
        sh("chown mysql:mysql '" + d + "' '" + d + "/tmp' && chmod 755 '" + d + "' && chmod 700 '" + d + "/tmp'")
                .exit_code != 0) {
        throw std::runtime_error("cannot chown the MariaDB temp dir");
    }
    // Native AIO off: io_setup() contexts are a system-wide budget (aio-max-nr) that parallel test servers
    // and CI machines can exhaust, and a bootstrap that cannot get one fails with only "Installation of system
    // tables failed". A failed bootstrap (seen once in CI under load) is retried into a fresh data folder.
    const std::string server = std::filesystem::exists("/usr/sbin/mariadbd") ? "/usr/sbin/mariadbd" : "mariadbd";
    // The system tables are made once (support/data_template.hpp) and copied for each server.
    const std::vector<std::string> install_options = {"--auth-root-authentication-method=normal", "--skip-test-db",
                                                      "--innodb-use-native-aio=0", "--innodb-log-file-size=16M"};
    std::string options_key;
    for (const auto& o : install_options) {
        options_key += o + "\n";
    }
    const std::string key = "mariadb-" + program_stamp(server) + "-" +
                            std::to_string(std::hash<std::string>{}(options_key + (root ? "mysql" : "")));
    copy_data_template(key, d + "/data", [&](const std::filesystem::path& folder) {
        const std::string f = folder.string();
        if (root && sh("chown mysql:mysql '" + f + "' && chmod 755 '" + f + "'").exit_code != 0) {
            throw std::runtime_error("cannot chown the MariaDB template folder");
        }
        std::vector<std::string> install = {"mariadb-install-db", "--no-defaults", "--datadir=" + f + "/data"};
        install.insert(install.end(), install_options.begin(), install_options.end());
        if (root) {
            install.push_back("--user=mysql");
        }
        for (int attempt = 1;; ++attempt) {
            auto r = run(install);
            if (r.exit_code == 0) {
                break;
            }
            if (attempt == 3) {
                throw std::runtime_error("mariadb-install-db failed 3 times; the last said: " + r.out + r.err);
            }
            std::filesystem::remove_all(f + "/data");
            std::this_thread::sleep_for(std::chrono::milliseconds(500 * attempt));
        }
    });
    // A port may be taken between probing and binding: try a few.
    for (int attempt = 0; attempt < 5; ++attempt) {
        m_port = free_port();
        std::vector<std::string> argv = {server,
                                         "--no-defaults",
                                         "--datadir=" + d + "/data",
                                         "--port=" + std::to_string(m_port),
                                         "--bind-address=127.0.0.1",
                                         "--socket=" + d + "/sock",
                                         "--pid-file=" + d + "/mariadbd.pid",
                                         "--log-error=" + d + "/error.log",
                                         "--tmpdir=" + d + "/tmp",
                                         "--log-bin=" + d + "/data/binlog",
                                         "--server-id=1",
                                         "--skip-name-resolve",
                                         "--innodb-buffer-pool-size=64M",
                                         "--innodb-use-native-aio=0",
                                         "--innodb-log-file-size=16M",
                                         "--innodb-flush-log-at-trx-commit=0",
                                         "--sync-binlog=0",
                                         "--event-scheduler=OFF"};
        if (root) {
            argv.push_back("--user=mysql");
        }
        m_server = std::make_unique<Background>(argv);
        bool up = false;
        for (int i = 0; i < 300 && m_server->running(); ++i) {
            auto ping = run({"mariadb", "--no-defaults", "--socket=" + socket(), "-uroot", "-e", "SELECT 1"});
            if (ping.exit_code == 0) {
                up = true;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (up) {
            break;
        }
        m_server.reset();
        if (attempt == 4) {
            throw std::runtime_error("mariadbd did not start: " + read_file(d + "/error.log"));
        }
    }
    // Real authentication from here on: root and the app account get passwords.
    const std::string setup = std::string("ALTER USER root@localhost IDENTIFIED BY '") + k_root_password +
                              "'; CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '" + app_password() +
                              "'; GRANT ALL PRIVILEGES ON *.* TO 'app'@'127.0.0.1' WITH GRANT OPTION;";
    if (auto r = run({"mariadb", "--no-defaults", "--socket=" + socket(), "-uroot", "-e", setup}); r.exit_code != 0) {
        throw std::runtime_error("cannot set up the MariaDB accounts: " + r.err);
    }
}

MariadbServer::~MariadbServer()
{
    if (m_server) {
        m_server->signal(SIGTERM);
        m_server->wait(std::chrono::seconds(20));
        m_server.reset(); // SIGKILL if it still runs
    }
}

std::string MariadbServer::url(const std::string& db, const std::string& user) const
{
    return "mysql://" + user + "@127.0.0.1:" + std::to_string(m_port) + "/" + db;
}

RunResult MariadbServer::sql_result(const std::string& sql, const std::string& db) const
{
    RunOptions o;
    o.input = sql;
    o.env["MYSQL_PWD"] = k_root_password;
    std::vector<std::string> argv = {"mariadb",
                                     "--no-defaults",
                                     "--socket=" + socket(),
                                     "-uroot",
                                     "--batch",
                                     "--skip-column-names",
                                     "--raw",
                                     "--default-character-set=utf8mb4"};
    if (!db.empty()) {
        argv.push_back("--database=" + db);
    }
    return run(argv, o);
}

std::string MariadbServer::sql(const std::string& text, const std::string& db) const
{
    auto r = sql_result(text, db);
    if (r.exit_code != 0) {
        throw std::runtime_error("mariadb failed: " + r.err + "\nSQL: " + text.substr(0, 500));
    }
    if (!r.out.empty() && r.out.back() == '\n') {
        r.out.pop_back();
    }
    return r.out;
}

} // namespace dbkeep::test
