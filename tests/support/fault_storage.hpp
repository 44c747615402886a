// A Storage that forwards every call to another Storage and fails the calls it is told to, to prove what a
// failure at each step leaves behind (leveldb's EnvWrapper and db/fault_injection_test.cc).
//
// Rules match keys with shell globs (fnmatch without FNM_PATHNAME: '*' also matches '/'), so
// "*.manifest.json" matches every manifest. An injected failure never reaches the wrapped storage: a
// failed finish() leaves the wrapped writer neither committed nor aborted, so that only the caller's
// abort() or the writer's destruction cleans it up, as the ObjectWriter contract requires.
// Thread-safe like every Storage: rules and counters are guarded by a mutex.
#pragma once

#include "storage/storage.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::test {

enum class FaultPoint {
    open_writer, // Storage::open_writer fails
    write,       // ObjectWriter::write fails once the writer has passed after_bytes
    finish,      // ObjectWriter::finish fails without committing
    remove,      // Storage::remove fails, removing nothing
    list,        // Storage::list fails
};

struct FaultRule {
    FaultPoint point = FaultPoint::open_writer;
    std::string pattern = "*"; // glob over the key; for list, over the prefix; for remove, over any key
    // Which matching occurrence fails, counting from 1: the nth open_writer, remove or list call, or for
    // write and finish the nth writer opened for a matching key. 0: every one.
    int nth = 1;
    // write: the bytes a writer accepts before failing. The write crossing the limit passes its first
    // bytes up to the limit to the wrapped writer, then fails.
    std::uint64_t after_bytes = 0;
    ErrorKind kind = ErrorKind::transient;
};

class FaultStorage final : public storage::Storage {
public:
    explicit FaultStorage(storage::Storage& inner) : m_inner(inner) {}

    void inject(FaultRule rule);
    // How many failures were injected so far.
    int injected() const;

    Result<std::unique_ptr<storage::ObjectWriter>> open_writer(const std::string& key) override;
    Result<std::unique_ptr<stream::Source>> open_reader(const std::string& key, storage::ByteRange range) override;
    Result<storage::ObjectInfo> stat(const std::string& key) override;
    Result<std::vector<storage::ObjectInfo>> list(const std::string& prefix) override;
    Status remove(const std::vector<std::string>& keys) override;
    Result<bool> create_if_absent(const std::string& key, const std::string& bytes) override;
    bool supports_conditional_create() const override;
    std::string describe() const override;
    std::vector<Finding> probe(const std::string& key_prefix) override { return m_inner.probe(key_prefix); }
    Result<std::vector<storage::IncompleteWrite>> list_incomplete(const std::string& prefix) override
    {
        return m_inner.list_incomplete(prefix);
    }
    Status discard_incomplete(const storage::IncompleteWrite& write) override
    {
        return m_inner.discard_incomplete(write);
    }

    // Called by the writers this storage hands out when they inject a failure.
    void count_injection();

private:
    struct ActiveRule {
        FaultRule rule;
        int seen = 0; // matching occurrences so far
    };
    // The rule of this point that fails this occurrence (of any of keys), if any.
    std::optional<FaultRule> firing_rule(FaultPoint point, const std::vector<std::string>& keys);

    storage::Storage& m_inner;
    mutable std::mutex m_mutex;
    std::vector<ActiveRule> m_rules;
    int m_injected = 0;
};

} // namespace dbkeep::test
