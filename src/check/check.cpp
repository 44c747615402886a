#include "check/check.hpp"

#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "check/freshness.hpp"
#include "job/scheduled.hpp"
#include "config/config.hpp"
#include "engine/engine.hpp"
#include "job/pipeline.hpp"
#include "runner/runner.hpp"
#include "storage/open.hpp"
#include "storage/storage.hpp"

namespace dbkeep::check {

std::vector<Finding> check_storage(const config::Config& config, const config::TargetConfig& target)
{
    std::vector<Finding> out;
    const auto& sc = config.storage_for(target);
    auto storage = storage::open_storage(sc);
    if (!storage) {
        out.push_back(failed("storage.open", storage.error().to_string(), "fix storage '" + sc.name + "' in the configuration"));
        return out;
    }
    const std::string key = target.name + "/.dbkeep-check-" + catalog::random_suffix();
    const std::string payload = "dbkeep check probe " + key;
    std::string where = (*storage)->describe();
    if (auto st = storage::put_object(**storage, key, payload); !st) {
        out.push_back(failed("storage.write", "cannot write to " + where + ": " + st.error().message,
                             sc.type == "s3" ? "allow s3:PutObject on the bucket and prefix"
                                             : "make " + sc.local.path.string() + " writable by this user"));
        return out;
    }
    auto back = storage::get_object(**storage, key);
    if (!back || *back != payload) {
        out.push_back(failed("storage.read", "wrote a probe object but could not read it back from " + where +
                                                 (back ? "" : ": " + back.error().message),
                             sc.type == "s3" ? "allow s3:GetObject" : "check the folder's permissions"));
    }
    auto listed = (*storage)->list(key);
    bool found = listed && !listed->empty() && listed->front().key == key;
    if (!found) {
        out.push_back(failed("storage.list", "the probe object is not listed in " + where +
                                                 (listed ? "" : ": " + listed.error().message),
                             sc.type == "s3" ? "allow s3:ListBucket on the bucket" : "check the folder's permissions"));
    }
    if (auto st = (*storage)->remove({key}); !st) {
        out.push_back(failed("storage.delete", "cannot delete from " + where + ": " + st.error().message,
                             sc.type == "s3" ? "allow s3:DeleteObject (retention needs it)" : "check the folder's permissions"));
    }
    if (out.empty()) {
        out.push_back(pass("storage", "write, read, list and delete work in " + where));
    }
    if ((*storage)->supports_conditional_create()) {
        out.push_back(pass("storage.lease", "conditional create is supported: leases are exact"));
    } else {
        out.push_back(warn("storage.lease", "conditional create is not supported: leases can race",
                           "run one scheduler per target"));
    }
    return out;
}

std::vector<Finding> check_target(const config::Config& config, const config::TargetConfig& target,
                                  const CheckOptions& options)
{
    std::vector<Finding> out;
    out.push_back(pass("config", "loaded; storage '" + target.storage + "' (" + config.storage_for(target).type + ")"));
    out.push_back(evaluate_schedule(target.schedule, target.timezone, options.now));
    if (target.keep.empty()) {
        out.push_back(warn("config.retention", "no retention policy: backups are kept forever",
                           "set keep: {daily: 7, weekly: 4} (or keep: {last: N}) on target '" + target.name + "'"));
    }
    auto handle = job::open_engine(target);
    if (!handle) {
        out.push_back(failed("runner", handle.error().to_string(), "fix the target's runner and engine settings"));
    } else {
        auto probes = handle->engine->probe();
        out.insert(out.end(), probes.begin(), probes.end());
    }
    auto storage = check_storage(config, target);
    out.insert(out.end(), storage.begin(), storage.end());
    if (auto opened = storage::open_storage(config.storage_for(target))) {
        auto last = job::last_success(target, **opened);
        if (!last) {
            out.push_back(failed("freshness", "cannot list backups: " + last.error().message, "see the storage probes"));
        } else {
            out.push_back(evaluate_freshness(target.schedule, target.timezone, *last, options.now));
        }
    }
    return out;
}

} // namespace dbkeep::check
