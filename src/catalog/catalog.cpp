#include "catalog/catalog.hpp"
#include "core/time.hpp"

#include "catalog/naming.hpp"
#include "storage/storage.hpp"

#include <algorithm>
#include <functional>
#include <set>

namespace dbkeep::catalog {

std::optional<std::string> expected_object_key(const Manifest& m)
{
    auto format = dump_format(m.engine);
    // A whole PostgreSQL server (details.layout "server") stores the globals' SQL as its data object and its
    // databases' archives as parts (docs/format.md).
    if (auto layout = m.details.find("layout");
        m.engine == "postgres" && layout != m.details.end() && layout->second == "server" && !m.parts.empty()) {
        format = "sql";
    }
    if (!format || !backup_time(m.id) || !valid_target_name(m.target) ||
        (!m.encryption.empty() && m.encryption != "age")) {
        return std::nullopt;
    }
    return object_key(m.target, m.id, *format, m.encryption == "age");
}

std::vector<std::string> object_keys(const Manifest& m)
{
    std::vector<std::string> keys{m.object_key};
    for (const auto& p : m.parts) {
        keys.push_back(p.key);
    }
    return keys;
}

std::uint64_t total_stored_bytes(const Manifest& m)
{
    std::uint64_t n = m.stored_bytes;
    for (const auto& p : m.parts) {
        n += p.stored_bytes;
    }
    return n;
}

std::uint64_t total_raw_bytes(const Manifest& m)
{
    std::uint64_t n = m.raw_bytes;
    for (const auto& p : m.parts) {
        n += p.raw_bytes;
    }
    return n;
}

namespace {

// The manifest stored at key (its id parsed from the key), read and checked: at the key its id puts it, readable,
// naming that id and target, with the object key its target, id, engine and encryption imply. Nothing, with
// `why` set, when it is unreadable; nothing with `why` empty when it was removed meanwhile. Fails only when the
// storage fails.
Result<std::optional<Manifest>> read_checked_manifest(storage::Storage& storage, const std::string& target,
                                                      const std::string& key, const std::string& id, std::string& why)
{
    if (key != manifest_key(target, id)) {
        why = "not where its id puts it (" + manifest_key(target, id) + ")";
        return std::nullopt;
    }
    auto text = storage::get_object(storage, key, 16 << 20);
    if (!text) {
        if (text.error().kind == ErrorKind::not_found) {
            return std::nullopt; // removed while listing
        }
        if (text.error().kind == ErrorKind::corruption) {
            why = text.error().message; // e.g. far too large
            return std::nullopt;
        }
        return std::unexpected(text.error());
    }
    auto m = parse_manifest(*text, key);
    if (!m) {
        why = m.error().message;
        return std::nullopt;
    }
    if (m->id != id || m->target != target) {
        why = "it names backup " + m->id + " of target " + m->target + ", not its own key";
        return std::nullopt;
    }
    auto expected = expected_object_key(*m);
    if (!expected || *expected != m->object_key) {
        why = "object key " + m->object_key + " is not the one its target, id, engine and encryption imply" +
              (expected ? " (" + *expected + ")" : std::string());
        return std::nullopt;
    }
    // Parts: each at the key its index implies, so that a manifest can never make a prune remove, or a restore
    // read, an object of another backup.
    if (m->parts.size() > k_max_parts) {
        why = std::to_string(m->parts.size()) + " parts, more than " + std::to_string(k_max_parts);
        return std::nullopt;
    }
    for (std::size_t i = 0; i < m->parts.size(); ++i) {
        const std::string want = part_key(m->target, m->id, i + 1, m->encryption == "age");
        if (m->parts[i].key != want) {
            why = "part " + std::to_string(i + 1) + " key " + m->parts[i].key + " is not " + want;
            return std::nullopt;
        }
    }
    return std::optional<Manifest>(std::move(*m));
}

} // namespace

Result<Listing> list_backups(storage::Storage& storage, const std::string& target)
{
    const std::string prefix = target_prefix(target);
    auto objects = storage.list(prefix);
    if (!objects) {
        return std::unexpected(objects.error());
    }
    Listing listing;
    // Every id with a manifest key, readable or not: the object of a backup whose manifest we cannot read
    // (a newer format, a damaged file) is not an orphan, or a prune of orphans would delete its data.
    std::set<std::string> ids_with_manifest;
    for (const auto& obj : *objects) {
        if (!obj.key.starts_with(prefix)) {
            continue; // a backend that listed more than asked: not this target's
        }
        listing.keys.push_back(obj.key);
        auto id = id_from_manifest_key(obj.key);
        if (!id) {
            continue;
        }
        ids_with_manifest.insert(*id);
        std::string why;
        auto m = read_checked_manifest(storage, target, obj.key, *id, why);
        if (!m) {
            return std::unexpected(m.error());
        }
        if (!*m) {
            if (!why.empty()) {
                listing.unreadable.push_back({obj.key, why});
            }
            continue;
        }
        listing.backups.push_back(std::move(**m));
    }
    for (const auto& key : listing.keys) {
        auto id = id_from_object_key(key);
        if (id && !ids_with_manifest.contains(*id)) {
            listing.orphans.push_back(key);
        }
    }
    std::sort(listing.keys.begin(), listing.keys.end());
    std::sort(listing.backups.begin(), listing.backups.end(),
              [](const Manifest& a, const Manifest& b) { return a.id > b.id; });
    return listing;
}

bool dated_in_future(const std::string& id, TimePoint now)
{
    auto t = backup_time(id);
    return t && *t > now + k_clock_skew_allowance;
}

const Manifest* newest_trusted(const Listing& listing, TimePoint now)
{
    for (const auto& m : listing.backups) {
        if (!dated_in_future(m.id, now)) {
            return &m;
        }
    }
    return nullptr;
}

namespace {

// "--backup ID", or for a command whose argument is the id "dbkeep show TARGET ID".
std::string name_id(const SelectorSyntax& syntax, const std::string& target, const std::string& id)
{
    return syntax.id_option.empty() ? "`dbkeep " + syntax.command + " " + target + " " + id + "`"
                                    : syntax.id_option + " " + id;
}

// "--at a time", or "a time" when the command's argument takes one.
std::string give_time(const SelectorSyntax& syntax)
{
    return syntax.time_option.empty() ? "a time" : syntax.time_option + " a time";
}

} // namespace

Result<Manifest> select_backup(const Listing& listing, const std::string& target, const std::string& selector,
                               TimePoint now, const SelectorSyntax& syntax)
{
    if (listing.backups.empty()) {
        return fail(ErrorKind::not_found, "find backup of", target, "no backups");
    }
    const std::string list_ids = "run `dbkeep list " + target + "` to see the ids";
    if (selector.empty() || selector == "latest") {
        if (const Manifest* newest = newest_trusted(listing, now)) {
            return *newest;
        }
        const std::string& ahead = listing.backups.front().id;
        return fail(ErrorKind::not_found, "find backup of", target,
                    "every backup is dated after this machine's clock (more than " +
                        std::to_string(k_clock_skew_allowance.count()) + " minutes ahead; the newest is " + ahead +
                        "): the clock of the host that wrote them ran ahead, or this machine's is behind",
                    "check both clocks (NTP); to " + syntax.command +
                        " one anyway, name it: " + name_id(syntax, target, ahead));
    }
    for (const auto& m : listing.backups) {
        if (m.id == selector) {
            return m;
        }
    }
    if (auto at = parse_rfc3339(selector)) {
        for (const auto& m : listing.backups) {
            auto t = backup_time(m.id);
            if (t && *t <= *at && !dated_in_future(m.id, now)) {
                return m;
            }
        }
        // The oldest one that counts names the earliest time --at can reach.
        std::string oldest;
        for (const auto& m : listing.backups) {
            if (!dated_in_future(m.id, now)) {
                oldest = m.id;
            }
        }
        return fail(ErrorKind::not_found, "find backup of", target, "no backup at or before " + selector,
                    oldest.empty() ? list_ids
                                   : "the oldest backup is " + oldest + ": give " + give_time(syntax) +
                                         " after it, or " + name_id(syntax, target, oldest));
    }
    if (!backup_time(selector)) { // not shaped like an id either: most likely a time --at could not read
        const std::string forms = "such as 2026-11-25T10:00:00Z (or +02:00 for an offset, or a date: 2026-11-25)";
        if (syntax.id_option.empty()) {
            // The command's argument is first of all an id: what it lacks is one, and a time is the other form.
            return fail(ErrorKind::not_found, "find backup of", target, "no backup with id " + selector,
                        list_ids + ", or give a time " + forms);
        }
        if (syntax.id_option == syntax.time_option) {
            return fail(ErrorKind::not_found, "find backup of", target,
                        "'" + selector + "' is neither a backup id nor an RFC 3339 time",
                        "give " + syntax.id_option + " an id `dbkeep list " + target + "` shows, or a time " + forms);
        }
        return fail(ErrorKind::not_found, "find backup of", target,
                    "'" + selector + "' is neither a backup id nor an RFC 3339 time",
                    "give " + give_time(syntax) + " " + forms + ", or " + syntax.id_option + " an id `dbkeep list " +
                        target + "` shows");
    }
    return fail(ErrorKind::not_found, "find backup of", target, "no backup with id " + selector, list_ids);
}

Result<Manifest> find_backup(storage::Storage& storage, const std::string& target, const std::string& selector,
                             TimePoint now, const SelectorSyntax& syntax)
{
    auto listing = list_backups(storage, target);
    if (!listing) {
        return std::unexpected(listing.error());
    }
    if (listing->backups.empty()) {
        return fail(ErrorKind::not_found, "find backup of", target, "no backups in " + storage.describe());
    }
    return select_backup(*listing, target, selector, now, syntax);
}

Result<std::optional<Manifest>> newest_backup(storage::Storage& storage, const std::string& target, TimePoint now)
{
    const std::string prefix = target_prefix(target);
    auto objects = storage.list(prefix);
    if (!objects) {
        return std::unexpected(objects.error());
    }
    std::vector<std::pair<std::string, std::string>> candidates; // id, key
    for (const auto& obj : *objects) {
        if (!obj.key.starts_with(prefix)) {
            continue;
        }
        if (auto id = id_from_manifest_key(obj.key); id && !dated_in_future(*id, now)) {
            candidates.emplace_back(*id, obj.key);
        }
    }
    std::sort(candidates.begin(), candidates.end(), std::greater<>());
    for (const auto& [id, key] : candidates) {
        std::string why;
        auto m = read_checked_manifest(storage, target, key, id, why);
        if (!m) {
            return std::unexpected(m.error());
        }
        if (*m) {
            return m;
        }
    }
    return std::optional<Manifest>{};
}

Result<std::optional<std::chrono::system_clock::time_point>> last_success(storage::Storage& storage,
                                                                          const std::string& target, TimePoint now)
{
    auto newest = newest_backup(storage, target, now);
    if (!newest) {
        return std::unexpected(newest.error());
    }
    if (!*newest) {
        return std::optional<std::chrono::system_clock::time_point>{};
    }
    return backup_time((*newest)->id);
}

} // namespace dbkeep::catalog
