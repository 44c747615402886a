// SHA-256 and byte counting as pass-through stages: they see every byte that flows to the next stage.
#pragma once

#include "stream/sink.hpp"

#include <array>
#include <string>

namespace dbkeep::stream {

class HashingSink final : public Sink {
public:
    explicit HashingSink(Sink& next);
    ~HashingSink() override;
    Status write(Bytes data) override;
    Status finish() override; // computes the digest, then finishes next
    void abort() noexcept override;

    std::uint64_t bytes() const noexcept { return m_bytes; }
    // Lowercase hex digest, valid after finish().
    const std::string& hex_digest() const noexcept { return m_hex; }

private:
    Sink& m_next;
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

// Counts bytes passing through.
class CountingSink final : public Sink {
public:
    explicit CountingSink(Sink& next) : m_next(next) {}
    Status write(Bytes data) override
    {
        m_bytes += data.size();
        return m_next.write(data);
    }
    Status finish() override { return m_next.finish(); }
    void abort() noexcept override { m_next.abort(); }
    std::uint64_t bytes() const noexcept { return m_bytes; }

private:
    Sink& m_next;
    std::uint64_t m_bytes = 0;
};

std::string sha256_hex(Bytes data);

} // namespace dbkeep::stream
