#include "job/show.hpp"

#include "catalog/catalog.hpp"
#include "cli/app.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/human.hpp"
#include "storage/storage.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace dbkeep::cli {
namespace {

nlohmann::json contents_json(const engine::Contents& c)
{
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& row : c.entries) {
        nlohmann::json e = nlohmann::json::object();
        for (std::size_t i = 0; i < c.columns.size() && i < row.size(); ++i) {
            e[c.columns[i]] = row[i];
        }
        entries.push_back(std::move(e));
    }
    return {{"kind", c.kind}, {"facts", c.facts}, {"counts", c.counts}, {"columns", c.columns}, {"entries", entries}};
}

nlohmann::json show_json(const job::ShowResult& r)
{
    // The manifest's own fields (docs/format.md), then what each object holds.
    auto doc = nlohmann::json::parse(catalog::to_json(r.manifest));
    nlohmann::json objects = nlohmann::json::array();
    for (const auto& o : r.objects) {
        nlohmann::json j{{"role", o.part ? "part" : "data"},
                         {"key", o.key},
                         {"raw_bytes", o.raw_bytes},
                         {"stored_bytes", o.stored_bytes},
                         {"sha256", o.sha256},
                         {"checksum", "ok"},
                         {"details", o.details},
                         {"contents", contents_json(o.contents)}};
        if (o.part) {
            j["part"] = o.index + 1;
        }
        objects.push_back(std::move(j));
    }
    doc["objects"] = std::move(objects);
    return doc;
}

std::string text_of(const std::string& value)
{
    return value;
}
std::string text_of(std::int64_t value)
{
    return std::to_string(value);
}

// "key=value key=value" of a map, printable.
template <typename Map> std::string pairs(const Map& map)
{
    std::string out;
    for (const auto& [k, v] : map) {
        out += (out.empty() ? "" : " ") + printable(k) + "=" + printable(text_of(v));
    }
    return out;
}

template <typename Map> void print_block(const char* title, const Map& map)
{
    if (map.empty()) {
        return;
    }
    // Padded by display width, not bytes: printf's %-*s would misalign a non-ASCII key.
    std::size_t width = 0;
    for (const auto& kv : map) {
        width = std::max(width, display_width(printable(kv.first)));
    }
    std::printf("%s:\n", title);
    for (const auto& [k, v] : map) {
        std::printf("  %s  %s\n", pad_to_width(printable(k), width).c_str(), printable(text_of(v)).c_str());
    }
}

void print_text(const job::ShowResult& r)
{
    const auto& m = r.manifest;
    std::printf("backup %s of %s\n", printable(m.id).c_str(), printable(m.target).c_str());
    std::printf("  engine    %s %s, %s %s\n", m.engine.c_str(), printable(m.server_version).c_str(),
                printable(m.tool).c_str(), printable(m.tool_version).c_str());
    std::printf("  started   %s\n  finished  %s (%s)\n", printable(m.started_at).c_str(),
                printable(m.finished_at).c_str(), human_duration(m.finished_unix_ms - m.started_unix_ms).c_str());
    std::printf("  trigger   %s, runner %s, dbkeep %s\n", catalog::trigger_name(m.trigger), printable(m.runner).c_str(),
                printable(m.dbkeep_version).c_str());
    std::printf("  format    %d, %s level %d, %s\n",
                m.parts.empty() ? catalog::k_manifest_format_single : catalog::k_manifest_format, m.compression.c_str(),
                m.compression_level,
                m.encryption.empty() ? "not encrypted"
                                     : (m.encryption + " (" + std::to_string(m.encryption_recipients.size()) +
                                        " recipient" + (m.encryption_recipients.size() == 1 ? ")" : "s)"))
                                           .c_str());
    std::printf("  size      %s raw, %s stored, %zu object%s\n", human_size(catalog::total_raw_bytes(m)).c_str(),
                human_size(catalog::total_stored_bytes(m)).c_str(), r.objects.size(), r.objects.size() == 1 ? "" : "s");
    print_block("details", m.details);
    print_block("stats", m.stats);
    for (const auto& o : r.objects) {
        std::printf("\n%s %s\n", o.part ? ("part " + std::to_string(o.index + 1)).c_str() : "object",
                    printable(o.key).c_str());
        std::printf("  %s raw, %s stored, sha256 %s (checked)%s%s\n", human_size(o.raw_bytes).c_str(),
                    human_size(o.stored_bytes).c_str(), o.sha256.c_str(), o.contents.kind.empty() ? "" : ", ",
                    printable(o.contents.kind).c_str());
        if (!o.details.empty()) {
            std::printf("  details: %s\n", pairs(o.details).c_str());
        }
        if (!o.contents.facts.empty()) {
            std::printf("  facts: %s\n", pairs(o.contents.facts).c_str());
        }
        if (!o.contents.counts.empty() && o.contents.counts != m.stats) {
            std::printf("  counts: %s\n", pairs(o.contents.counts).c_str());
        }
        std::fputs(job::listing_text(o.contents).c_str(), stdout);
    }
}

} // namespace

void add_show_command(CLI::App& app, Context& ctx, int& exit_code)
{
    auto* cmd = app.add_subcommand("show", "print a backup's manifest and what its dump holds, read from storage");
    auto target = std::make_shared<std::string>();
    auto id = std::make_shared<std::string>("latest");
    auto identity = std::make_shared<std::string>();
    auto json_flag = std::make_shared<bool>(false);
    cmd->add_option("target", *target, "the target whose backup to show")->required();
    cmd->add_option("id", *id, "backup id, 'latest' (default) or an RFC 3339 time");
    cmd->add_option("--identity", *identity, "age identity file for encrypted backups (or DBKEEP_IDENTITY_FILE)");
    cmd->add_flag("--json", *json_flag, "print JSON");
    cmd->callback([&ctx, &exit_code, target, id, identity, json_flag] {
        const bool as_json = *json_flag || ctx.json;
        // One target: for_each_target reports an unknown name, a storage that does not open and show's error.
        exit_code =
            ctx.for_each_target({*target}, [&](const config::TargetConfig& t, storage::Storage& storage) -> Status {
                job::ShowRequest req;
                req.selector = *id;
                req.read.identity_files = identity_files(*identity);
                req.read.passphrase = t.encryption.passphrase.reveal();
                auto shown = job::run_show(t, storage, req);
                if (!shown) {
                    return std::unexpected(shown.error());
                }
                if (as_json) {
                    print_json(show_json(*shown));
                } else {
                    print_text(*shown);
                }
                return {};
            });
        if (as_json && !ctx.target_errors().empty()) {
            const auto& failed = ctx.target_errors().front();
            print_json(failed_target_json(failed.target, failed.error));
        }
    });
}

} // namespace dbkeep::cli
