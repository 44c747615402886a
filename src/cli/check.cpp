#include "cli/app.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "job/diagnose.hpp"
#include "job/scheduled.hpp"
#include "observe/log.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace dbkeep::cli {
namespace {
const char* mark(Outcome o)
{
    switch (o) {
    case Outcome::pass: return "✓";
    case Outcome::warn: return "!";
    case Outcome::fail: return "✗";
    }
    return "?";
}
const char* word(Outcome o)
{
    switch (o) {
    case Outcome::pass: return "pass";
    case Outcome::warn: return "warn";
    case Outcome::fail: return "fail";
    }
    return "fail";
}
} // namespace

void add_check_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("check", "diagnose every prerequisite; exit 0 only if nothing failed, else 3");
    auto names = std::make_shared<std::vector<std::string>>();
    auto identity = std::make_shared<std::string>();
    auto json_flag = std::make_shared<bool>(false);
    cmd->add_option("targets", *names, "targets to check (all when none)");
    cmd->add_option("--identity", *identity, "age identity file: check it matches a recipient");
    cmd->add_flag("--json", *json_flag, "print JSON");
    auto freshness = std::make_shared<bool>(false);
    cmd->add_flag("--freshness", *freshness,
                  "only the dead-man's switch: fail and notify `missed` when a scheduled backup is overdue");
    cmd->callback([&ctx, &exit_code, names, identity, json_flag, freshness] {
        bool as_json = *json_flag || ctx.json;
        struct Row {
            std::string target;
            Finding f;
        };
        std::vector<Row> rows;
        const auto* cfg = ctx.config();
        if (!cfg) {
            // The loader already printed FILE:LINE:COL; the table repeats it as a failed probe.
            rows.push_back({"-", failed("config", "the configuration does not load",
                                        "fix the error printed above, then run `dbkeep config validate`")});
        } else {
            auto targets = ctx.targets(*names);
            if (!targets) {
                exit_code = k_exit_usage;
                return;
            }
            if (*freshness) {
                // The dead-man's switch alone.
                for (const auto* t : *targets) {
                    auto storage = ctx.storage_for(*t);
                    if (!storage) {
                        job::notify_failure(*t, storage.error());
                        rows.push_back({t->name, failed("storage.open", storage.error().to_string(),
                                                        "fix storage '" + t->storage + "' in the configuration")});
                        continue;
                    }
                    rows.push_back({t->name, job::check_overdue(*t, **storage, std::chrono::system_clock::now())});
                }
            } else {
                check::CheckOptions options;
                std::string id = *identity;
                if (id.empty() && std::getenv("DBKEEP_IDENTITY_FILE")) {
                    id = std::getenv("DBKEEP_IDENTITY_FILE");
                }
                if (!id.empty()) {
                    options.identity_files.push_back(id);
                }
                for (const auto* t : *targets) {
                    for (auto& f : job::diagnose(*cfg, *t, options)) {
                        rows.push_back({t->name, std::move(f)});
                    }
                }
            }
        }
        bool any_fail = false;
        int passed = 0;
        int warned = 0;
        int failed_count = 0;
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : rows) {
            any_fail = any_fail || r.f.outcome == Outcome::fail;
            (r.f.outcome == Outcome::fail ? failed_count : r.f.outcome == Outcome::pass ? passed : warned) += 1;
            std::string finding = observe::redact(r.f.finding);
            std::string remedy = observe::redact(r.f.remedy);
            if (as_json) {
                out.push_back({{"target", r.target},
                               {"probe", r.f.probe},
                               {"outcome", word(r.f.outcome)},
                               {"finding", finding},
                               {"remedy", remedy}});
            } else {
                std::printf("%-12s %-20s %s %s\n", r.target.c_str(), r.f.probe.c_str(), mark(r.f.outcome),
                            finding.c_str());
                if (r.f.outcome != Outcome::pass && !remedy.empty()) {
                    std::printf("%-12s %-20s   → %s\n", "", "", remedy.c_str());
                }
            }
        }
        if (as_json) {
            print_json(out);
        } else {
            print_summary("check: " + std::to_string(passed) + " passed, " + std::to_string(warned) + " warning" +
                          (warned == 1 ? "" : "s") + ", " + std::to_string(failed_count) + " failed");
        }
        exit_code = any_fail ? k_exit_check : k_exit_ok;
    });
}

} // namespace dbkeep::cli
