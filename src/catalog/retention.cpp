#include "catalog/retention.hpp"

#include <algorithm>
#include <cstdio>
#include <date/iso_week.h>
#include <date/tz.h>
#include <optional>

namespace dbkeep::catalog {
namespace {

using namespace std::chrono;

struct Rule {
    const char* name;
    std::optional<int> count;
    std::string (*bucket)(const date::local_seconds&);
};

std::string fmt(const char* pattern, int a, int b = 0, int c = 0, int d = 0)
{
    char buf[48];
    std::snprintf(buf, sizeof buf, pattern, a, b, c, d);
    return buf;
}

std::string hour_bucket(const date::local_seconds& t)
{
    auto day = date::floor<date::days>(t);
    date::year_month_day ymd{day};
    auto h = date::floor<hours>(t - day).count();
    return fmt("%04d-%02d-%02dT%02d", int(ymd.year()), int(unsigned(ymd.month())), int(unsigned(ymd.day())), int(h));
}
std::string day_bucket(const date::local_seconds& t)
{
    date::year_month_day ymd{date::floor<date::days>(t)};
    return fmt("%04d-%02d-%02d", int(ymd.year()), int(unsigned(ymd.month())), int(unsigned(ymd.day())));
}
std::string week_bucket(const date::local_seconds& t)
{
    iso_week::year_weeknum_weekday w{date::floor<date::days>(t)};
    return fmt("%04d-W%02d", int(w.year()), int(unsigned(w.weeknum())));
}
std::string month_bucket(const date::local_seconds& t)
{
    date::year_month_day ymd{date::floor<date::days>(t)};
    return fmt("%04d-%02d", int(ymd.year()), int(unsigned(ymd.month())));
}
std::string year_bucket(const date::local_seconds& t)
{
    date::year_month_day ymd{date::floor<date::days>(t)};
    return fmt("%04d", int(ymd.year()));
}

// newest - span, with years and months as calendar arithmetic (clamped to the month's last day).
system_clock::time_point subtract(system_clock::time_point newest, const WithinSpan& w)
{
    auto secs = date::floor<seconds>(newest);
    auto day = date::floor<date::days>(secs);
    auto tod = secs - day;
    date::year_month_day ymd{day};
    auto ym = date::year_month{ymd.year(), ymd.month()} - date::years{w.years} - date::months{w.months};
    auto last = date::year_month_day_last{ym.year(), date::month_day_last{ym.month()}}.day();
    date::year_month_day shifted{ym.year(), ym.month(), std::min(ymd.day(), last)};
    auto t = date::sys_days{shifted} + tod;
    return t - date::days{w.weeks * 7 + w.days} - hours{w.hours};
}

} // namespace

Result<WithinSpan> parse_within(const std::string& text)
{
    WithinSpan w;
    if (text.empty()) {
        return fail(ErrorKind::config, "parse within", text, "empty duration");
    }
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            ++i;
        }
        if (i == start || i == text.size() || i - start > 6) {
            return fail(ErrorKind::config, "parse within", text,
                        "expected numbers with units y, m, w, d or h, e.g. 30d, 2w, 1y6m, 12h");
        }
        int n = std::stoi(text.substr(start, i - start));
        switch (text[i]) {
        case 'y': w.years += n; break;
        case 'm': w.months += n; break;
        case 'w': w.weeks += n; break;
        case 'd': w.days += n; break;
        case 'h': w.hours += n; break;
        default:
            return fail(ErrorKind::config, "parse within", text,
                        std::string("unknown unit '") + text[i] + "' (use y, m, w, d or h)");
        }
        ++i;
    }
    w.text = text;
    return w;
}

std::vector<RetentionDecision> apply_retention(std::vector<RetentionInput> backups, const RetentionPolicy& policy,
                                               const date::time_zone* zone, system_clock::time_point now, seconds skew)
{
    std::sort(backups.begin(), backups.end(),
              [](const auto& a, const auto& b) { return a.time != b.time ? a.time > b.time : a.id > b.id; });
    std::vector<RetentionDecision> out;
    out.reserve(backups.size());
    for (const auto& b : backups) {
        out.push_back({b.id, false, {}});
    }
    if (backups.empty()) {
        return out;
    }
    auto in_future = [&](const RetentionInput& b) { return b.time > now + skew; };
    auto newest_scheduled =
        std::find_if(backups.begin(), backups.end(), [&](const auto& b) { return !b.manual && !in_future(b); });
    // The window of `within` is anchored on scheduled backups: a manual one cannot move it.
    auto anchor = newest_scheduled != backups.end() ? newest_scheduled
                                                    : std::find_if_not(backups.begin(), backups.end(), in_future);
    std::optional<system_clock::time_point> within_limit;
    if (policy.within && anchor != backups.end()) {
        within_limit = subtract(std::min(anchor->time, now), *policy.within);
    }
    Rule rules[] = {{"hourly", policy.hourly, hour_bucket},
                    {"daily", policy.daily, day_bucket},
                    {"weekly", policy.weekly, week_bucket},
                    {"monthly", policy.monthly, month_bucket},
                    {"yearly", policy.yearly, year_bucket}};
    std::string last_bucket[5];
    int remaining[5];
    for (int r = 0; r < 5; ++r) {
        remaining[r] = rules[r].count.value_or(0);
    }
    int last_remaining = policy.last.value_or(0);
    const int manual_keep = policy.manual.value_or(k_default_manual_keep);
    int manual_remaining = manual_keep;
    // `keep: {manual: N}` alone says nothing about scheduled backups: they are all kept. (A wholly empty
    // policy keeps only the newest here; callers apply none: RetentionPolicy::empty.)
    const bool scheduled_rules = policy.has_scheduled_rule() || !policy.manual;

    // The rules that could have kept a backup of each trigger, named as in the config.
    const std::string within_text = policy.within ? "within: " + policy.within->text : std::string();
    std::string scheduled_rule_names;
    auto add = [](std::string& list, const std::string& item) { list += (list.empty() ? "" : ", ") + item; };
    if (policy.last) {
        add(scheduled_rule_names, "last: " + std::to_string(*policy.last));
    }
    for (const auto& rule : rules) {
        if (rule.count) {
            add(scheduled_rule_names, std::string(rule.name) + ": " + std::to_string(*rule.count));
        }
    }
    std::string manual_rule_names = "manual: " + std::to_string(manual_keep) + (policy.manual ? "" : " (the default)");
    if (!within_text.empty()) {
        add(scheduled_rule_names, within_text);
        add(manual_rule_names, within_text);
    }

    for (std::size_t i = 0; i < backups.size(); ++i) {
        auto& d = out[i];
        const auto& b = backups[i];
        if (in_future(b)) {
            d.keep = true;
            d.reasons.push_back("dated in the future");
            continue;
        }
        if (b.manual) {
            if (manual_remaining > 0) {
                --manual_remaining;
                d.reasons.push_back("manual");
            }
        } else {
            if (!scheduled_rules) {
                d.reasons.push_back("no rule for scheduled backups");
            }
            if (backups.begin() + static_cast<std::ptrdiff_t>(i) == newest_scheduled) {
                d.reasons.push_back("newest");
            }
            if (last_remaining > 0) {
                --last_remaining;
                d.reasons.push_back("last");
            }
            auto local = zone->to_local(date::floor<seconds>(b.time));
            for (int r = 0; r < 5; ++r) {
                if (remaining[r] <= 0) {
                    continue;
                }
                auto bucket = rules[r].bucket(local);
                if (bucket != last_bucket[r]) {
                    last_bucket[r] = bucket;
                    --remaining[r];
                    d.reasons.push_back(std::string(rules[r].name) + " " + bucket);
                }
            }
        }
        if (within_limit && b.time >= *within_limit) {
            d.reasons.push_back("within " + policy.within->text);
        }
        d.keep = !d.reasons.empty();
        if (!d.keep) {
            d.reasons.push_back(b.manual ? "manual backup not kept by " + manual_rule_names
                                         : "scheduled backup not kept by " +
                                               (scheduled_rule_names.empty() ? "any rule" : scheduled_rule_names));
        }
    }
    return out;
}

} // namespace dbkeep::catalog
