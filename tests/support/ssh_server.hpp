// A throwaway sshd on a loopback port, with a generated host key and a client key authorized for root.
#pragma once

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <memory>
#include <string>

namespace dbkeep::test {

class SshServer {
public:
    SshServer();
    ~SshServer();
    static std::string skip_reason();
    int port() const { return m_port; }
    std::string identity_file() const { return (m_dir->path() / "client_key").string(); }
    std::string known_hosts() const { return (m_dir->path() / "known_hosts").string(); }

private:
    std::unique_ptr<TempDir> m_dir;
    std::unique_ptr<Background> m_process;
    int m_port = 0;
};

} // namespace dbkeep::test
