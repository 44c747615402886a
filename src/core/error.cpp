#include "core/error.hpp"

#include <cstring>

namespace dbkeep {

const char* to_string(ErrorKind kind) noexcept
{
    switch (kind) {
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::auth: return "auth";
    case ErrorKind::transient: return "transient";
    case ErrorKind::corruption: return "corruption";
    case ErrorKind::config: return "config";
    case ErrorKind::cancelled: return "cancelled";
    case ErrorKind::conflict: return "conflict";
    case ErrorKind::failed: return "failed";
    }
    return "failed";
}

std::string Error::to_string() const
{
    std::string out = operation;
    if (!object.empty()) {
        out += out.empty() ? object : " " + object;
    }
    if (!message.empty()) {
        out += out.empty() ? message : ": " + message;
    }
    if (!hint.empty()) {
        out += " (" + hint + ")";
    }
    return out;
}

std::string errno_message(int err)
{
    char buf[256];
    // GNU strerror_r returns a pointer that may or may not be buf.
    const char* msg = strerror_r(err, buf, sizeof buf);
    return msg;
}

} // namespace dbkeep
