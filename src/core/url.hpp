// Connection URLs (postgres://, redis://): parsing and redaction of the password.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace dbkeep {

struct Url {
    std::string scheme, user, password, host;
    int port = 0;
    std::string path; // without the leading '/', percent-decoded
    std::map<std::string, std::string> query;
};

// scheme://[user[:password]@]host[:port][/path][?k=v&...]; user, password and path are percent-decoded.
std::optional<Url> parse_url(const std::string& text);

// The URL with any password replaced by "***".
std::string redact_url(const std::string& text);

} // namespace dbkeep
