#include "support/fault_storage.hpp"

#include <algorithm>
#include <fnmatch.h>

namespace dbkeep::test {
namespace {

std::unexpected<Error> injected_error(ErrorKind kind, std::string operation, std::string key)
{
    return fail(kind, std::move(operation), std::move(key), "injected failure");
}

class FaultWriter final : public storage::ObjectWriter {
public:
    FaultWriter(std::unique_ptr<storage::ObjectWriter> inner, FaultStorage& owner, std::string key,
                std::optional<FaultRule> write_fault, std::optional<FaultRule> finish_fault)
        : m_inner(std::move(inner)), m_owner(owner), m_key(std::move(key)), m_write_fault(std::move(write_fault)),
          m_finish_fault(std::move(finish_fault))
    {
    }

    Status write(Bytes data) override
    {
        if (m_write_fault && m_written + data.size() > m_write_fault->after_bytes) {
            auto head = data.first(static_cast<std::size_t>(m_write_fault->after_bytes - m_written));
            if (!head.empty()) {
                if (auto st = m_inner->write(head); !st) {
                    return st;
                }
                m_written += head.size();
            }
            m_owner.count_injection();
            return injected_error(m_write_fault->kind, "write object", m_key);
        }
        m_written += data.size();
        return m_inner->write(data);
    }

    Status finish() override
    {
        if (m_finish_fault) {
            m_owner.count_injection();
            return injected_error(m_finish_fault->kind, "commit object", m_key);
        }
        return m_inner->finish();
    }

    void abort() noexcept override { m_inner->abort(); }

private:
    std::unique_ptr<storage::ObjectWriter> m_inner; // aborts on destruction unless finished
    FaultStorage& m_owner;
    std::string m_key;
    std::optional<FaultRule> m_write_fault, m_finish_fault;
    std::uint64_t m_written = 0;
};

bool matches(const std::string& pattern, const std::string& text)
{
    return ::fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

} // namespace

void FaultStorage::inject(FaultRule rule)
{
    std::lock_guard lock(m_mutex);
    m_rules.push_back({std::move(rule)});
}

int FaultStorage::injected() const
{
    std::lock_guard lock(m_mutex);
    return m_injected;
}

void FaultStorage::count_injection()
{
    std::lock_guard lock(m_mutex);
    ++m_injected;
}

std::optional<FaultRule> FaultStorage::firing_rule(FaultPoint point, const std::vector<std::string>& keys)
{
    std::lock_guard lock(m_mutex);
    for (auto& active : m_rules) {
        if (active.rule.point != point ||
            std::none_of(keys.begin(), keys.end(), [&](const auto& k) { return matches(active.rule.pattern, k); })) {
            continue;
        }
        ++active.seen;
        if (active.rule.nth == 0 || active.rule.nth == active.seen) {
            return active.rule;
        }
    }
    return std::nullopt;
}

Result<std::unique_ptr<storage::ObjectWriter>> FaultStorage::open_writer(const std::string& key)
{
    if (auto rule = firing_rule(FaultPoint::open_writer, {key})) {
        count_injection();
        return injected_error(rule->kind, "open object writer", key);
    }
    auto write_fault = firing_rule(FaultPoint::write, {key});
    auto finish_fault = firing_rule(FaultPoint::finish, {key});
    auto inner = m_inner.open_writer(key);
    if (!inner) {
        return std::unexpected(inner.error());
    }
    return std::make_unique<FaultWriter>(std::move(*inner), *this, key, std::move(write_fault),
                                         std::move(finish_fault));
}
Result<std::unique_ptr<stream::Source>> FaultStorage::open_reader(const std::string& key, storage::ByteRange range)
{
    return m_inner.open_reader(key, range);
}

Result<storage::ObjectInfo> FaultStorage::stat(const std::string& key)
{
    return m_inner.stat(key);
}

Result<std::vector<storage::ObjectInfo>> FaultStorage::list(const std::string& prefix)
{
    if (auto rule = firing_rule(FaultPoint::list, {prefix})) {
        count_injection();
        return injected_error(rule->kind, "list objects", prefix);
    }
    return m_inner.list(prefix);
}

Status FaultStorage::remove(const std::vector<std::string>& keys)
{
    if (auto rule = firing_rule(FaultPoint::remove, keys)) {
        count_injection();
        return injected_error(rule->kind, "remove objects", keys.empty() ? "" : keys.front());
    }
    return m_inner.remove(keys);
}

Result<bool> FaultStorage::create_if_absent(const std::string& key, const std::string& bytes)
{
    return m_inner.create_if_absent(key, bytes);
}

bool FaultStorage::supports_conditional_create() const
{
    return m_inner.supports_conditional_create();
}

std::string FaultStorage::describe() const
{
    return "fault-injecting " + m_inner.describe();
}

} // namespace dbkeep::test
