#include "engine/postgres/encoding.hpp"

#include "engine/postgres/connection.hpp"

#include <algorithm>
#include <iconv.h>
#include <map>

namespace dbkeep::engine::pg {

namespace {

// `in` converted by iconv from `from` to `to` (iconv names); nullopt when either is unknown or a byte sequence
// has no place in `to`.
std::optional<std::string> convert(const std::string& in_text, const std::string& to, const std::string& from)
{
    iconv_t cd = ::iconv_open(to.c_str(), from.c_str());
    if (cd == reinterpret_cast<iconv_t>(-1)) { // NOLINT(performance-no-int-to-ptr): iconv_open's failure value
        return std::nullopt;
    }
    std::string in = in_text;
    std::string out(in_text.size() * 4 + 4, '\0');
    char* ip = in.data();
    char* op = out.data();
    std::size_t il = in.size();
    std::size_t ol = out.size();
    const std::size_t rc = ::iconv(cd, &ip, &il, &op, &ol);
    ::iconv_close(cd);
    if (rc == static_cast<std::size_t>(-1) || il != 0) {
        return std::nullopt;
    }
    out.resize(out.size() - ol);
    return out;
}

} // namespace

std::string iconv_name(const std::string& pg)
{
    static const std::map<std::string, std::string> k_names = {
        {"LATIN1", "ISO-8859-1"},
        {"LATIN2", "ISO-8859-2"},
        {"LATIN3", "ISO-8859-3"},
        {"LATIN4", "ISO-8859-4"},
        {"LATIN5", "ISO-8859-9"},
        {"LATIN6", "ISO-8859-10"},
        {"LATIN7", "ISO-8859-13"},
        {"LATIN8", "ISO-8859-14"},
        {"LATIN9", "ISO-8859-15"},
        {"LATIN10", "ISO-8859-16"},
        {"ISO_8859_5", "ISO-8859-5"},
        {"ISO_8859_6", "ISO-8859-6"},
        {"ISO_8859_7", "ISO-8859-7"},
        {"ISO_8859_8", "ISO-8859-8"},
        {"KOI8R", "KOI8-R"},
        {"KOI8U", "KOI8-U"},
        {"EUC_JP", "EUC-JP"},
        {"EUC_CN", "EUC-CN"},
        {"EUC_KR", "EUC-KR"},
        {"EUC_TW", "EUC-TW"},
        {"EUC_JIS_2004", "EUC-JISX0213"},
        {"MULE_INTERNAL", ""},
        {"SJIS", "SHIFT_JIS"},
        {"BIG5", "BIG5"},
        {"GBK", "GBK"},
        {"UHC", "CP949"},
        {"GB18030", "GB18030"},
        {"JOHAB", "JOHAB"},
    };
    if (auto it = k_names.find(pg); it != k_names.end()) {
        return it->second;
    }
    if (pg.starts_with("WIN")) {
        return "CP" + pg.substr(3);
    }
    return "";
}

std::string archive_text(const std::string& bytes, const std::string& encoding)
{
    const std::string from = encoding == "UTF8" || encoding == "SQL_ASCII" ? "" : iconv_name(encoding);
    if (from.empty() || bytes.empty()) {
        return utf8_or_escaped(bytes);
    }
    auto out = convert(bytes, "UTF-8", from);
    return utf8_or_escaped(out ? *out : bytes);
}

std::optional<std::string> to_encoding(const std::string& utf8, const std::string& encoding)
{
    const bool ascii =
        std::all_of(utf8.begin(), utf8.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (ascii || encoding.empty() || encoding == "UTF8" || encoding == "SQL_ASCII") {
        return utf8;
    }
    const std::string to = iconv_name(encoding);
    if (to.empty()) {
        return std::nullopt;
    }
    return convert(utf8, to, "UTF-8");
}

} // namespace dbkeep::engine::pg
