// The one error model: every operation that can fail at run time returns Result<T>, whose error carries a
// stable kind (drives retries and exit codes), the operation, the object it concerns and a hint.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace dbkeep {

enum class ErrorKind {
    not_found,  // the object, file, database or key does not exist
    auth,       // credentials were rejected or permission is missing
    transient,  // worth retrying: timeouts, resets, 5xx, throttling
    corruption, // data failed a checksum or a format check
    config,     // the configuration or the command line is wrong
    cancelled,  // SIGINT/SIGTERM or an explicit cancel
    conflict,   // a precondition failed: a conditional create found the object, a lease is held by another
    failed,     // any other failure of an operation (a tool exited non-zero, disk full, ...)
};

const char* to_string(ErrorKind kind) noexcept;

struct Error {
    ErrorKind kind = ErrorKind::failed;
    std::string operation; // lowercase verb phrase: "upload object", "run pg_dump"
    std::string object;    // what it concerned: target name, key, host
    std::string message;   // the cause, lowercase, never a secret
    std::string hint;      // what the user can do, may be empty

    // "operation object: message (hint)" on one line.
    std::string to_string() const;
};

template <class T> using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(ErrorKind kind, std::string operation, std::string object, std::string message,
                                   std::string hint = {})
{
    return std::unexpected(Error{kind, std::move(operation), std::move(object), std::move(message), std::move(hint)});
}

// The one message for an operation stopped by SIGINT/SIGTERM or cancel::request().
inline constexpr const char* k_cancelled_message = "cancelled by signal";

inline std::unexpected<Error> fail_cancelled(std::string operation, std::string object)
{
    return fail(ErrorKind::cancelled, std::move(operation), std::move(object), k_cancelled_message);
}

// Same error with more context prepended to the operation (e.g. "back up orders: " + inner).
inline std::unexpected<Error> wrap(Error inner, std::string_view outer_operation)
{
    inner.operation = std::string(outer_operation) + (inner.operation.empty() ? "" : ": " + inner.operation);
    return std::unexpected(std::move(inner));
}

// strerror for an errno value, thread-safe.
std::string errno_message(int err);

} // namespace dbkeep
