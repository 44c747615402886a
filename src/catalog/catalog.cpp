#include "catalog/catalog.hpp"
#include "core/time.hpp"

#include "catalog/naming.hpp"
#include "storage/storage.hpp"

#include <algorithm>
#include <set>

namespace dbkeep::catalog {

Result<Listing> list_backups(storage::Storage& storage, const std::string& target)
{
    auto objects = storage.list(target_prefix(target));
    if (!objects) {
        return std::unexpected(objects.error());
    }
    Listing listing;
    // Every id with a manifest key, readable or not: the object of a backup whose manifest we cannot read
    // (a newer format, a damaged file) is not an orphan, or a prune of orphans would delete its data.
    std::set<std::string> ids_with_manifest;
    for (const auto& obj : *objects) {
        auto id = id_from_manifest_key(obj.key);
        if (!id) {
            continue;
        }
        ids_with_manifest.insert(*id);
        auto text = storage::get_object(storage, obj.key, 16 << 20);
        if (!text) {
            if (text.error().kind == ErrorKind::not_found) {
                continue; // removed while listing
            }
            if (text.error().kind == ErrorKind::corruption) {
                listing.unreadable.push_back(obj.key); // e.g. far too large to be a manifest
                continue;
            }
            return std::unexpected(text.error());
        }
        auto m = parse_manifest(*text, obj.key);
        if (!m || m->id != *id || m->target != target) {
            listing.unreadable.push_back(obj.key);
            continue;
        }
        listing.backups.push_back(std::move(*m));
    }
    for (const auto& obj : *objects) {
        auto id = id_from_object_key(obj.key);
        if (id && !ids_with_manifest.contains(*id)) {
            listing.orphans.push_back(obj.key);
        }
    }
    std::sort(listing.backups.begin(), listing.backups.end(),
              [](const Manifest& a, const Manifest& b) { return a.id > b.id; });
    return listing;
}

Result<Manifest> find_backup(storage::Storage& storage, const std::string& target, const std::string& selector)
{
    auto listing = list_backups(storage, target);
    if (!listing) {
        return std::unexpected(listing.error());
    }
    if (listing->backups.empty()) {
        return fail(ErrorKind::not_found, "find backup of", target, "no backups in " + storage.describe());
    }
    if (selector.empty() || selector == "latest") {
        return listing->backups.front();
    }
    for (const auto& m : listing->backups) {
        if (m.id == selector) {
            return m;
        }
    }
    if (auto at = parse_rfc3339(selector)) {
        for (const auto& m : listing->backups) {
            auto t = backup_time(m.id);
            if (t && *t <= *at) {
                return m;
            }
        }
        return fail(ErrorKind::not_found, "find backup of", target, "no backup at or before " + selector);
    }
    return fail(ErrorKind::not_found, "find backup of", target, "no backup with id " + selector,
                "run `dbkeep list " + target + "` to see the ids");
}

Result<std::optional<std::chrono::system_clock::time_point>> last_success(storage::Storage& storage,
                                                                          const std::string& target)
{
    auto listing = list_backups(storage, target);
    if (!listing) {
        return std::unexpected(listing.error());
    }
    if (listing->backups.empty()) {
        return std::optional<std::chrono::system_clock::time_point>{};
    }
    return backup_time(listing->backups.front().id);
}

} // namespace dbkeep::catalog
