#include "stream/counting.hpp"

namespace dbkeep::stream {

CountingSink::CountingSink(Sink& next) : Stage(next, "count") {}

Status CountingSink::on_write(Bytes data)
{
    m_bytes.fetch_add(data.size(), std::memory_order_relaxed);
    return next().write(data);
}

Status CountingSink::on_finish()
{
    return {};
}

Result<std::size_t> CountingSource::read(MutableBytes out)
{
    auto n = m_in.read(out);
    if (n) {
        m_bytes.fetch_add(*n, std::memory_order_relaxed);
    }
    return n;
}

Result<std::uint64_t> drain(Source& source, std::size_t chunk)
{
    class Discard final : public Sink {
    public:
        Status write(Bytes /*data*/) override { return {}; }
        Status finish() override { return {}; }
        void abort() noexcept override {}
    } discard;
    return copy(source, discard, chunk);
}

} // namespace dbkeep::stream
