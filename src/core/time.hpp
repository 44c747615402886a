// Time as dbkeep writes it everywhere (manifests, leases, logs, JSON): UTC, RFC 3339 with milliseconds.
#pragma once

#include <chrono>
#include <ctime>
#include <optional>
#include <string>

namespace dbkeep {

using TimePoint = std::chrono::system_clock::time_point;

// The broken-down UTC time of t (whole seconds). Thread-safe (gmtime_r).
std::tm utc_tm(TimePoint t);

// True for a real calendar date and time of day (leap years; second 60 allowed for leap seconds).
bool valid_date_time(int year, int month, int day, int hour, int minute, int second);

// "2026-11-25T00:00:00.000Z" (RFC 3339, UTC, milliseconds). Thread-safe.
std::string format_rfc3339(TimePoint t);

// Parses YYYY-MM-DD[(T|t| )HH:MM:SS[.fraction][Z|z|+hh:mm|-hh:mm]] (RFC 3339 section 5.6, with the date alone
// meaning midnight UTC and a missing offset meaning UTC). Fractions beyond milliseconds are truncated. Returns
// nothing for anything else, including impossible dates. Thread-safe.
std::optional<TimePoint> parse_rfc3339(const std::string& text);

} // namespace dbkeep
