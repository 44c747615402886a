// zstd compression as a pipeline stage, and decompression as a Source. Output is a standard zstd frame
// (with content checksum) that `zstd -d` reads.
#pragma once

#include "stream/sink.hpp"

namespace dbkeep::stream {

struct ZstdOptions {
    int level = 3;
    int workers = 2; // zstd worker threads; 0 = single-threaded, in the caller's thread
    // Lower the level (down to 1) while the compressor falls behind its input, raise it back when it keeps
    // up: pg_dump must never stall on us.
    bool adaptive = true;
};

std::unique_ptr<Sink> make_zstd_compressor(Sink& next, ZstdOptions options);
std::unique_ptr<Source> make_zstd_decompressor(Source& compressed);

} // namespace dbkeep::stream
