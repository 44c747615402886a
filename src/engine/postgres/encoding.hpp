// Text from a PostgreSQL database or dump (bytes in its server encoding) as UTF-8, for manifests, logs and JSON.
#pragma once

#include <optional>
#include <string>

namespace dbkeep::engine::pg {

// The iconv name of a PostgreSQL server encoding ("LATIN1" -> "ISO-8859-1", "WIN1252" -> "CP1252"), empty when
// there is none to convert from (UTF8, SQL_ASCII, MULE_INTERNAL, an unknown name). Pure; thread-safe.
std::string iconv_name(const std::string& pg);

// bytes in `encoding` (a PostgreSQL encoding name, e.g. an archive's ENCODING entry) as UTF-8: converted where
// the encoding is known and the bytes are valid in it, else escaped as utf8_or_escaped (connection.hpp) does.
// Never fails; thread-safe.
std::string archive_text(const std::string& bytes, const std::string& encoding);

// UTF-8 text as bytes in `encoding` (a PostgreSQL encoding name), for names and patterns a tool reads in the
// database's encoding. ASCII text, UTF8, SQL_ASCII and an empty (unknown) encoding return the text unchanged;
// nullopt when the text is not valid UTF-8 for the conversion, a character has no place in the encoding, or the
// encoding has no iconv name. Pure; thread-safe.
std::optional<std::string> to_encoding(const std::string& utf8, const std::string& encoding);

} // namespace dbkeep::engine::pg
