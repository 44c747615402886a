#include "core/url.hpp"

#include "core/percent.hpp"

#include <cctype>
#include <cstdlib>

namespace dbkeep {

std::optional<Url> parse_url(const std::string& text)
{
    Url u;
    auto colon = text.find("://");
    if (colon == std::string::npos || colon == 0) {
        return std::nullopt;
    }
    u.scheme = text.substr(0, colon);
    std::string rest = text.substr(colon + 3);
    std::string query;
    if (auto q = rest.find('?'); q != std::string::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    std::string authority = rest;
    if (auto slash = rest.find('/'); slash != std::string::npos) {
        authority = rest.substr(0, slash);
        u.path = percent_decode(rest.substr(slash + 1));
    }
    if (auto at = authority.rfind('@'); at != std::string::npos) {
        std::string userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        if (auto c = userinfo.find(':'); c != std::string::npos) {
            u.user = percent_decode(userinfo.substr(0, c));
            u.password = percent_decode(userinfo.substr(c + 1));
        } else {
            u.user = percent_decode(userinfo);
        }
    }
    std::string hostport = authority;
    if (!hostport.empty() && hostport[0] == '[') {
        auto close = hostport.find(']');
        if (close == std::string::npos) {
            return std::nullopt;
        }
        u.host = hostport.substr(1, close - 1);
        hostport = hostport.substr(close + 1);
        if (!hostport.empty() && hostport[0] == ':') {
            hostport = hostport.substr(1);
        } else if (!hostport.empty()) {
            return std::nullopt;
        }
        if (!hostport.empty()) {
            char* end = nullptr;
            long p = std::strtol(hostport.c_str(), &end, 10);
            if (*end || p <= 0 || p > 65535) {
                return std::nullopt;
            }
            u.port = static_cast<int>(p);
        }
    } else if (auto c = hostport.rfind(':'); c != std::string::npos) {
        u.host = hostport.substr(0, c);
        std::string port = hostport.substr(c + 1);
        char* end = nullptr;
        long p = std::strtol(port.c_str(), &end, 10);
        if (port.empty() || *end || p <= 0 || p > 65535) {
            return std::nullopt;
        }
        u.port = static_cast<int>(p);
    } else {
        u.host = hostport;
    }
    std::size_t start = 0;
    while (start < query.size()) {
        auto amp = query.find('&', start);
        std::string kv = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
        auto eq = kv.find('=');
        if (eq != std::string::npos) {
            u.query[percent_decode(kv.substr(0, eq))] = percent_decode(kv.substr(eq + 1));
        }
        if (amp == std::string::npos) {
            break;
        }
        start = amp + 1;
    }
    return u;
}

std::string redact_url(const std::string& text)
{
    auto colon = text.find("://");
    if (colon == std::string::npos) {
        return text;
    }
    auto start = colon + 3;
    auto end = text.find_first_of("/?", start);
    std::string authority = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    auto at = authority.rfind('@');
    if (at == std::string::npos) {
        // A password with an unescaped '/', '?' or '#' ends the authority early: when an '@' follows
        // later with a ':' before it, hide everything from that ':' to the last '@' (it may hide more than
        // the password, never less).
        auto last_at = text.rfind('@');
        auto c = text.find(':', start);
        if (last_at == std::string::npos || last_at < start || c == std::string::npos || c > last_at) {
            return text;
        }
        return text.substr(0, c) + ":***" + text.substr(last_at);
    }
    auto c = authority.find(':');
    if (c == std::string::npos || c > at) {
        return text;
    }
    return text.substr(0, start) + authority.substr(0, c) + ":***" + authority.substr(at) +
           (end == std::string::npos ? "" : text.substr(end));
}

} // namespace dbkeep
