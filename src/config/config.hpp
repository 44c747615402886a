// The YAML configuration file as typed structs. load() validates everything it can without touching the
// network and reports the first mistake as "FILE:LINE:COL: message".
#pragma once

#include "catalog/retention.hpp"
#include "core/error.hpp"
#include "core/secret.hpp"
#include "engine/options.hpp"
#include "observe/metrics.hpp"
#include "observe/notify.hpp"
#include "runner/options.hpp"
#include "schedule/cron.hpp"
#include "storage/local.hpp"
#include "storage/s3/s3.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace dbkeep::config {

// Where in the file a value came from, for messages about values that are only found wrong later.
struct Mark {
    int line = 0;   // 1-based; 0 = not from the file
    int column = 0; // 1-based
};

// Each storage plug-in owns its options (storage/local.hpp, storage/s3/s3.hpp); the loader fills them.
using StorageOptions = std::variant<storage::LocalOptions, storage::S3Options>;

struct EncryptionConfig {
    std::vector<std::string> recipients; // age1... public keys, each checked at load (bech32 and length)
    std::string recipients_file;
    Secret passphrase;
    bool enabled() const noexcept { return !recipients.empty() || !recipients_file.empty() || !passphrase.empty(); }
};

struct StorageConfig {
    std::string name;
    Mark mark;
    StorageOptions options;
    EncryptionConfig encryption; // default for the targets stored here that set none

    // "local" or "s3", for messages.
    std::string type() const { return options.index() == 0 ? "local" : "s3"; }
};

// A target's `verify:` block: scheduled proof that its backups restore (job/proof.hpp runs it).
struct VerifyConfig {
    schedule::CronSchedule schedule; // in the target's timezone
    bool all_backups = false;        // `backups: all`: checksum-verify every backup, not only the latest
    std::string restore_to;          // scratch database URL for the test restore, as written; empty: none
    Secret restore_password;         // the scratch's password (from the URL, `password` or `password_file`)
    std::string identity_file;       // age identity for an encrypted target (else $DBKEEP_IDENTITY_FILE)
    bool no_owner = false;           // PostgreSQL: the test restore's pg_restore --no-owner, --no-acl, --role
    bool no_acl = false;
    std::string role;
};

struct TargetConfig {
    std::string name;
    Mark mark;
    std::string url; // as written, secrets removed
    engine::EngineOptions engine;
    std::string storage;                            // resolved storage name (never empty after load)
    std::optional<schedule::CronSchedule> schedule; // parsed at load; its text is schedule->text
    std::string timezone = "UTC";                   // IANA name as written
    const date::time_zone* zone = nullptr;          // resolved at load, never null after load
    catalog::RetentionPolicy keep;
    EncryptionConfig encryption;
    runner::RunnerOptions runner;
    int compression_level = 3;
    int compression_workers = 2;
    // The target's own `notify:` list, else the root's; resolved at load (an empty list: nobody is told).
    std::vector<observe::Channel> notify;
    std::optional<VerifyConfig> verify; // scheduled verification; none: only on demand (`dbkeep verify`)

    // "postgres" or "redis", as manifests write it.
    std::string engine_name() const { return engine::engine_name(engine); }
};

struct DaemonConfig {
    int max_concurrent = 1;
    int jitter_seconds = 30;
    int shutdown_grace_seconds = 20; // below ECS's default stopTimeout (30 s), with room for the abort
    std::string listen;              // host:port for /metrics and /healthz; empty: off
};

struct Config {
    std::filesystem::path path; // the file it came from ("" for the built-in default)
    std::map<std::string, StorageConfig> storages;
    std::map<std::string, TargetConfig> targets;
    DaemonConfig daemon;
    std::vector<observe::Channel> notify; // the root `notify:` list, the default of every target
    int lease_ttl_seconds = 600;          // a lease not renewed for this long is taken over
    observe::MetricsExport metrics;       // where one-shot runs write metrics (`metrics:`); off by default

    const StorageConfig& storage_for(const TargetConfig& target) const { return storages.at(target.storage); }
};

// Loads and validates a file. Errors are ErrorKind::config with message "FILE:LINE:COL: what is wrong".
Result<Config> load(const std::filesystem::path& path);

// Same from text (the name is used in messages and relative paths resolve against base_dir).
Result<Config> load_from_string(const std::string& yaml, const std::string& name,
                                const std::filesystem::path& base_dir);

// Replaces ${VAR} and ${VAR:-default} in a scalar. $$ is a literal '$'. An unset variable without a
// default is an error (returned as the variable's name in the error message).
Result<std::string> interpolate(const std::string& text);

// Every secret the configuration holds (passwords, passphrases, S3 secret keys), for log redaction.
std::vector<const Secret*> secrets_of(const Config& config);

// A printable summary with every secret redacted.
std::string to_string(const Config& config);

} // namespace dbkeep::config
