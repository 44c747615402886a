#include "catalog/naming.hpp"

#include "core/hex.hpp"
#include "core/time.hpp"

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

} // namespace

std::string make_backup_id(TimePoint start, const std::string& suffix)
{
    std::tm tm = utc_tm(start);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    return std::string(buf) + "-" + suffix;
}

std::string random_suffix()
{
    return random_hex(3);
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

std::string part_key(const std::string& target, const std::string& id, std::size_t number, bool encrypted)
{
    std::string n = std::to_string(number);
    if (n.size() < 4) {
        n.insert(0, 4 - n.size(), '0');
    }
    return backup_folder(target, id) + id + ".part-" + n + ".copy.zst" + (encrypted ? ".age" : "");
}

std::string manifest_key(const std::string& target, const std::string& id)
{
    return backup_folder(target, id) + id + std::string(k_manifest_suffix);
}

std::string lease_key(const std::string& target)
{
    return target + "/lease.json";
}

std::optional<std::string> dump_format(const std::string& engine)
{
    if (engine == "postgres") {
        return "pgdump";
    }
    if (engine == "redis") {
        return "rdb";
    }
    if (engine == "sqlite") {
        return "sqlite";
    }
    if (engine == "mysql") {
        return "sql";
    }
    return std::nullopt;
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
