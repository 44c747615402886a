// A Stage is a Sink that transforms or observes bytes on their way to the next Sink (zstd, age, sha256,
// counting). It implements the flush contract of sink.hpp once, so that stages only say what they do
// with bytes (pgBackRest's filter model, src/common/io/filter/filter.intern.h).
//
// The contract, as every stage now keeps it:
// - write() forwards to on_write() while the stage is open; a failed write leaves it open (the caller
//   aborts).
// - finish() calls on_finish() (flush buffered bytes and write any trailer into next()), then finish() on
//   the wrapped sink and returns its status. If on_finish() fails the stage aborts (the wrapped sink is
//   aborted, never finished) and returns that error. If the wrapped sink's finish() fails, the stage is
//   finished all the same: the wrapped sink cleans up its own failed finish (a storage writer that cannot
//   commit leaves nothing behind, at the latest when it is destroyed).
// - abort() calls on_abort() and then abort() on the wrapped sink, once.
// - After finish() or abort(), write() and finish() fail with ErrorKind::failed naming the stage's
//   operation, and abort() is a no-op.
// - Destroying an open stage aborts the wrapped sink. on_abort() is not called then: the derived part is
//   already destroyed, so derived destructors release their own resources.
// Not thread-safe, like every Sink.
#pragma once

#include "stream/sink.hpp"

#include <string>

namespace dbkeep::stream {

class Stage : public Sink {
public:
    Stage(const Stage&) = delete;
    Stage& operator=(const Stage&) = delete;
    ~Stage() override;

    Status write(Bytes data) final;
    Status finish() final;
    void abort() noexcept final;

protected:
    // operation names the stage in errors: "compress", "encrypt", "hash", "count".
    Stage(Sink& next, std::string operation);

    Sink& next() noexcept { return m_next; }

    // Called only while the stage is open.
    virtual Status on_write(Bytes data) = 0;
    // Flushes what is buffered and writes any trailer into next(); must not call next().finish().
    virtual Status on_finish() = 0;
    // Releases what is buffered; must not call next().abort().
    virtual void on_abort() noexcept {}

private:
    enum class State { open, finished, aborted };

    std::unexpected<Error> closed_error() const;

    Sink& m_next;
    std::string m_operation;
    State m_state = State::open;
};

} // namespace dbkeep::stream
