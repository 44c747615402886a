#include "runner/runner.hpp"

#include <thread>

namespace dbkeep::runner {

std::string ExitStatus::describe() const
{
    if (signal != 0) {
        return "killed by signal " + std::to_string(signal);
    }
    return "exited with code " + std::to_string(code);
}

Result<CommandOutput> run_capture(Runner& runner, const Command& command, std::size_t max_bytes)
{
    auto proc = runner.start(command);
    if (!proc) {
        return std::unexpected(proc.error());
    }
    if (auto* in = (*proc)->in()) {
        (void)in->finish();
    }
    CommandOutput result;
    std::uint8_t buf[65536];
    for (;;) {
        auto n = (*proc)->out().read(buf);
        if (!n) {
            (*proc)->kill();
            return std::unexpected(n.error());
        }
        if (*n == 0) {
            break;
        }
        if (result.out.size() < max_bytes) {
            result.out.append(reinterpret_cast<const char*>(buf), std::min(*n, max_bytes - result.out.size()));
        }
    }
    auto status = (*proc)->wait();
    if (!status) {
        return std::unexpected(status.error());
    }
    result.status = *status;
    result.err = (*proc)->error_output();
    return result;
}

std::vector<Finding> Runner::probe()
{
    auto probe = run_capture(*this, {.argv = {"true"}}, 1024);
    if (!probe || !probe->status.ok()) {
        std::string why = !probe ? probe.error().message : probe->err.substr(0, probe->err.find('\n'));
        return {failed("runner", describe() + " cannot run a command: " + why,
                       "check the host, port, user and keys (ssh), the pod (kubectl) or the prefix (command)")};
    }
    return {pass("runner", describe() + " runs commands")};
}

} // namespace dbkeep::runner
