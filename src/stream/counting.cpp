#include "stream/counting.hpp"

namespace dbkeep::stream {

CountingSink::CountingSink(Sink& next) : Stage(next, "count") {}

Status CountingSink::on_write(Bytes data)
{
    m_bytes += data.size();
    return next().write(data);
}

Status CountingSink::on_finish()
{
    return {};
}

} // namespace dbkeep::stream
