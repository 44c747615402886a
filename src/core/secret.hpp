// A value that must never be printed: passwords, secret keys, passphrases. Printing it yields "<redacted>".
#pragma once

#include <string>
#include <utility>

namespace dbkeep {

class Secret {
public:
    Secret() = default;
    explicit Secret(std::string value) : m_value(std::move(value)) {}

    const std::string& reveal() const noexcept { return m_value; }
    bool empty() const noexcept { return m_value.empty(); }
    std::string to_string() const { return m_value.empty() ? "" : "<redacted>"; }

    friend bool operator==(const Secret&, const Secret&) = default;

private:
    std::string m_value;
};

} // namespace dbkeep
