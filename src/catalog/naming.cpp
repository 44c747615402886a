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

bool valid_id(std::string_view id)
{
    // 20261125T000000Z-abcdef
    if (id.size() != 23 || id[8] != 'T' || id[15] != 'Z' || id[16] != '-') {
        return false;
    }
    return is_digits(id.substr(0, 8)) && is_digits(id.substr(9, 6));
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
    // YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm|-hh:mm); also a date alone (midnight UTC).
    int y, mo, d, h = 0, mi = 0, s = 0;
    if (text.size() < 10 || std::sscanf(text.c_str(), "%4d-%2d-%2d", &y, &mo, &d) != 3) {
        return std::nullopt;
    }
    std::size_t pos = 10;
    long offset_s = 0;
    int ms = 0;
    if (pos < text.size()) {
        if ((text[pos] != 'T' && text[pos] != ' ') ||
            std::sscanf(text.c_str() + pos + 1, "%2d:%2d:%2d", &h, &mi, &s) != 3) {
            return std::nullopt;
        }
        pos += 9;
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
            for (; digits < 3; ++digits) {
                ms *= 10;
            }
        }
        if (pos < text.size()) {
            if (text[pos] == 'Z' && pos + 1 == text.size()) {
                // UTC
            } else if ((text[pos] == '+' || text[pos] == '-') && text.size() == pos + 6) {
                int oh, om;
                if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) {
                    return std::nullopt;
                }
                offset_s = (oh * 3600L + om * 60L) * (text[pos] == '+' ? 1 : -1);
            } else {
                return std::nullopt;
            }
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) {
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
