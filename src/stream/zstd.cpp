#include "stream/zstd.hpp"

#include "stream/stage.hpp"

#include <algorithm>
#include <chrono>
#include <vector>
#include <zstd.h>

namespace dbkeep::stream {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int k_job_size = 2 << 20;

class ZstdCompressor final : public Stage {
public:
    ZstdCompressor(Sink& next, ZstdOptions options)
        : Stage(next, "compress"), m_options(options), m_ctx(ZSTD_createCCtx()), m_out(ZSTD_CStreamOutSize()),
          m_level(options.level), m_window_start(Clock::now())
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
        auto start = Clock::now();
        ZSTD_inBuffer in{data.data(), data.size(), 0};
        while (in.pos < in.size) {
            if (auto st = step(in, ZSTD_e_continue); !st) {
                return std::unexpected(st.error());
            }
        }
        adapt(start, Clock::now());
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

    // Every second: if compression took most of the wall time, we are the bottleneck and the producer is
    // stalled waiting for us: lower the level. If we idle most of the time, step back up toward the
    // configured level. Level changes apply to the next zstd job; the output stays one standard frame.
    void adapt(Clock::time_point, Clock::time_point now)
    {
        if (!m_options.adaptive) {
            return;
        }
        auto window = now - m_window_start;
        if (window < std::chrono::seconds(1)) {
            return;
        }
        double busy = std::chrono::duration<double>(m_busy).count() / std::chrono::duration<double>(window).count();
        int level = m_level;
        if (busy > 0.85 && level > 1) {
            --level;
        } else if (busy < 0.4 && level < m_options.level) {
            ++level;
        }
        if (level != m_level) {
            m_level = level;
            ZSTD_CCtx_setParameter(m_ctx, ZSTD_c_compressionLevel, m_level);
        }
        m_window_start = now;
        m_busy = {};
    }

    ZstdOptions m_options;
    ZSTD_CCtx* m_ctx;
    std::vector<std::uint8_t> m_out;
    int m_level;
    Clock::time_point m_window_start;
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

std::unique_ptr<Sink> make_zstd_compressor(Sink& next, ZstdOptions options)
{
    return std::make_unique<ZstdCompressor>(next, options);
}

std::unique_ptr<Source> make_zstd_decompressor(Source& compressed)
{
    return std::make_unique<ZstdDecompressor>(compressed);
}

} // namespace dbkeep::stream
