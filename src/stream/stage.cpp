#include "stream/stage.hpp"

namespace dbkeep::stream {

Stage::Stage(Sink& next, std::string operation) : m_next(next), m_operation(std::move(operation)) {}

Stage::~Stage()
{
    if (m_state == State::open) {
        m_state = State::aborted;
        m_next.abort();
    }
}

Status Stage::write(Bytes data)
{
    if (m_state != State::open) {
        return closed_error();
    }
    return on_write(data);
}

Status Stage::finish()
{
    if (m_state != State::open) {
        return closed_error();
    }
    if (auto st = on_finish(); !st) {
        abort();
        return st;
    }
    m_state = State::finished;
    return m_next.finish();
}

void Stage::abort() noexcept
{
    if (m_state != State::open) {
        return;
    }
    m_state = State::aborted;
    on_abort();
    m_next.abort();
}

std::unexpected<Error> Stage::closed_error() const
{
    return fail(ErrorKind::failed, m_operation, "",
                m_state == State::finished ? "stream already finished" : "stream already aborted");
}

} // namespace dbkeep::stream
