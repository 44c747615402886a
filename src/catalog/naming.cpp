#include "catalog/naming.hpp"

#include <cstdio>
#include <ctime>
#include <random>

namespace dbkeep::catalog {
namespace {

constexpr std::string_view k_manifest_suffix = ".manifest.json";

bool is_digits(std::string_view s)
{
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return !s.empty();
}

std::tm to_utc_tm(TimePoint t)
{
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    return tm;
}

std::string basename_of(const std::string& key)
{
    auto slash = key.rfind('/');
    return slash == std::string::npos ? key : key.substr(slash + 1);
}

int number(std::string_view digits)
{
    int n = 0;
    for (char c : digits) {
        n = n * 10 + (c - '0');
    }
    return n;
}

bool is_lower_hex(std::string_view s)
{
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return !s.empty();
}

int days_in_month(int year, int month)
{
    static constexpr int k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : k_days[month - 1];
}

bool valid_date_time(int y, int mo, int d, int h, int mi, int s)
{
    return mo >= 1 && mo <= 12 && d >= 1 && d <= days_in_month(y, mo) && h >= 0 && h <= 23 && mi >= 0 && mi <= 59 &&
           s >= 0 && s <= 60;
}

bool valid_id(std::string_view id)
{
    // 20261125T000000Z-abcdef. The suffix is checked too: ids come from users (--backup ID) and end up in
    // storage keys, so nothing but these characters may pass.
    if (id.size() != 23 || id[8] != 'T' || id[15] != 'Z' || id[16] != '-') {
        return false;
    }
    if (!is_digits(id.substr(0, 8)) || !is_digits(id.substr(9, 6)) || !is_lower_hex(id.substr(17))) {
        return false;
    }
    return valid_date_time(number(id.substr(0, 4)), number(id.substr(4, 2)), number(id.substr(6, 2)),
                           number(id.substr(9, 2)), number(id.substr(11, 2)), number(id.substr(13, 2)));
}

// n digits at text[pos...], as a number, or -1.
int digits_at(const std::string& text, std::size_t pos, std::size_t n)
{
    if (pos + n > text.size() || !is_digits(std::string_view(text).substr(pos, n))) {
        return -1;
    }
    return number(std::string_view(text).substr(pos, n));
}

} // namespace

std::string make_backup_id(TimePoint start, const std::string& suffix)
{
    std::tm tm = to_utc_tm(start);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    return std::string(buf) + "-" + suffix;
}

std::string random_suffix()
{
    static thread_local std::mt19937 rng{std::random_device{}()};
    char buf[8];
    std::snprintf(buf, sizeof buf, "%06x", static_cast<unsigned>(rng() & 0xffffff));
    return buf;
}

std::optional<TimePoint> backup_time(const std::string& id)
{
    if (!valid_id(id)) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = std::stoi(id.substr(0, 4)) - 1900;
    tm.tm_mon = std::stoi(id.substr(4, 2)) - 1;
    tm.tm_mday = std::stoi(id.substr(6, 2));
    tm.tm_hour = std::stoi(id.substr(9, 2));
    tm.tm_min = std::stoi(id.substr(11, 2));
    tm.tm_sec = std::stoi(id.substr(13, 2));
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string backup_folder(const std::string& target, const std::string& id)
{
    return target + "/" + id.substr(0, 4) + "/" + id.substr(4, 2) + "/";
}

std::string object_key(const std::string& target, const std::string& id, const std::string& format, bool encrypted)
{
    return backup_folder(target, id) + id + "." + format + ".zst" + (encrypted ? ".age" : "");
}

std::string manifest_key(const std::string& target, const std::string& id)
{
    return backup_folder(target, id) + id + std::string(k_manifest_suffix);
}

std::string lease_key(const std::string& target)
{
    return target + "/lease.json";
}

std::string target_prefix(const std::string& target)
{
    return target + "/";
}

std::optional<std::string> id_from_manifest_key(const std::string& key)
{
    std::string base = basename_of(key);
    if (base.size() <= k_manifest_suffix.size() || !base.ends_with(k_manifest_suffix)) {
        return std::nullopt;
    }
    std::string id = base.substr(0, base.size() - k_manifest_suffix.size());
    return valid_id(id) ? std::optional(id) : std::nullopt;
}

std::optional<std::string> id_from_object_key(const std::string& key)
{
    std::string base = basename_of(key);
    if (base.ends_with(k_manifest_suffix) || base.size() < 24 || base[23] != '.') {
        return std::nullopt;
    }
    std::string id = base.substr(0, 23);
    return valid_id(id) ? std::optional(id) : std::nullopt;
}

std::string format_time(TimePoint t)
{
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    auto secs = std::chrono::system_clock::time_point(std::chrono::seconds(ms >= 0 ? ms / 1000 : (ms - 999) / 1000));
    std::tm tm = to_utc_tm(secs);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(((ms % 1000) + 1000) % 1000));
    return buf;
}

std::optional<TimePoint> parse_time(const std::string& text)
{
    // YYYY-MM-DD[(T| )HH:MM:SS[.f+](Z|+hh:mm|-hh:mm)?]; a date alone is midnight UTC, no zone is UTC.
    // Fixed positions, digits only: sscanf's %d would also take signs, spaces and short fields.
    int y = digits_at(text, 0, 4), mo = digits_at(text, 5, 2), d = digits_at(text, 8, 2);
    if (y < 0 || mo < 0 || d < 0 || text[4] != '-' || text[7] != '-') {
        return std::nullopt;
    }
    int h = 0, mi = 0, s = 0, ms = 0;
    long offset_s = 0;
    std::size_t pos = 10;
    if (pos < text.size()) {
        if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') {
            return std::nullopt;
        }
        h = digits_at(text, 11, 2);
        mi = digits_at(text, 14, 2);
        s = digits_at(text, 17, 2);
        if (h < 0 || mi < 0 || s < 0 || text[13] != ':' || text[16] != ':') {
            return std::nullopt;
        }
        pos = 19;
        if (pos < text.size() && text[pos] == '.') {
            ++pos;
            int digits = 0;
            while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
                if (digits < 3) {
                    ms = ms * 10 + (text[pos] - '0');
                }
                ++digits;
                ++pos;
            }
            if (digits == 0) {
                return std::nullopt;
            }
            for (; digits < 3; ++digits) {
                ms *= 10;
            }
        }
        if (pos < text.size()) {
            if ((text[pos] == 'Z' || text[pos] == 'z') && pos + 1 == text.size()) {
                // UTC
            } else if ((text[pos] == '+' || text[pos] == '-') && text.size() == pos + 6 && text[pos + 3] == ':') {
                int oh = digits_at(text, pos + 1, 2), om = digits_at(text, pos + 4, 2);
                if (oh < 0 || oh > 23 || om < 0 || om > 59) {
                    return std::nullopt;
                }
                offset_s = (oh * 3600L + om * 60L) * (text[pos] == '+' ? 1 : -1);
            } else {
                return std::nullopt;
            }
        }
    }
    if (!valid_date_time(y, mo, d, h, mi, s)) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    auto t = std::chrono::system_clock::from_time_t(timegm(&tm) - offset_s);
    return t + std::chrono::milliseconds(ms);
}

bool valid_target_name(const std::string& name)
{
    if (name.empty() || name.size() > 64 || name.front() == '.') {
        return false;
    }
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.';
        if (!ok) {
            return false;
        }
    }
    return name.find("..") == std::string::npos;
}

} // namespace dbkeep::catalog
