#include "observe/progress.hpp"

#include "core/human.hpp"
#include "observe/log.hpp"

#include <cstdio>
#include <unistd.h>

namespace dbkeep::observe {

std::string progress_line(const std::string& what, std::uint64_t done, double seconds, std::uint64_t expected)
{
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
    std::string line = what + ": " + human_size(done) + ", " + human_size(static_cast<std::uint64_t>(rate)) + "/s";
    if (expected > done && rate > 0) {
        const auto left_ms = static_cast<std::int64_t>(static_cast<double>(expected - done) / rate * 1000);
        line += ", about " + human_duration(left_ms) + " left";
    }
    return line;
}

bool Progress::stderr_is_terminal()
{
    return ::isatty(2) == 1;
}

Progress::Progress(ProgressOptions options, std::function<std::uint64_t()> done)
    : m_options(std::move(options)), m_done(std::move(done))
{
    m_thread = std::thread([this] {
        const auto start = std::chrono::steady_clock::now();
        auto next_log = start + m_options.log_every;
        bool drawn = false;
        while (!m_stop.load()) {
            for (int i = 0; i < 10 && !m_stop.load(); ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
            if (m_stop.load()) {
                break;
            }
            const auto now = std::chrono::steady_clock::now();
            const double seconds = std::chrono::duration<double>(now - start).count();
            const std::string line = progress_line(m_options.what, m_done(), seconds, m_options.expected_bytes);
            if (m_options.terminal) {
                std::fprintf(stderr, "\r\033[K%s", line.c_str());
                std::fflush(stderr);
                drawn = true;
            } else if (now >= next_log) {
                next_log = now + m_options.log_every;
                info("progress", {{"what", m_options.what}, {"bytes", std::to_string(m_done())}, {"status", line}});
            }
        }
        if (drawn) {
            std::fprintf(stderr, "\r\033[K");
            std::fflush(stderr);
        }
    });
}

Progress::~Progress()
{
    m_stop.store(true);
    m_thread.join();
}

} // namespace dbkeep::observe
