#include "core/time.hpp"

#include <cstdio>
#include <string_view>

namespace dbkeep {
namespace {

// n digits at text[pos...], as a number, or -1 (sscanf's %d would also take signs, spaces and short fields).
int digits_at(const std::string& text, std::size_t pos, std::size_t n)
{
    if (pos + n > text.size()) {
        return -1;
    }
    int value = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (text[i] < '0' || text[i] > '9') {
            return -1;
        }
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

int days_in_month(int year, int month)
{
    static constexpr int k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : k_days[month - 1];
}

} // namespace

std::tm utc_tm(TimePoint t)
{
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    return tm;
}

bool valid_date_time(int year, int month, int day, int hour, int minute, int second)
{
    return month >= 1 && month <= 12 && day >= 1 && day <= days_in_month(year, month) && hour >= 0 && hour <= 23 &&
           minute >= 0 && minute <= 59 && second >= 0 && second <= 60;
}

std::string format_rfc3339(TimePoint t)
{
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    auto secs = std::chrono::system_clock::time_point(std::chrono::seconds(ms >= 0 ? ms / 1000 : (ms - 999) / 1000));
    std::tm tm = utc_tm(secs);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(((ms % 1000) + 1000) % 1000));
    return buf;
}

std::optional<TimePoint> parse_rfc3339(const std::string& text)
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

} // namespace dbkeep
