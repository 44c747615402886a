#include "check/check.hpp"

#include "catalog/catalog.hpp"
#include "catalog/naming.hpp"
#include "check/freshness.hpp"
#include "config/config.hpp"
#include "engine/engine.hpp"
#include "job/pipeline.hpp"
#include "job/scheduled.hpp"
#include "runner/docker/docker.hpp"
#include "runner/runner.hpp"
#include "storage/open.hpp"
#include "storage/s3/s3.hpp"
#include "storage/storage.hpp"
#include "stream/age.hpp"

#include <algorithm>

namespace dbkeep::check {

std::vector<Finding> check_storage(const config::Config& config, const config::TargetConfig& target)
{
    std::vector<Finding> out;
    const auto& sc = config.storage_for(target);
    auto storage = storage::open_storage(sc);
    if (!storage) {
        out.push_back(
            failed("storage.open", storage.error().to_string(), "fix storage '" + sc.name + "' in the configuration"));
        return out;
    }
    const std::string key = target.name + "/.dbkeep-check-" + catalog::random_suffix();
    const std::string payload = "dbkeep check probe " + key;
    std::string where = (*storage)->describe();
    if (sc.type == "s3") {
        auto skew = storage::s3_clock_skew(sc.s3);
        if (skew) {
            long a = *skew < 0 ? -*skew : *skew;
            if (a > 15 * 60) {
                out.push_back(failed("storage.clock", "this clock is " + std::to_string(*skew) + " s off the server's",
                                     "fix the system clock (NTP): SigV4 requests fail past 15 minutes of skew"));
            } else if (a > 5 * 60) {
                out.push_back(warn("storage.clock", "this clock is " + std::to_string(*skew) + " s off the server's",
                                   "enable NTP before the skew reaches 15 minutes"));
            } else {
                out.push_back(pass("storage.clock", "clock within " + std::to_string(a) + " s of the server's"));
            }
        }
    }
    if (auto st = storage::put_object(**storage, key, payload); !st) {
        std::string remedy = !st.error().hint.empty() ? st.error().hint
                             : sc.type == "s3"        ? "allow s3:PutObject on the bucket and prefix"
                                                      : "make " + sc.local.path.string() + " writable by this user";
        out.push_back(failed("storage.write", "cannot write to " + where + ": " + st.error().message, remedy));
        return out;
    }
    auto back = storage::get_object(**storage, key);
    if (!back || *back != payload) {
        out.push_back(failed("storage.read",
                             "wrote a probe object but could not read it back from " + where +
                                 (back ? "" : ": " + back.error().message),
                             sc.type == "s3" ? "allow s3:GetObject" : "check the folder's permissions"));
    }
    auto listed = (*storage)->list(key);
    bool found = listed && !listed->empty() && listed->front().key == key;
    if (!found) {
        out.push_back(
            failed("storage.list",
                   "the probe object is not listed in " + where + (listed ? "" : ": " + listed.error().message),
                   sc.type == "s3" ? "allow s3:ListBucket on the bucket" : "check the folder's permissions"));
    }
    if (auto st = (*storage)->remove({key}); !st) {
        out.push_back(
            failed("storage.delete", "cannot delete from " + where + ": " + st.error().message,
                   sc.type == "s3" ? "allow s3:DeleteObject (retention needs it)" : "check the folder's permissions"));
    }
    bool storage_failed = std::any_of(out.begin(), out.end(), [](const Finding& f) {
        return f.outcome == Outcome::fail && f.probe != "storage.clock";
    });
    if (!storage_failed) {
        // Described again: after the first request it names the credential source.
        out.push_back(pass("storage", "write, read, list and delete work in " + (*storage)->describe()));
    }
    if ((*storage)->supports_conditional_create()) {
        out.push_back(pass("storage.lease", "conditional create is supported: leases are exact"));
    } else {
        out.push_back(warn("storage.lease", "conditional create is not supported: leases can race",
                           "run one scheduler per target"));
    }
    return out;
}

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

std::vector<Finding> check_docker(const config::RunnerConfig& r)
{
    std::vector<Finding> out;
    runner::DockerOptions o{.host = r.host, .container = r.container, .user = r.user};
    const std::string endpoint = runner::docker_endpoint(o);
    auto state = runner::inspect_container(o);
    if (!state) {
        out.push_back(failed("runner.docker", "cannot reach the engine at " + endpoint + ": " + state.error().message,
                             state.error().hint.empty() ? "start dockerd (or podman system service) or fix host:"
                                                        : state.error().hint));
        return out;
    }
    out.push_back(pass("runner.docker", (state->engine.empty() ? std::string("engine") : state->engine) + " (API " +
                                            state->api_version + ") at " + endpoint));
    if (!state->exists) {
        out.push_back(failed("runner.container", "no container named " + r.container,
                             "fix the runner's container: (docker ps -a lists them)"));
    } else if (!state->running) {
        out.push_back(failed("runner.container", "container " + r.container + " is " + state->status,
                             "docker start " + r.container));
    } else {
        out.push_back(
            pass("runner.container", "container " + r.container + " is running" +
                                         (state->image.empty() ? std::string() : " (image " + state->image + ")")));
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
    if (target.encryption.enabled()) {
        auto found = check_encryption(target, options);
        out.insert(out.end(), found.begin(), found.end());
    }
    auto handle = job::open_engine(target);
    if (!handle) {
        out.push_back(failed("runner", handle.error().to_string(), "fix the target's runner and engine settings"));
    } else {
        bool runner_ok = true;
        if (target.runner.type == "docker") {
            auto found = check_docker(target.runner);
            runner_ok =
                std::none_of(found.begin(), found.end(), [](const Finding& f) { return f.outcome == Outcome::fail; });
            out.insert(out.end(), found.begin(), found.end());
        } else if (target.runner.type == "ecs") {
            // One round of the protocol proves the launcher and that both sides see and write the shared folder.
            auto probe = runner::run_capture(*handle->runner, {.argv = {"sh", "-c", "echo dbkeep-probe"}}, 1024);
            if (!probe || !probe->status.ok() || probe->out != "dbkeep-probe\n") {
                std::string why = !probe
                                      ? probe.error().message
                                      : probe->status.describe() + ": " + probe->err.substr(0, probe->err.find('\n'));
                std::string remedy = !probe && !probe.error().hint.empty()
                                         ? probe.error().hint
                                         : "check the launcher, shared_dir and remote_shared_dir";
                out.push_back(failed("runner.ecs", handle->runner->describe() + ": " + why, remedy));
                runner_ok = false;
            } else {
                out.push_back(pass("runner.ecs", "launched a command through " + handle->runner->describe() +
                                                     " and read its output and status in " + target.runner.shared_dir +
                                                     " (both sides can write there)"));
            }
        } else if (target.runner.type != "local") {
            auto probe = runner::run_capture(*handle->runner, {.argv = {"true"}}, 1024);
            if (!probe || !probe->status.ok()) {
                std::string why = !probe ? probe.error().message : probe->err.substr(0, probe->err.find('\n'));
                out.push_back(
                    failed("runner", handle->runner->describe() + " cannot run a command: " + why,
                           "check the host, port, user and keys (ssh), the pod (kubectl) or the prefix (command)"));
                runner_ok = false;
            } else {
                out.push_back(pass("runner", handle->runner->describe() + " runs commands"));
            }
        }
        if (!runner_ok) {
            out.push_back(warn(target.engine + ".probes", "skipped: the runner does not work",
                               "fix the runner first, then run check again"));
        } else {
            auto probes = handle->engine->probe();
            out.insert(out.end(), probes.begin(), probes.end());
        }
    }
    auto storage = check_storage(config, target);
    out.insert(out.end(), storage.begin(), storage.end());
    if (auto opened = storage::open_storage(config.storage_for(target))) {
        auto last = job::last_success(target, **opened);
        if (!last) {
            out.push_back(
                failed("freshness", "cannot list backups: " + last.error().message, "see the storage probes"));
        } else {
            out.push_back(evaluate_freshness(target.schedule, target.timezone, *last, options.now));
        }
    }
    return out;
}

} // namespace dbkeep::check
