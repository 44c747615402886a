#include "cli/context.hpp"

#include "cli/app.hpp"
#include "core/cancel.hpp"
#include "job/open.hpp"
#include "job/scheduled.hpp"
#include "observe/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace dbkeep::cli {

int exit_code_for(const Error& error)
{
    return error.kind == ErrorKind::config ? k_exit_usage : k_exit_failed;
}

int report(const Error& error)
{
    std::string line = "dbkeep: " + observe::redact(error.to_string()) + "\n";
    std::fputs(line.c_str(), stderr);
    return exit_code_for(error);
}

const config::Config* Context::config()
{
    if (m_config) {
        return &*m_config;
    }
    if (m_failed) {
        return nullptr;
    }
    // Where deploy tools put the configuration: --config FILE, --config - (standard input), the YAML itself in
    // DBKEEP_CONFIG_YAML (a Terraform-rendered task environment, a ConfigMap), a path in DBKEEP_CONFIG, and
    // ./dbkeep.yaml, in that order. YAML from stdin or the environment resolves relative paths against the
    // current directory.
    const char* yaml_env = std::getenv("DBKEEP_CONFIG_YAML");
    std::string path = config_path;
    Result<config::Config> loaded = std::unexpected(Error{});
    if (path == "-") {
        std::string yaml{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
        loaded = config::load_from_string(yaml, "<stdin>", std::filesystem::current_path());
    } else if (path.empty() && yaml_env && *yaml_env) {
        loaded = config::load_from_string(yaml_env, "$DBKEEP_CONFIG_YAML", std::filesystem::current_path());
    } else {
        if (path.empty()) {
            const char* env = std::getenv("DBKEEP_CONFIG");
            path = env && *env ? env : "dbkeep.yaml";
        }
        loaded = config::load(path);
    }
    if (!loaded) {
        m_failed = true;
        m_config_error = loaded.error();
        report(loaded.error());
        return nullptr;
    }
    // Every secret of the file is redacted from logs from now on.
    for (const auto* secret : config::secrets_of(*loaded)) {
        observe::register_secret(secret->reveal());
    }
    m_config = std::move(*loaded);
    return &*m_config;
}

std::optional<std::vector<const config::TargetConfig*>> Context::targets(const std::vector<std::string>& names)
{
    const auto* cfg = config();
    if (!cfg) {
        return std::nullopt;
    }
    std::vector<const config::TargetConfig*> out;
    if (names.empty()) {
        for (const auto& [name, t] : cfg->targets) {
            out.push_back(&t);
        }
        return out;
    }
    for (const auto& n : names) {
        auto it = cfg->targets.find(n);
        if (it == cfg->targets.end()) {
            std::string known;
            for (const auto& [name, t] : cfg->targets) {
                known += (known.empty() ? "" : ", ") + name;
            }
            report(Error{ErrorKind::config, "select target", n, "not defined in " + cfg->path.string(),
                         "defined: " + known});
            return std::nullopt;
        }
        out.push_back(&it->second);
    }
    return out;
}

Result<std::unique_ptr<storage::Storage>> Context::storage_for(const config::TargetConfig& target)
{
    return job::open_storage(config()->storage_for(target));
}

observe::Metrics* Context::run_metrics()
{
    const auto* cfg = config();
    if (cfg == nullptr || !cfg->metrics.enabled()) {
        return nullptr;
    }
    if (!m_metrics) {
        m_metrics = std::make_unique<observe::Metrics>();
        if (!cfg->metrics.textfile.empty()) {
            std::ifstream previous(cfg->metrics.textfile);
            std::ostringstream text;
            text << previous.rdbuf();
            m_metrics->load_previous(text.str());
        }
        for (const auto& [name, target] : cfg->targets) {
            m_metrics->idle(name); // every configured target has its series, run or not
        }
    }
    return m_metrics.get();
}

Context::StorageErrorHook Context::backup_failure_hook()
{
    return [this](const config::TargetConfig& target, const Error& error) {
        job::notify_failure(target, error);
        if (auto* metrics = run_metrics()) {
            metrics->failed(target.name);
        }
    };
}

void Context::export_run_metrics()
{
    if (m_metrics && m_config) {
        (void)observe::export_metrics(m_config->metrics, *m_metrics);
    }
}

int Context::for_each_target(const std::vector<std::string>& names, const TargetBody& body,
                             const StorageErrorHook& on_storage_error)
{
    auto selected = targets(names);
    if (!selected) {
        return k_exit_usage;
    }
    int exit_code = k_exit_ok;
    for (const auto* t : *selected) {
        if (cancel::requested()) {
            return exit_code == k_exit_ok ? k_exit_failed : exit_code;
        }
        auto storage = storage_for(*t);
        if (!storage && on_storage_error) {
            on_storage_error(*t, storage.error());
        }
        Status done = storage ? body(*t, **storage) : Status(std::unexpected(storage.error()));
        if (!done) {
            m_target_errors.push_back({t->name, done.error()});
            int rc = report(done.error());
            exit_code = exit_code == k_exit_ok ? rc : exit_code;
        }
    }
    return exit_code;
}

std::vector<std::string> identity_files(const std::string& flag)
{
    std::string file = flag;
    if (file.empty()) {
        if (const char* env = std::getenv("DBKEEP_IDENTITY_FILE")) {
            file = env;
        }
    }
    if (file.empty()) {
        return {};
    }
    return {file};
}

} // namespace dbkeep::cli
