#include "check/check.hpp"

#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "check/freshness.hpp"
#include "config/config.hpp"
#include "engine/engine.hpp"
#include "runner/runner.hpp"
#include "storage/storage.hpp"
#include "stream/age/age.hpp"

#include <algorithm>

namespace dbkeep::check {

std::vector<Finding> check_encryption(const config::TargetConfig& target, const CheckOptions& options)
{
    std::vector<Finding> out;
    std::vector<std::string> recipients = target.encryption.recipients;
    if (!target.encryption.recipients_file.empty()) {
        auto more = stream::read_recipients_file(target.encryption.recipients_file);
        if (!more) {
            out.push_back(failed("encryption", more.error().to_string(), "fix encryption.recipients_file"));
            return out;
        }
        recipients.insert(recipients.end(), more->begin(), more->end());
    }
    for (const auto& r : recipients) {
        if (auto st = stream::validate_recipient(r); !st) {
            out.push_back(failed("encryption", st.error().to_string(),
                                 "use the recipient printed by `dbkeep keygen` or `age-keygen -y`"));
            return out;
        }
    }
    if (!target.encryption.passphrase.empty()) {
        out.push_back(pass("encryption", "age with a passphrase (scrypt)"));
        return out;
    }
    out.push_back(pass("encryption", "age to " + std::to_string(recipients.size()) + " recipient(s)"));
    for (const auto& file : options.identity_files) {
        auto ids = stream::read_identity_file(file);
        if (!ids) {
            out.push_back(failed("encryption.identity", ids.error().to_string(), "pass an age identity file"));
            continue;
        }
        bool match = false;
        for (const auto& id : *ids) {
            auto r = stream::recipient_of(id);
            match = match || (r && std::find(recipients.begin(), recipients.end(), *r) != recipients.end());
        }
        out.push_back(match ? pass("encryption.identity", file + " can decrypt this target's backups")
                            : failed("encryption.identity", file + " matches none of the target's recipients",
                                     "use the identity whose public key is in encryption.recipients"));
    }
    return out;
}

std::vector<Finding> check_target(const config::Config& config, const config::TargetConfig& target,
                                  const Subjects& subjects, const CheckOptions& options)
{
    std::vector<Finding> out;
    const auto& sc = config.storage_for(target);
    out.push_back(pass("config", "loaded; storage '" + target.storage + "' (" + sc.type() + ")"));
    out.push_back(evaluate_schedule(target.schedule ? &*target.schedule : nullptr, target.zone, options.now));
    if (target.keep.empty()) {
        out.push_back(warn("config.retention", "no retention policy: backups are kept forever",
                           "set keep: {daily: 7, weekly: 4} (or keep: {last: N}) on target '" + target.name + "'"));
    }
    if (target.encryption.enabled()) {
        auto found = check_encryption(target, options);
        out.insert(out.end(), found.begin(), found.end());
    }
    if (subjects.engine == nullptr || subjects.runner == nullptr) {
        out.push_back(failed("runner", subjects.engine_error ? subjects.engine_error->to_string() : "not opened",
                             "fix the target's runner and engine settings"));
    } else {
        auto found = subjects.runner->probe();
        bool runner_ok =
            std::none_of(found.begin(), found.end(), [](const Finding& f) { return f.outcome == Outcome::fail; });
        out.insert(out.end(), found.begin(), found.end());
        if (!runner_ok) {
            out.push_back(warn(std::string(target.engine_name()) + ".probes", "skipped: the runner does not work",
                               "fix the runner first, then run check again"));
        } else {
            auto probes = subjects.engine->probe();
            out.insert(out.end(), probes.begin(), probes.end());
        }
    }
    if (subjects.storage == nullptr) {
        out.push_back(failed("storage.open",
                             subjects.storage_error ? subjects.storage_error->to_string() : "not opened",
                             "fix storage '" + sc.name + "' in the configuration"));
        return out;
    }
    auto found = subjects.storage->probe(catalog::target_prefix(target.name));
    out.insert(out.end(), found.begin(), found.end());
    out.push_back(check_freshness(target, *subjects.storage, options.now));
    return out;
}

Finding check_freshness(const config::TargetConfig& target, storage::Storage& storage,
                        std::chrono::system_clock::time_point now)
{
    auto listing = catalog::list_backups(storage, target.name);
    if (!listing) {
        return failed("freshness", "cannot list backups: " + listing.error().message, "see the storage probes");
    }
    // Backups dated in the future (their host's clock ran ahead) never count as the last success.
    std::optional<TimePoint> last;
    std::vector<std::string> future;
    for (const auto& m : listing->backups) {
        if (catalog::dated_in_future(m.id, now)) {
            future.push_back(m.id);
        } else if (!last) {
            last = catalog::backup_time(m.id);
        }
    }
    return evaluate_freshness(target.schedule ? &*target.schedule : nullptr, target.zone, last, now,
                              std::chrono::hours(1), std::move(future));
}

} // namespace dbkeep::check
