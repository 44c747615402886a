#include "stream/zstd.hpp"

#include "stream/stage.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>
#include <zstd.h>

namespace dbkeep::stream {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int k_job_size = 2 << 20;
constexpr auto k_window = std::chrono::milliseconds(500);

// CPU seconds this process has used, every thread.
double process_cpu_seconds()
{
    rusage u{};
    if (getrusage(RUSAGE_SELF, &u) != 0) {
        return 0;
    }
    auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return sec(u.ru_utime) + sec(u.ru_stime);
}

// Idle CPU seconds of the whole machine so far (idle + iowait of /proc/stat), summed over cores; < 0 when
// unknown.
double machine_idle_seconds()
{
    std::FILE* f = std::fopen("/proc/stat", "re");
    if (f == nullptr) {
        return -1;
    }
    unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0;
    int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait);
    std::fclose(f);
    static const long k_hz = sysconf(_SC_CLK_TCK);
    if (n != 5 || k_hz <= 0) {
        return -1;
    }
    return static_cast<double>(idle + iowait) / static_cast<double>(k_hz);
}

class ZstdCompressor final : public Stage {
public:
    ZstdCompressor(Sink& next, ZstdOptions options)
        : Stage(next, "compress"), m_options(options), m_ctx(ZSTD_createCCtx()), m_out(ZSTD_CStreamOutSize()),
          m_level(options.adaptive ? std::min(1, options.level) : options.level), m_window_start(Clock::now()),
          m_window_cpu(process_cpu_seconds()), m_window_idle(machine_idle_seconds())
    {
        ZSTD_CCtx_setParameter(m_ctx, ZSTD_c_compressionLevel, m_level);
        ZSTD_CCtx_setParameter(m_ctx, ZSTD_c_checksumFlag, 1);
        if (options.workers > 0) {
            // Fails harmlessly (stays single-threaded) if libzstd was built without threads.
            ZSTD_CCtx_setParameter(m_ctx, ZSTD_c_nbWorkers, options.workers);
            // Jobs of 2 MiB bound memory to a few jobs in flight per worker (the default, 4 windows per
            // job, costs ~60 MiB at level 3 with 2 workers) at a negligible cost in ratio.
            ZSTD_CCtx_setParameter(m_ctx, ZSTD_c_jobSize, k_job_size);
        }
    }
    ~ZstdCompressor() override { ZSTD_freeCCtx(m_ctx); }

private:
    Status on_write(Bytes data) override
    {
        ZSTD_inBuffer in{data.data(), data.size(), 0};
        while (in.pos < in.size) {
            if (auto st = step(in, ZSTD_e_continue); !st) {
                return std::unexpected(st.error());
            }
        }
        m_window_input += data.size();
        adapt(Clock::now());
        return {};
    }

    Status on_finish() override
    {
        ZSTD_inBuffer in{nullptr, 0, 0};
        for (;;) {
            auto remaining = step(in, ZSTD_e_end);
            if (!remaining) {
                return std::unexpected(remaining.error());
            }
            if (*remaining == 0) {
                return {};
            }
        }
    }

    // One call of compressStream2; forwards produced bytes. Returns zstd's "remaining" hint.
    Result<std::size_t> step(ZSTD_inBuffer& in, ZSTD_EndDirective mode)
    {
        ZSTD_outBuffer out{m_out.data(), m_out.size(), 0};
        auto t0 = Clock::now();
        std::size_t r = ZSTD_compressStream2(m_ctx, &out, &in, mode);
        m_busy += Clock::now() - t0;
        if (ZSTD_isError(r)) {
            return fail(ErrorKind::failed, "compress", "", ZSTD_getErrorName(r));
        }
        if (out.pos > 0) {
            if (auto st = next().write(Bytes(m_out.data(), out.pos)); !st) {
                return std::unexpected(st.error());
            }
        }
        return r;
    }

    // Every half second: measure the window (input rate, time blocked in zstd, this process's CPU, the
    // machine's idle CPU) and let zstd_next_level choose. Level changes apply to the next zstd job; the output
    // stays one standard frame.
    void adapt(Clock::time_point now)
    {
        if (!m_options.adaptive) {
            return;
        }
        auto window = now - m_window_start;
        if (window < k_window) {
            return;
        }
        double cpu = process_cpu_seconds();
        double idle = machine_idle_seconds();
        ZstdWindow w;
        w.seconds = std::chrono::duration<double>(window).count();
        w.input_bytes = static_cast<double>(m_window_input);
        w.blocked_seconds = std::chrono::duration<double>(m_busy).count();
        w.cpu_seconds = std::max(0.0, cpu - m_window_cpu);
        w.idle_cores = (idle >= 0 && m_window_idle >= 0) ? std::max(0.0, idle - m_window_idle) / w.seconds : -1;
        int level = zstd_next_level(m_level, m_options.level, w);
        if (level != m_level) {
            m_level = level;
            ZSTD_CCtx_setParameter(m_ctx, ZSTD_c_compressionLevel, m_level);
        }
        m_window_start = now;
        m_window_cpu = cpu;
        m_window_idle = idle;
        m_window_input = 0;
        m_busy = {};
    }

    ZstdOptions m_options;
    ZSTD_CCtx* m_ctx;
    std::vector<std::uint8_t> m_out;
    int m_level;
    Clock::time_point m_window_start;
    double m_window_cpu;
    double m_window_idle;
    std::uint64_t m_window_input = 0;
    Clock::duration m_busy{};
};

class ZstdDecompressor final : public Source {
public:
    explicit ZstdDecompressor(Source& inner) : m_inner(inner), m_ctx(ZSTD_createDCtx()), m_in(ZSTD_DStreamInSize()) {}
    ~ZstdDecompressor() override { ZSTD_freeDCtx(m_ctx); }

    Result<std::size_t> read(MutableBytes out) override
    {
        if (out.empty()) {
            return 0;
        }
        for (;;) {
            if (m_pos == m_len && !m_eof) {
                auto n = m_inner.read(m_in);
                if (!n) {
                    return std::unexpected(n.error());
                }
                m_len = *n;
                m_pos = 0;
                if (*n == 0) {
                    m_eof = true;
                }
            }
            if (m_eof && m_pos == m_len) {
                if (!m_seen_frame) {
                    return fail(ErrorKind::corruption, "decompress", "", "empty input: not a zstd stream");
                }
                if (m_frame_remaining != 0) {
                    return fail(ErrorKind::corruption, "decompress", "", "truncated zstd stream");
                }
                return 0;
            }
            ZSTD_inBuffer in{m_in.data(), m_len, m_pos};
            ZSTD_outBuffer o{out.data(), out.size(), 0};
            std::size_t r = ZSTD_decompressStream(m_ctx, &o, &in);
            m_pos = in.pos;
            if (ZSTD_isError(r)) {
                return fail(ErrorKind::corruption, "decompress", "", ZSTD_getErrorName(r));
            }
            m_seen_frame = true;
            m_frame_remaining = r;
            if (o.pos > 0) {
                return o.pos;
            }
        }
    }

private:
    Source& m_inner;
    ZSTD_DCtx* m_ctx;
    std::vector<std::uint8_t> m_in;
    std::size_t m_pos = 0, m_len = 0;
    bool m_eof = false;
    bool m_seen_frame = false;
    std::size_t m_frame_remaining = 0;
};

} // namespace

int zstd_next_level(int current, int configured, const ZstdWindow& w) noexcept
{
    const int low = std::min(1, configured);
    current = std::clamp(current, low, std::max(low, configured));
    if (w.seconds <= 0 || w.input_bytes <= 0) {
        return current;
    }
    const double blocked = w.blocked_seconds / w.seconds;
    const double cpu_cores = w.cpu_seconds / w.seconds;
    const bool idle_known = w.idle_cores >= 0;
    // Down: the producer waited on us, or no CPU was idle and ours went into keeping up with its rate.
    if (blocked > 0.85 || (idle_known && w.idle_cores < 0.3 && cpu_cores > 0.2)) {
        return std::max(low, current - 1);
    }
    // Up: only with slack for the next level's cost at this rate.
    if (blocked < 0.4 && current < configured && (!idle_known || w.idle_cores >= 0.5 + 0.6 * cpu_cores)) {
        return current + 1;
    }
    return current;
}

std::unique_ptr<Sink> make_zstd_compressor(Sink& next, ZstdOptions options)
{
    return std::make_unique<ZstdCompressor>(next, options);
}

std::unique_ptr<Source> make_zstd_decompressor(Source& compressed)
{
    return std::make_unique<ZstdDecompressor>(compressed);
}

} // namespace dbkeep::stream
