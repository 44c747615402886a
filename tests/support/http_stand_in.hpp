// A loopback stand-in for an HTTP endpoint (the EC2 metadata service, STS, the ECS credential endpoint):
// a python3 http.server script given its port as argv[1], started on a free port and answering before the
// constructor returns.
#pragma once

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <memory>
#include <string>

namespace dbkeep::test {

class HttpStandIn {
public:
    // Writes `script` to dir/name and runs it; throws when it does not answer within the event timeout.
    HttpStandIn(const std::filesystem::path& dir, const std::string& name, const std::string& script);
    static std::string skip_reason(); // python3 or curl missing
    int port() const { return m_port; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

private:
    int m_port = 0;
    std::unique_ptr<Background> m_process;
};

} // namespace dbkeep::test
