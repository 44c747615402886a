// Cron expressions with time zones: when a target's backups are scheduled.
//
// Syntax: 5 fields "minute hour day-of-month month day-of-week" with lists (1,15), ranges (1-5), steps (*/15,
// 10-50/20), month names JAN-DEC and day names SUN-SAT (any case), 0 and 7 both Sunday, and the macros
// @hourly @daily @midnight @weekly @monthly @yearly @annually. As in Vixie cron, when both day-of-month and
// day-of-week are restricted, a day matches if either matches.
//
// Times are wall-clock times in the schedule's IANA time zone (system tzdata). Around DST changes:
// - a local time that does not exist (spring forward) runs once, at the first instant after the gap;
// - a local time that exists twice (fall back) runs once, at its first occurrence.
#pragma once

#include "core/error.hpp"

#include <bitset>
#include <chrono>
#include <optional>
#include <string>

namespace date {
class time_zone;
}

namespace dbkeep::schedule {

using TimePoint = std::chrono::system_clock::time_point;

struct CronSchedule {
    std::bitset<60> minutes;
    std::bitset<24> hours;
    std::bitset<32> days;    // 1..31
    std::bitset<13> months;  // 1..12
    std::bitset<7> weekdays; // 0 = Sunday
    bool days_restricted = false;
    bool weekdays_restricted = false;
    std::string text;
};

// Parses an expression. Errors are ErrorKind::config; the message names the field, and `column` (0-based
// offset into the expression) points at the offending part.
struct CronError {
    std::string message;
    int column = 0;
};
std::expected<CronSchedule, CronError> parse_cron(const std::string& expression);

// A time zone by IANA name ("UTC", "Europe/Berlin"); nullptr when unknown.
const date::time_zone* find_zone(const std::string& name);

// The first scheduled instant strictly after `after`; nothing if none within 10 years (e.g. Feb 30).
std::optional<TimePoint> next_fire(const CronSchedule& schedule, const date::time_zone* zone, TimePoint after);

// The latest scheduled instant at or before `at`; nothing if none within 10 years.
std::optional<TimePoint> previous_fire(const CronSchedule& schedule, const date::time_zone* zone, TimePoint at);

// A backup is due when a scheduled instant has passed since the last successful backup (or there never was
// one and a scheduled instant has passed). Pure: the clock is an argument.
bool due(const CronSchedule& schedule, const date::time_zone* zone, std::optional<TimePoint> last_success,
         TimePoint now);

} // namespace dbkeep::schedule
