#include "catalog/catalog.hpp"
#include "cli/app.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/human.hpp"
#include "job/restore.hpp"
#include "observe/log.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

namespace dbkeep::cli {

void add_verify_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("verify", "read backups back: size, SHA-256 and a full decompression");
    auto target = std::make_shared<std::string>();
    auto backup = std::make_shared<std::string>();
    auto identity = std::make_shared<std::string>();
    auto restore_to = std::make_shared<std::string>();
    auto restore_flag = std::make_shared<bool>(false);
    auto base = std::make_shared<job::VerifyRequest>();
    cmd->add_option("target", *target, "only this target");
    cmd->add_flag("--restore", *restore_flag, "test-restore into --to and compare row/key counts with the manifest");
    cmd->add_option("--to", *restore_to, "scratch database URL for --restore (password: DBKEEP_RESTORE_PASSWORD)");
    cmd->add_flag("--keep", base->keep, "keep the scratch database of --restore (it is dropped otherwise)");
    cmd->add_flag("--force", base->force,
                  "--restore although the scratch's maxmemory looks too small for the backup (Redis; warns)");
    cmd->add_flag("--no-owner", base->no_owner, "--restore without object owners (PostgreSQL)");
    cmd->add_flag("--no-acl", base->no_acl, "--restore without privileges (PostgreSQL)");
    cmd->add_option("--role", base->role, "--restore as this role (PostgreSQL: SET ROLE)");
    cmd->add_option("--backup", *backup, "only this backup id (or 'latest')");
    cmd->add_option("--identity", *identity, "age identity file (or DBKEEP_IDENTITY_FILE)");
    cmd->callback([&ctx, &exit_code, target, backup, identity, restore_to, restore_flag, base] {
        if (*restore_flag && (restore_to->empty() || target->empty())) {
            exit_code = report(Error{ErrorKind::config, "verify", *target,
                                     "--restore needs a TARGET and --to URL of a scratch database"});
            return;
        }
        std::vector<std::string> names;
        if (!target->empty()) {
            names.push_back(*target);
        }
        job::VerifyRequest req = *base;
        req.selector = *backup;
        if (*restore_flag) {
            req.restore_to = *restore_to;
            if (const char* pw = std::getenv("DBKEEP_RESTORE_PASSWORD")) {
                req.restore_password = pw;
            }
        }
        std::string id = *identity;
        if (id.empty() && std::getenv("DBKEEP_IDENTITY_FILE")) {
            id = std::getenv("DBKEEP_IDENTITY_FILE");
        }
        if (!id.empty()) {
            req.read.identity_files.push_back(id);
        }
        const auto started = std::chrono::steady_clock::now();
        nlohmann::json items = nlohmann::json::array();
        int bad = 0;
        int good = 0;
        exit_code = ctx.for_each_target(names, [&](const config::TargetConfig& t, storage::Storage& storage) -> Status {
            req.read.passphrase = t.encryption.passphrase.reveal();
            auto results = job::run_verify(t, storage, req);
            if (!results) {
                return std::unexpected(results.error());
            }
            for (const auto& r : *results) {
                (r.error ? bad : good) += 1;
                if (ctx.json) {
                    nlohmann::json item{{"target", t.name},
                                        {"id", r.manifest.id},
                                        {"status", r.error ? "failed" : "ok"},
                                        {"restored", !req.restore_to.empty() && !r.error}};
                    if (r.error) {
                        item["error"] = error_json(*r.error);
                    }
                    items.push_back(std::move(item));
                } else if (r.error) {
                    std::printf("%s %s FAILED %s\n", t.name.c_str(), r.manifest.id.c_str(),
                                observe::redact(r.error->to_string()).c_str());
                } else {
                    std::printf("%s %s ok\n", t.name.c_str(), r.manifest.id.c_str());
                }
            }
            if (!req.selector.empty()) {
                return {};
            }
            // Verifying a whole target also proves that nothing in its folder escaped the listing: an
            // unreadable manifest or an object without one is a backup that cannot be verified.
            auto listing = catalog::list_backups(storage, t.name);
            if (!listing) {
                return std::unexpected(listing.error());
            }
            for (const auto& u : listing->unreadable) {
                ++bad;
                if (ctx.json) {
                    items.push_back(
                        {{"target", t.name}, {"key", u.key}, {"status", "unreadable"}, {"reason", u.reason}});
                    continue;
                }
                std::printf("%s %s FAILED unreadable manifest: %s\n", t.name.c_str(), printable(u.key).c_str(),
                            printable(u.reason).c_str());
            }
            for (const auto& key : listing->orphans) {
                ++bad;
                if (ctx.json) {
                    items.push_back({{"target", t.name}, {"key", key}, {"status", "orphan"}});
                    continue;
                }
                std::printf("%s %s FAILED no manifest: an orphan, unverifiable (`dbkeep list %s`)\n", t.name.c_str(),
                            printable(key).c_str(), t.name.c_str());
            }
            return {};
        });
        if (bad > 0 && exit_code == k_exit_ok) {
            exit_code = k_exit_failed;
        }
        const auto failed = ctx.target_errors().size();
        if (ctx.json) {
            print_items(std::move(items), ctx);
        } else if (exit_code != k_exit_usage) {
            print_summary("verify: " + std::to_string(good) + " backup" + (good == 1 ? "" : "s") + " verified" +
                          (bad > 0 ? ", " + std::to_string(bad) + " FAILED" : "") +
                          (failed > 0
                               ? ", " + std::to_string(failed) + " target" + (failed == 1 ? "" : "s") + " not verified"
                               : "") +
                          ", in " + human_duration(elapsed_ms(started)));
        }
    });
}

} // namespace dbkeep::cli
