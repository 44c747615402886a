#include "support/http_stand_in.hpp"

#include "support/wait.hpp"

#include <stdexcept>

namespace dbkeep::test {

std::string HttpStandIn::skip_reason()
{
    if (!have_program("python3")) {
        return "python3 not installed";
    }
    if (!have_program("curl")) {
        return "curl not installed";
    }
    return {};
}

HttpStandIn::HttpStandIn(const std::filesystem::path& dir, const std::string& name, const std::string& script)
{
    write_file(dir / name, script);
    m_port = free_port();
    m_process =
        std::make_unique<Background>(std::vector<std::string>{"python3", (dir / name).string(), std::to_string(m_port)},
                                     RunOptions{}, (dir / (name + ".log")).string());
    // Any HTTP answer, even an error status, means it listens.
    if (!wait_until([&] {
            return !m_process->running() || run({"curl", "-s", "-o", "/dev/null", url()}).exit_code == 0;
        }) ||
        !m_process->running()) {
        throw std::runtime_error(name + " did not start: " + read_file(dir / (name + ".log")));
    }
}

} // namespace dbkeep::test
