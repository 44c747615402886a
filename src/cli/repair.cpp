#include "job/repair.hpp"
#include "catalog/lease.hpp"
#include "cli/app.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/cancel.hpp"
#include "core/human.hpp"
#include "observe/log.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dbkeep::cli {
namespace {

// "12 tables" (postgres), "2004 keys" (redis: keys over every db).
std::string contents(const catalog::Manifest& m)
{
    if (m.engine == "redis") {
        std::int64_t keys = 0;
        for (const auto& [db, n] : m.stats) {
            keys += n;
        }
        return fmt::format("{} keys in {} db{}", keys, m.stats.size(), m.stats.size() == 1 ? "" : "s");
    }
    return fmt::format("{} table{}", m.stats.size(), m.stats.size() == 1 ? "" : "s");
}

} // namespace

void add_repair_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd =
        app.add_subcommand("repair", "rebuild the manifest of each orphan (an object without one) by reading it");
    auto target = std::make_shared<std::string>();
    auto dry_run = std::make_shared<bool>(false);
    auto identity = std::make_shared<std::string>();
    cmd->add_option("target", *target, "only this target");
    cmd->add_flag("--dry-run", *dry_run, "read each orphan and report, write no manifest");
    cmd->add_option("--identity", *identity, "age identity file for encrypted objects (or DBKEEP_IDENTITY_FILE)");
    cmd->callback([&ctx, &exit_code, target, dry_run, identity] {
        std::vector<std::string> names;
        if (!target->empty()) {
            names.push_back(*target);
        }
        job::RepairOptions options;
        options.dry_run = *dry_run;
        std::string id_file = *identity;
        if (id_file.empty()) {
            if (const char* env = std::getenv("DBKEEP_IDENTITY_FILE")) {
                id_file = env;
            }
        }
        if (!id_file.empty()) {
            options.read.identity_files.push_back(id_file);
        }
        nlohmann::json rows = nlohmann::json::array();
        int repaired = 0, failed = 0;
        exit_code = ctx.for_each_target(names, [&](const config::TargetConfig& t, storage::Storage& storage) -> Status {
            options.read.passphrase = t.encryption.passphrase.reveal();
            // The target's lease, as a backup takes it: a running backup's object, complete but not yet committed,
            // is not an orphan to give a manifest (its backup may still fail and remove it).
            const std::chrono::seconds ttl{ctx.config()->lease_ttl_seconds};
            auto protocol = catalog::lease_protocol_for(storage, t.name);
            if (!protocol) {
                return wrap(protocol.error(), "take the lease of " + t.name);
            }
            auto lease = catalog::acquire_lease(storage, t.name, ttl, std::chrono::system_clock::now(), *protocol);
            if (!lease) {
                return wrap(lease.error(), "take the lease of " + t.name);
            }
            if (lease->outcome == catalog::LeaseOutcome::busy) {
                return fail(ErrorKind::conflict, "repair", t.name,
                            "a backup is running on host " + lease->other.host + " pid " +
                                std::to_string(lease->other.pid) + " until " + lease->other.expires_at,
                            "repair once it has finished: its object is not an orphan yet");
            }
            // Renewed while the repair reads (however long), released on every path.
            std::optional<Result<std::vector<job::RepairResult>>> results;
            {
                catalog::HeldLease held(storage, t.name, lease->mine, ttl);
                job::RepairOptions leased = options;
                leased.before_commit = [&held] { return held.confirm(); };
                results = job::run_repair(t, storage, leased);
            }
            if (!*results) {
                return std::unexpected(results->error());
            }
            for (const auto& r : **results) {
                if (r.manifest) {
                    ++repaired;
                } else {
                    ++failed;
                }
                if (ctx.json) {
                    nlohmann::json row = {{"target", t.name}, {"key", r.key}};
                    if (r.manifest) {
                        row["status"] = r.written ? "repaired" : "would_repair";
                        row["manifest"] = nlohmann::json::parse(catalog::to_json(*r.manifest));
                    } else {
                        row["status"] = "not_repaired";
                        row["error"] = r.error ? error_json(*r.error) : nlohmann::json(nullptr);
                    }
                    rows.push_back(std::move(row));
                    continue;
                }
                if (r.manifest) {
                    std::printf("%s %s %s: %s, %s, %s\n", t.name.c_str(), printable(r.key).c_str(),
                                r.written ? "repaired" : "would be repaired (--dry-run)", r.manifest->id.c_str(),
                                contents(*r.manifest).c_str(), human_size(r.manifest->stored_bytes).c_str());
                } else {
                    std::printf(
                        "%s %s NOT repaired: %s\n", t.name.c_str(), printable(r.key).c_str(),
                        printable(observe::redact(r.error ? r.error->to_string() : std::string("unknown"))).c_str());
                }
            }
            return {};
        });
        if (ctx.json) {
            print_items(std::move(rows), ctx);
        } else if (exit_code != k_exit_usage) {
            print_summary("repair: " + std::to_string(repaired) + (*dry_run ? " would be repaired" : " repaired") +
                          ", " + std::to_string(failed) + " not repaired");
        }
        if (failed > 0 && exit_code == k_exit_ok) {
            exit_code = k_exit_failed;
        }
    });
}

} // namespace dbkeep::cli
