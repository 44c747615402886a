#include "storage/s3/xml.hpp"

#include <cstring>
#include <utility>

namespace dbkeep::storage::s3 {
namespace {

std::string xml_unescape(std::string s)
{
    static const std::pair<const char*, const char*> k_entities[] = {{"&lt;", "<"},   {"&gt;", ">"},   {"&quot;", "\""},
                                                                     {"&apos;", "'"}, {"&#13;", "\r"}, {"&#10;", "\n"},
                                                                     {"&amp;", "&"}};
    for (const auto& [from, to] : k_entities) {
        std::size_t pos = 0;
        while ((pos = s.find(from, pos)) != std::string::npos) {
            s.replace(pos, std::strlen(from), to);
            pos += std::strlen(to);
        }
    }
    return s;
}

} // namespace

std::string xml_escape(const std::string& text)
{
    std::string out;
    for (char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default: out += c;
        }
    }
    return out;
}

std::vector<std::string> xml_values(const std::string& xml, const std::string& tag, std::size_t from, std::size_t to)
{
    std::vector<std::string> out;
    const std::string open = "<" + tag + ">", close = "</" + tag + ">";
    std::size_t pos = from;
    while ((pos = xml.find(open, pos)) != std::string::npos && pos < to) {
        auto end = xml.find(close, pos);
        if (end == std::string::npos) {
            break;
        }
        out.push_back(xml_unescape(xml.substr(pos + open.size(), end - pos - open.size())));
        pos = end + close.size();
    }
    return out;
}

std::string xml_value(const std::string& xml, const std::string& tag)
{
    auto v = xml_values(xml, tag);
    return v.empty() ? "" : v.front();
}

} // namespace dbkeep::storage::s3
