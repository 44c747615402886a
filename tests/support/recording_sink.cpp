#include "support/recording_sink.hpp"

#include <thread>

namespace dbkeep::test {

Status RecordingSink::write(Bytes bytes)
{
    ++writes;
    if (fail_on_write == writes) {
        return fail(ErrorKind::failed, "write", "test sink", "injected failure");
    }
    if (delay.count() > 0) {
        std::this_thread::sleep_for(delay); // simulates a slow consumer; not a wait for an event
    }
    data.append(as_chars(bytes));
    return {};
}

Status RecordingSink::finish()
{
    ++finishes;
    if (fail_finish) {
        return fail(ErrorKind::failed, "finish", "test sink", "injected failure");
    }
    return {};
}

} // namespace dbkeep::test
