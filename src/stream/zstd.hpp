// zstd compression as a pipeline stage, and decompression as a Source. Output is a standard zstd frame
// (with content checksum) that `zstd -d` reads.
#pragma once

#include "stream/sink.hpp"

namespace dbkeep::stream {

struct ZstdOptions {
    int level = 3;
    int workers = 2; // zstd worker threads; 0 = single-threaded, in the caller's thread
    // Start at level 1 and adapt the level (between 1 and `level`) to the rate the input arrives at, every
    // half second: lower it while the compressor falls behind its input or, on a machine with no idle CPU,
    // while the CPU it spends on that rate would slow the producer; raise it only when the next level's
    // predicted CPU fits in the idle CPU (zstd_next_level). The producer (pg_dump and its server) must never
    // wait on us. false: `level` throughout.
    bool adaptive = true;
};

// What the adaptive compressor measured over one window.
struct ZstdWindow {
    double seconds = 0;         // wall time of the window (> 0)
    double input_bytes = 0;     // bytes that arrived from the producer in the window
    double blocked_seconds = 0; // time write() spent inside zstd (waiting for busy workers included)
    double cpu_seconds = 0;     // CPU this process used in the window (every thread)
    double idle_cores = -1;     // idle CPU of the whole machine in the window, in cores; < 0: unknown
};

// The level for the next window: a pure function of the current and configured levels and one window's
// measurements (deterministic, so it is unit-tested without timing). Never below 1 nor above `configured`;
// changes by one step at a time:
// - down when the compressor blocked the producer (blocked > 85% of the window), or when the machine had
//   less than 0.3 of a core idle while this process spent more than 0.2 of a core on the input's rate;
// - up when the compressor blocked less than 40% of the window and the idle CPU covers the next level's
//   extra cost with half a core to spare: idle >= 0.5 + 0.6 x this process's CPU rate (a level step costs up
//   to ~1.6x the CPU per byte at the same input rate); with the idle CPU unknown, on blocking < 40% alone;
// - otherwise unchanged. An empty window (no input) keeps the level.
int zstd_next_level(int current, int configured, const ZstdWindow& w) noexcept;

std::unique_ptr<Sink> make_zstd_compressor(Sink& next, ZstdOptions options);
std::unique_ptr<Source> make_zstd_decompressor(Source& compressed);

} // namespace dbkeep::stream
