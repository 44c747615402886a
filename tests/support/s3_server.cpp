#include "support/s3_server.hpp"
#include "support/wait.hpp"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace dbkeep::test {
namespace {
std::string module_dir()
{
    const char* d = std::getenv("DBKEEP_S3RVER_DIR");
    return std::string(d && *d ? d : "/opt/dbkeep-test/s3rver") + "/node_modules";
}
} // namespace

std::string S3Server::skip_reason()
{
    if (!have_program("node")) {
        return "node not installed";
    }
    if (!std::filesystem::exists(module_dir() + "/@20minutes/s3rver/package.json")) {
        return "@20minutes/s3rver not installed in " + module_dir() + " (scripts/install-deps.sh installs it)";
    }
    return {};
}

S3Server::S3Server(std::string bucket) : m_bucket(std::move(bucket))
{
    m_dir = std::make_unique<TempDir>("dbkeep-s3");
    write_file(m_dir->path() / "run.js",
               "const S3rver = require('@20minutes/s3rver');\n"
               "new S3rver({ address: '127.0.0.1', port: +process.argv[2], directory: process.argv[3], silent: true,\n"
               "  vhostBuckets: false, configureBuckets: [{ name: process.argv[4] }] })\n"
               "  .run().catch(e => { console.error(e); process.exit(1); });\n");
    std::filesystem::create_directories(m_dir->path() / "data");
    for (int attempt = 0; attempt < 3; ++attempt) {
        m_port = free_port();
        RunOptions o;
        o.env["NODE_PATH"] = module_dir();
        m_process = std::make_unique<Background>(
            std::vector<std::string>{"node", "--openssl-legacy-provider", (m_dir->path() / "run.js").string(),
                                     std::to_string(m_port), (m_dir->path() / "data").string(), m_bucket},
            o, (m_dir->path() / "log").string());
        bool answers = false;
        wait_until([&] {
            auto r = run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", endpoint() + "/"});
            answers = r.exit_code == 0 && r.out != "000";
            return answers || !m_process->running();
        });
        if (answers) {
            return;
        }
    }
    throw std::runtime_error("s3rver did not start: " + read_file(m_dir->path() / "log"));
}

S3Server::~S3Server() = default;

RunResult S3Server::aws(const std::vector<std::string>& args) const
{
    std::vector<std::string> argv{"/usr/bin/aws", "--endpoint-url", endpoint()};
    argv.insert(argv.end(), args.begin(), args.end());
    RunOptions o;
    o.env = {{"AWS_ACCESS_KEY_ID", k_key},
             {"AWS_SECRET_ACCESS_KEY", k_secret},
             {"AWS_DEFAULT_REGION", "us-east-1"},
             {"AWS_CONFIG_FILE", "/dev/null"},
             {"AWS_SHARED_CREDENTIALS_FILE", "/dev/null"},
             {"AWS_EC2_METADATA_DISABLED", "true"}};
    return run(argv, o);
}

} // namespace dbkeep::test
