#include "support/ssh_server.hpp"
#include "support/wait.hpp"

#include <filesystem>
#include <stdexcept>
#include <unistd.h>

namespace dbkeep::test {

std::string SshServer::skip_reason()
{
    if (!std::filesystem::exists("/usr/sbin/sshd") || !have_program("ssh") || !have_program("ssh-keygen")) {
        return "openssh-server / openssh-client not installed";
    }
    if (geteuid() != 0) {
        return "the test sshd logs in as root and needs to run as root";
    }
    return {};
}

SshServer::SshServer()
{
    m_dir = std::make_unique<TempDir>("dbkeep-sshd");
    auto d = m_dir->path().string();
    std::filesystem::create_directories("/run/sshd");
    if (sh("ssh-keygen -q -t ed25519 -N '' -f " + d + "/host_key && ssh-keygen -q -t ed25519 -N '' -f " + d +
           "/client_key && cp " + d + "/client_key.pub " + d + "/authorized_keys && chmod 600 " + d +
           "/authorized_keys")
            .exit_code != 0) {
        throw std::runtime_error("ssh-keygen failed");
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
        m_port = free_port();
        write_file(m_dir->path() / "sshd_config", "Port " + std::to_string(m_port) +
                                                      "\nListenAddress 127.0.0.1\nHostKey " + d +
                                                      "/host_key\n"
                                                      "AuthorizedKeysFile " +
                                                      d +
                                                      "/authorized_keys\n"
                                                      "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                                                      "StrictModes no\nUsePAM no\nPidFile " +
                                                      d +
                                                      "/sshd.pid\n"
                                                      "AcceptEnv none\n");
        m_process = std::make_unique<Background>(
            std::vector<std::string>{"/usr/sbin/sshd", "-D", "-e", "-f", d + "/sshd_config"}, RunOptions{},
            d + "/sshd.log");
        std::string host_keys;
        wait_until([&] {
            auto scan = run({"ssh-keyscan", "-p", std::to_string(m_port), "-t", "ed25519", "127.0.0.1"});
            if (scan.exit_code == 0 && !scan.out.empty()) {
                host_keys = scan.out;
            }
            return !host_keys.empty() || !m_process->running();
        });
        if (!host_keys.empty()) {
            write_file(m_dir->path() / "known_hosts", host_keys);
            return;
        }
    }
    throw std::runtime_error("sshd did not start: " + read_file(m_dir->path() / "sshd.log"));
}

SshServer::~SshServer() = default;

} // namespace dbkeep::test
