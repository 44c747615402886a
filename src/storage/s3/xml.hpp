// The little XML that S3 and STS answer with (flat documents, no attributes, no namespaces in the tags we
// read) and that S3 requests carry: enough to read a value and to escape one, not a parser.
#pragma once

#include <string>
#include <vector>

namespace dbkeep::storage::s3 {

// Escapes &, <, >, " and ' for element content. Pure; thread-safe.
std::string xml_escape(const std::string& text);

// Every value of <tag>...</tag> in document order between byte offsets [from, to), unescaped (the five
// predefined entities, &#13; and &#10;). An unclosed element ends the search. Pure; thread-safe.
std::vector<std::string> xml_values(const std::string& xml, const std::string& tag, std::size_t from = 0,
                                    std::size_t to = std::string::npos);

// The first value of <tag>, or "" when there is none. Pure; thread-safe.
std::string xml_value(const std::string& xml, const std::string& tag);

} // namespace dbkeep::storage::s3
