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

} // namespace dbkeep::stream
