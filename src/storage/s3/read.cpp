#include "storage/s3/read.hpp"

#include <algorithm>
#include <cstring>

namespace dbkeep::storage::s3 {
namespace {

constexpr std::size_t k_read_chunk = 8 << 20;

class Reader final : public stream::Source {
public:
    Reader(Client& client, std::string key, std::uint64_t offset, std::uint64_t end)
        : m_client(client), m_key(std::move(key)), m_offset(offset), m_end(end)
    {
    }

    Result<std::size_t> read(MutableBytes out) override
    {
        if (m_pos == m_buf.size()) {
            if (m_offset >= m_end) {
                return 0;
            }
            std::uint64_t last = std::min<std::uint64_t>(m_offset + k_read_chunk, m_end) - 1;
            auto r =
                m_client.call({.method = "GET",
                               .key = m_key,
                               .headers = {{"Range", "bytes=" + std::to_string(m_offset) + "-" + std::to_string(last)}},
                               .operation = "read object"});
            if (!r) {
                return std::unexpected(r.error());
            }
            if (r->body.size() != last - m_offset + 1) {
                return fail(ErrorKind::transient, "read object", m_key, "short ranged read");
            }
            m_buf = std::move(r->body);
            m_pos = 0;
            m_offset = last + 1;
        }
        std::size_t n = std::min(out.size(), m_buf.size() - m_pos);
        std::memcpy(out.data(), m_buf.data() + m_pos, n);
        m_pos += n;
        return n;
    }

private:
    Client& m_client;
    std::string m_key;
    std::uint64_t m_offset, m_end;
    std::string m_buf;
    std::size_t m_pos = 0;
};

} // namespace

std::unique_ptr<stream::Source> make_reader(Client& client, std::string full_key, std::uint64_t offset,
                                            std::uint64_t end)
{
    return std::make_unique<Reader>(client, std::move(full_key), offset, end);
}

} // namespace dbkeep::storage::s3
