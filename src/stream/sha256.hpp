// SHA-256 as a pass-through stage (it sees every byte that flows to the next stage) and as a Source
// wrapper for reading back; sha256_hex for whole buffers (to_hex is in core/hex.hpp).
#pragma once

#include "stream/stage.hpp"

#include <array>
#include <string>

namespace dbkeep::stream {

// The Stage contract of stage.hpp; finish() computes the digest, then finishes next.
class HashingSink final : public Stage {
public:
    explicit HashingSink(Sink& next);
    ~HashingSink() override;

    std::uint64_t bytes() const noexcept { return m_bytes; }
    // Lowercase hex digest, valid after finish().
    const std::string& hex_digest() const noexcept { return m_hex; }

private:
    Status on_write(Bytes data) override;
    Status on_finish() override;

    void* m_ctx; // EVP_MD_CTX, kept out of the header
    std::uint64_t m_bytes = 0;
    std::string m_hex;
};

class HashingSource final : public Source {
public:
    explicit HashingSource(Source& inner);
    ~HashingSource() override;
    Result<std::size_t> read(MutableBytes out) override;

    std::uint64_t bytes() const noexcept { return m_bytes; }
    // Lowercase hex digest, valid once read() returned 0.
    const std::string& hex_digest() const noexcept { return m_hex; }

private:
    Source& m_inner;
    void* m_ctx;
    std::uint64_t m_bytes = 0;
    std::string m_hex;
};

std::string sha256_hex(Bytes data);

} // namespace dbkeep::stream
