#include "storage/storage.hpp"

#include "core/hex.hpp"

#include <algorithm>

namespace dbkeep::storage {

Status put_object(Storage& storage, const std::string& key, const std::string& bytes)
{
    auto writer = storage.open_writer(key);
    if (!writer) {
        return std::unexpected(writer.error());
    }
    if (auto st = (*writer)->write(as_bytes(bytes)); !st) {
        (*writer)->abort();
        return st;
    }
    return (*writer)->finish();
}

Result<std::string> get_object(Storage& storage, const std::string& key, std::size_t max_bytes)
{
    auto reader = storage.open_reader(key);
    if (!reader) {
        return std::unexpected(reader.error());
    }
    return stream::read_all(**reader, max_bytes);
}

std::vector<Finding> probe_round_trip(Storage& storage, const std::string& key_prefix, const ProbeRemedies& remedies)
{
    std::vector<Finding> out;
    const std::string key = key_prefix + ".dbkeep-check-" + random_hex(3);
    const std::string payload = "dbkeep check probe " + key;
    const std::string where = storage.describe();
    // The backend's remedy names a permission: it fits a refusal only (a missing bucket, a timeout or a full disk
    // is no permission problem, and gets the error's own hint or none).
    auto remedy = [](const Error& e, const std::string& fallback) {
        return !e.hint.empty() ? e.hint : e.kind == ErrorKind::auth ? fallback : std::string();
    };
    if (auto st = put_object(storage, key, payload); !st) {
        out.push_back(failed("storage.write", "cannot write to " + where + ": " + st.error().message,
                             remedy(st.error(), remedies.write)));
        return out;
    }
    auto back = get_object(storage, key);
    if (!back || *back != payload) {
        out.push_back(failed("storage.read",
                             "wrote a probe object but could not read it back from " + where +
                                 (back ? "" : ": " + back.error().message),
                             back ? std::string() : remedy(back.error(), remedies.read)));
    }
    auto listed = storage.list(key);
    bool found = listed && !listed->empty() && listed->front().key == key;
    if (!found) {
        out.push_back(
            failed("storage.list",
                   "the probe object is not listed in " + where + (listed ? "" : ": " + listed.error().message),
                   listed ? std::string() : remedy(listed.error(), remedies.list)));
    }
    if (auto st = storage.remove({key}); !st) {
        out.push_back(failed("storage.delete", "cannot delete from " + where + ": " + st.error().message,
                             remedy(st.error(), remedies.remove)));
    }
    if (out.empty()) {
        // Described again: after the first request it names the credential source.
        out.push_back(pass("storage", "write, read, list and delete work in " + storage.describe()));
    }
    // Conditional create, tested with two real requests: the second must be refused and keep the first.
    if (!storage.supports_conditional_create()) {
        out.push_back(pass("storage.lease", "this store has no conditional create: leases use per-runner claims, "
                                            "exact where a listing shows every completed write"));
        return out;
    }
    const std::string cc_key = key_prefix + ".dbkeep-check-lease-" + random_hex(3);
    auto first = storage.create_if_absent(cc_key, "first");
    auto second = first ? storage.create_if_absent(cc_key, "second") : first;
    auto kept = first ? get_object(storage, cc_key, 64) : Result<std::string>(std::string());
    (void)storage.remove({cc_key});
    if (!first || !second || !kept) {
        const Error& e = !first ? first.error() : !second ? second.error() : kept.error();
        out.push_back(failed("storage.lease", "cannot test conditional create in " + where + ": " + e.message,
                             remedy(e, remedies.write)));
    } else if (*first && !*second && *kept == "first") {
        out.push_back(pass("storage.lease", "conditional create works (tested: a second create was refused): "
                                            "leases are exact"));
    } else {
        out.push_back(pass("storage.lease", "this store accepts If-None-Match but ignores it (tested: a second "
                                            "create overwrote the first): leases use per-runner claims instead, "
                                            "exact where a listing shows every completed write"));
    }
    return out;
}

} // namespace dbkeep::storage
