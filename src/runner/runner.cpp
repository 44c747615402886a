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

} // namespace dbkeep::runner
