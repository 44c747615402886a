#include "schedule/cron.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <date/tz.h>
#include <vector>

namespace dbkeep::schedule {
namespace {

struct FieldSpec {
    const char* name;
    int min, max;
    const char* const* names; // 3-letter names from `min`, or nullptr
};

constexpr const char* k_months[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* k_days[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
constexpr std::array<FieldSpec, 5> k_fields = {{{"minute", 0, 59, nullptr},
                                                {"hour", 0, 23, nullptr},
                                                {"day-of-month", 1, 31, nullptr},
                                                {"month", 1, 12, k_months},
                                                {"day-of-week", 0, 7, k_days}}};

std::optional<int> parse_value(const std::string& s, const FieldSpec& f)
{
    if (s.empty()) {
        return std::nullopt;
    }
    if (std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); })) {
        if (s.size() > 4) {
            return std::nullopt;
        }
        return std::stoi(s);
    }
    if (f.names && s.size() == 3) {
        std::string up = s;
        for (auto& c : up) {
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
        int count = f.max - f.min + 1 - (f.names == k_days ? 1 : 0);
        for (int i = 0; i < count; ++i) {
            if (up == f.names[i]) {
                return f.min + i;
            }
        }
    }
    return std::nullopt;
}

// Parses one field into bits [min..max]; returns an error message or empty.
std::string parse_field(const std::string& text, const FieldSpec& f, std::vector<bool>& bits, bool& restricted)
{
    bits.assign(static_cast<std::size_t>(f.max + 1), false);
    restricted = text != "*" && text != "?";
    std::size_t start = 0;
    while (start <= text.size()) {
        auto comma = text.find(',', start);
        std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (item.empty()) {
            return "empty list item in the " + std::string(f.name) + " field";
        }
        int step = 1;
        if (auto slash = item.find('/'); slash != std::string::npos) {
            std::string st = item.substr(slash + 1);
            if (st.empty() || !std::all_of(st.begin(), st.end(), [](unsigned char c) { return std::isdigit(c); }) ||
                st.size() > 4 || std::stoi(st) == 0) {
                return "bad step '" + st + "' in the " + f.name + " field";
            }
            step = std::stoi(st);
            item = item.substr(0, slash);
        }
        int lo, hi;
        if (item == "*" || item == "?") {
            lo = f.min;
            hi = f.max == 7 ? 6 : f.max;
        } else if (auto dash = item.find('-'); dash != std::string::npos) {
            auto a = parse_value(item.substr(0, dash), f);
            auto b = parse_value(item.substr(dash + 1), f);
            if (!a || !b) {
                return "bad range '" + item + "' in the " + f.name + " field";
            }
            lo = *a;
            hi = *b;
        } else {
            auto v = parse_value(item, f);
            if (!v) {
                return "bad value '" + item + "' in the " + f.name + " field";
            }
            lo = *v;
            hi = step > 1 ? (f.max == 7 ? 6 : f.max) : *v; // "5/15" means 5-max/15
        }
        if (lo < f.min || hi > f.max || lo > f.max || hi < f.min) {
            return std::string(f.name) + " value out of range " + std::to_string(f.min) + "-" + std::to_string(f.max) +
                   " in '" + item + "'";
        }
        if (lo > hi) {
            return "range '" + item + "' in the " + f.name + " field runs backwards";
        }
        for (int v = lo; v <= hi; v += step) {
            bits[static_cast<std::size_t>(v)] = true;
        }
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    return {};
}

bool day_matches(const CronSchedule& s, date::year_month_day ymd)
{
    if (!s.months[static_cast<unsigned>(ymd.month())]) {
        return false;
    }
    bool dom = s.days[static_cast<unsigned>(ymd.day())];
    bool dow = s.weekdays[date::weekday(ymd).c_encoding()];
    if (s.days_restricted && s.weekdays_restricted) {
        return dom || dow;
    }
    return dom && dow;
}

using LocalMinutes = date::local_time<std::chrono::minutes>;

// The instant a scheduled local time stands for: the gap's end for a nonexistent time, the first occurrence
// for an ambiguous one.
date::sys_seconds to_instant(const date::time_zone* zone, LocalMinutes local)
{
    auto info = zone->get_info(local);
    switch (info.result) {
    case date::local_info::unique: return date::sys_seconds{local.time_since_epoch() - info.first.offset};
    case date::local_info::nonexistent: return info.second.begin;
    case date::local_info::ambiguous:
    default: return date::sys_seconds{local.time_since_epoch() - info.first.offset};
    }
}

constexpr int k_horizon_days = 366 * 10;

} // namespace

std::expected<CronSchedule, CronError> parse_cron(const std::string& expression)
{
    std::string expr = expression;
    while (!expr.empty() && std::isspace(static_cast<unsigned char>(expr.back()))) {
        expr.pop_back();
    }
    std::size_t lead = 0;
    while (lead < expr.size() && std::isspace(static_cast<unsigned char>(expr[lead]))) {
        ++lead;
    }
    std::string body = expr.substr(lead);
    if (!body.empty() && body[0] == '@') {
        static const std::pair<const char*, const char*> k_macros[] = {
            {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
            {"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"}};
        for (const auto& [name, value] : k_macros) {
            if (body == name) {
                auto s = parse_cron(value);
                if (s) {
                    s->text = expression;
                }
                return s;
            }
        }
        return std::unexpected(
            CronError{"unknown macro '" + body +
                          "' (expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually)",
                      static_cast<int>(lead)});
    }
    std::vector<std::pair<std::string, int>> fields;
    std::size_t i = lead;
    while (i < expr.size()) {
        while (i < expr.size() && std::isspace(static_cast<unsigned char>(expr[i]))) {
            ++i;
        }
        std::size_t start = i;
        while (i < expr.size() && !std::isspace(static_cast<unsigned char>(expr[i]))) {
            ++i;
        }
        if (i > start) {
            fields.emplace_back(expr.substr(start, i - start), static_cast<int>(start));
        }
    }
    if (fields.size() != 5) {
        return std::unexpected(CronError{"expected 5 fields (minute hour day-of-month month day-of-week), found " +
                                             std::to_string(fields.size()),
                                         static_cast<int>(lead)});
    }
    CronSchedule s;
    s.text = expression;
    for (std::size_t f = 0; f < 5; ++f) {
        std::vector<bool> bits;
        bool restricted = false;
        if (auto err = parse_field(fields[f].first, k_fields[f], bits, restricted); !err.empty()) {
            return std::unexpected(CronError{err, fields[f].second});
        }
        for (std::size_t v = 0; v < bits.size(); ++v) {
            if (!bits[v]) {
                continue;
            }
            switch (f) {
            case 0: s.minutes.set(v); break;
            case 1: s.hours.set(v); break;
            case 2: s.days.set(v); break;
            case 3: s.months.set(v); break;
            case 4: s.weekdays.set(v % 7); break;
            }
        }
        if (f == 2) {
            s.days_restricted = restricted;
        } else if (f == 4) {
            s.weekdays_restricted = restricted;
        }
    }
    return s;
}

const date::time_zone* find_zone(const std::string& name)
{
    try {
        return date::locate_zone(name.empty() ? "UTC" : name);
    } catch (const std::exception&) {
        return nullptr;
    }
}

std::optional<TimePoint> next_fire(const CronSchedule& s, const date::time_zone* zone, TimePoint after)
{
    const auto after_s = date::floor<std::chrono::seconds>(after);
    // Start one day early: a local time before `after`'s local date can map after it across a DST change.
    auto local_after = zone->to_local(after_s);
    auto day = date::floor<date::days>(local_after) - date::days{1};
    for (int n = 0; n < k_horizon_days; ++n, day += date::days{1}) {
        date::year_month_day ymd{day};
        if (!day_matches(s, ymd)) {
            continue;
        }
        for (int h = 0; h < 24; ++h) {
            if (!s.hours[static_cast<std::size_t>(h)]) {
                continue;
            }
            for (int m = 0; m < 60; ++m) {
                if (!s.minutes[static_cast<std::size_t>(m)]) {
                    continue;
                }
                LocalMinutes local{day.time_since_epoch() + std::chrono::hours(h) + std::chrono::minutes(m)};
                auto instant = to_instant(zone, local);
                if (TimePoint{instant} > after) {
                    return TimePoint{instant};
                }
            }
        }
    }
    return std::nullopt;
}

std::optional<TimePoint> previous_fire(const CronSchedule& s, const date::time_zone* zone, TimePoint at)
{
    auto local_at = zone->to_local(date::floor<std::chrono::seconds>(at));
    auto day = date::floor<date::days>(local_at) + date::days{1};
    for (int n = 0; n < k_horizon_days; ++n, day -= date::days{1}) {
        date::year_month_day ymd{day};
        if (!day_matches(s, ymd)) {
            continue;
        }
        for (int h = 23; h >= 0; --h) {
            if (!s.hours[static_cast<std::size_t>(h)]) {
                continue;
            }
            for (int m = 59; m >= 0; --m) {
                if (!s.minutes[static_cast<std::size_t>(m)]) {
                    continue;
                }
                LocalMinutes local{day.time_since_epoch() + std::chrono::hours(h) + std::chrono::minutes(m)};
                TimePoint instant{to_instant(zone, local)};
                if (instant <= at) {
                    return instant;
                }
            }
        }
    }
    return std::nullopt;
}

bool due(const CronSchedule& s, const date::time_zone* zone, std::optional<TimePoint> last_success, TimePoint now)
{
    auto prev = previous_fire(s, zone, now);
    if (!prev) {
        return false;
    }
    return !last_success || *prev > *last_success;
}

} // namespace dbkeep::schedule
