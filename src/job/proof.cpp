#include "job/proof.hpp"
#include "job/context.hpp"

#include "catalog/naming.hpp"
#include "config/config.hpp"
#include "core/cancel.hpp"
#include "core/time.hpp"
#include "observe/log.hpp"
#include "observe/metrics.hpp"
#include "observe/notify.hpp"
#include "schedule/cron.hpp"
#include "storage/storage.hpp"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace dbkeep::job {

namespace {

constexpr std::size_t k_records_kept = 20;
constexpr std::size_t k_record_max_bytes = 64 << 10;

std::string records_prefix(const std::string& target)
{
    return catalog::target_prefix(target) + "verified/";
}

// "<prefix>20261129T060000Z.json" -> the instant; nothing for any other key.
std::optional<TimePoint> record_instant(const std::string& key, const std::string& prefix)
{
    if (!key.starts_with(prefix) || !key.ends_with(".json")) {
        return std::nullopt;
    }
    const std::string stem = key.substr(prefix.size(), key.size() - prefix.size() - 5);
    if (stem.size() != 16) {
        return std::nullopt;
    }
    return catalog::backup_time(stem + "-000000");
}

std::string host_name()
{
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) {
        return "unknown";
    }
    return buf;
}

double unix_seconds(TimePoint t)
{
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// The records of the target, oldest first.
Result<std::vector<std::pair<TimePoint, std::string>>> list_records(storage::Storage& storage,
                                                                    const std::string& target)
{
    const std::string prefix = records_prefix(target);
    auto listed = storage.list(prefix);
    if (!listed) {
        return std::unexpected(listed.error());
    }
    std::vector<std::pair<TimePoint, std::string>> out;
    for (const auto& o : *listed) {
        if (auto t = record_instant(o.key, prefix)) {
            out.emplace_back(*t, o.key);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

Error proof_failure(const config::TargetConfig& target, const std::vector<VerifyResult>& results)
{
    for (const auto& r : results) {
        if (r.error) {
            Error e = *r.error;
            if (e.object.empty() || e.object == target.name) {
                e.object = "backup " + r.manifest.id;
            }
            return e;
        }
    }
    return Error{ErrorKind::failed, "verify", target.name, "no result"};
}

} // namespace

Result<LastProof> last_proof(storage::Storage& storage, const std::string& target)
{
    auto records = list_records(storage, target);
    if (!records) {
        return std::unexpected(records.error());
    }
    LastProof last;
    if (records->empty()) {
        return last;
    }
    last.instant = records->back().first;
    // The newest record that passed with a test restore (a record is small; only the newest few are read).
    for (auto it = records->rbegin(); it != records->rend() && it - records->rbegin() < 3; ++it) {
        auto text = storage::get_object(storage, it->second, k_record_max_bytes);
        if (!text) {
            continue; // removed meanwhile, or unreadable: not a proof
        }
        auto j = nlohmann::json::parse(*text, nullptr, false);
        if (!j.is_object() || !j.value("ok", false) || !j.value("restored", false) || !j.contains("finished_at") ||
            !j["finished_at"].is_string()) {
            continue;
        }
        if (auto at = parse_rfc3339(j["finished_at"].get<std::string>())) {
            last.verified_restore_at = *at;
            break;
        }
    }
    return last;
}

Result<ProofRun> run_proof_if_due(const config::TargetConfig& target, storage::Storage& storage, TimePoint now,
                                  observe::Metrics* metrics)
{
    ProofRun run;
    if (!target.verify) {
        return run;
    }
    const config::VerifyConfig& v = *target.verify;
    auto tell = [&](const std::string& backup_id, const Error& error) {
        observe::error("verification failed", {{"target", target.name}, {"error", error.to_string()}});
        observe::notify(target.notify, {.event = observe::Event::verify_failure,
                                        .target = target.name,
                                        .backup_id = backup_id,
                                        .error = observe::redact(error.to_string())});
    };
    auto last = last_proof(storage, target.name);
    if (!last) {
        tell("", last.error());
        return wrap_once(last.error(), "verify " + target.name);
    }
    if (metrics != nullptr && last->verified_restore_at) {
        metrics->verified_restore(target.name, unix_seconds(*last->verified_restore_at));
    }
    // A record dated after now (a host whose clock ran ahead) does not make the schedule wait for it.
    std::optional<TimePoint> since = last->instant;
    if (since && *since > now) {
        since.reset();
    }
    if (!schedule::due(v.schedule, target.zone, since, now)) {
        run.next = schedule::next_fire(v.schedule, target.zone, now);
        return run;
    }
    run.due = true;
    const auto instant = schedule::previous_fire(v.schedule, target.zone, now).value_or(now);
    const std::string key =
        records_prefix(target.name) + catalog::make_backup_id(instant, "000000").substr(0, 16) + ".json";
    const std::string me = host_name() + " pid " + std::to_string(::getpid());
    nlohmann::json record{
        {"instant", format_rfc3339(instant)}, {"claimed_by", me}, {"claimed_at", format_rfc3339(now)}};
    auto claimed = storage.create_if_absent(key, record.dump() + "\n");
    if (!claimed) {
        tell("", claimed.error());
        return wrap_once(claimed.error(), "verify " + target.name);
    }
    if (!*claimed) {
        run.skipped = "another runner claimed the verification of the period starting " + format_rfc3339(instant);
        observe::info("verification skipped", {{"target", target.name}, {"reason", run.skipped}});
        return run;
    }
    observe::info("verification started", {{"target", target.name},
                                           {"backups", v.all_backups ? "all" : "latest"},
                                           {"test_restore", v.restore_to.empty() ? "no" : "yes"}});
    VerifyRequest base;
    std::string identity = v.identity_file;
    if (identity.empty()) {
        if (const char* env = std::getenv("DBKEEP_IDENTITY_FILE"); env && *env) {
            identity = env;
        }
    }
    if (!identity.empty()) {
        base.read.identity_files.push_back(identity);
    }
    base.read.passphrase = target.encryption.passphrase.reveal();
    auto verify = [&](VerifyRequest req) -> bool {
        auto results = run_verify(target, storage, req);
        if (!results) {
            run.failure = results.error();
            return false;
        }
        const bool passed = std::none_of(results->begin(), results->end(), [](const auto& r) { return r.error; });
        if (!passed && !run.failure) {
            run.failure = proof_failure(target, *results);
        }
        run.results.insert(run.results.end(), results->begin(), results->end());
        return passed;
    };
    if (v.all_backups || v.restore_to.empty()) {
        VerifyRequest req = base;
        req.selector = v.all_backups ? "" : "latest";
        (void)verify(req);
    }
    if (!v.restore_to.empty() && !cancel::requested()) {
        VerifyRequest req = base;
        req.selector = "latest";
        req.restore_to = v.restore_to;
        req.restore_password = v.restore_password.reveal();
        req.no_owner = v.no_owner;
        req.no_acl = v.no_acl;
        req.role = v.role;
        run.restored = verify(req);
    }
    if (!run.failure && run.results.empty()) {
        run.failure = Error{ErrorKind::not_found, "verify", target.name, "there is no backup to verify",
                            "`dbkeep list " + target.name + "`; back it up first"};
    }
    if (cancel::requested()) {
        (void)storage.remove({key}); // the period is retried by the next run
        return fail_cancelled("verify", target.name);
    }
    const std::string backup_id = run.results.empty() ? "" : run.results.back().manifest.id;
    record["finished_at"] = format_rfc3339(std::chrono::system_clock::now());
    record["ok"] = !run.failure;
    record["restored"] = run.restored;
    record["backup_id"] = backup_id;
    record["error"] = run.failure ? observe::redact(run.failure->to_string()) : "";
    if (auto st = storage::put_object(storage, key, record.dump() + "\n"); !st) {
        observe::warn("verification record not written", {{"target", target.name}, {"error", st.error().to_string()}});
    }
    if (run.failure) {
        tell(backup_id, *run.failure);
    } else {
        observe::info("verification passed", {{"target", target.name},
                                              {"backups", std::to_string(run.results.size())},
                                              {"test_restore", run.restored ? "matched the manifest" : "none"}});
        if (metrics != nullptr && run.restored) {
            metrics->verified_restore(target.name, unix_seconds(std::chrono::system_clock::now()));
        }
    }
    // Old records are not needed: the newest decides when the next period is due.
    if (auto records = list_records(storage, target.name); records && records->size() > k_records_kept) {
        std::vector<std::string> old;
        for (std::size_t i = 0; i + k_records_kept < records->size(); ++i) {
            old.push_back((*records)[i].second);
        }
        (void)storage.remove(old);
    }
    return run;
}

} // namespace dbkeep::job
