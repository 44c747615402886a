// The YAML configuration file as typed structs. load() validates everything it can without touching the
// network and reports the first mistake as "FILE:LINE:COL: message".
#pragma once

#include "core/error.hpp"
#include "core/secret.hpp"
#include "storage/s3/s3.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dbkeep::config {

// Where in the file a value came from, for messages about values that are only found wrong later.
struct Mark {
    int line = 0;   // 1-based; 0 = not from the file
    int column = 0; // 1-based
};

struct LocalStorageConfig {
    std::filesystem::path path; // absolute after load (relative paths resolve against the config's folder)
};

// The S3 plug-in owns its options (storage/s3/s3.hpp); the loader fills them.
using S3StorageConfig = storage::S3Options;

struct EncryptionConfig {
    std::vector<std::string> recipients; // age1... public keys
    std::string recipients_file;
    Secret passphrase;
    bool enabled() const noexcept { return !recipients.empty() || !recipients_file.empty() || !passphrase.empty(); }
};

struct StorageConfig {
    std::string name;
    std::string type; // local | s3
    Mark mark;
    LocalStorageConfig local;
    S3StorageConfig s3;
    EncryptionConfig encryption; // default for the targets stored here that set none
};

struct RunnerConfig {
    std::string type = "local"; // local | docker | kubectl | ssh | command | ecs
    Mark mark;
    // docker / podman
    std::string container;
    std::string host; // docker: unix:///var/run/docker.sock or tcp://h:p; ssh: host name
    // kubectl
    std::string pod, namespace_, context, kube_container;
    // ssh
    std::string user; // ssh login; docker: exec user
    int port = 0;
    std::string identity_file, known_hosts;
    // command / ecs launcher
    std::vector<std::string> argv;
    // ecs: shared directory as seen by dbkeep and inside the container, and timeouts
    std::string shared_dir, remote_shared_dir;
    int timeout_seconds = 0; // 0: no limit
};

struct RetentionConfig {
    std::optional<int> last, hourly, daily, weekly, monthly, yearly;
    std::string within; // e.g. "30d", "2w", "1y6m"; empty: none
    bool empty() const noexcept
    {
        return !last && !hourly && !daily && !weekly && !monthly && !yearly && within.empty();
    }
};

struct PostgresConfig {
    std::string host, user, dbname; // empty: libpq defaults / PG* environment
    int port = 0;
    Secret password;
    std::string passfile;
    std::string sslmode;
    std::string pg_dump_path;    // overrides the search for a matching pg_dump
    std::string pg_restore_path; // likewise for pg_restore
};

struct RedisConfig {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string username;
    Secret password;
    int db = 0;
    bool tls = false;
    std::string mode = "replication"; // replication | bgsave
};

struct TargetConfig {
    std::string name;
    std::string engine; // postgres | redis
    Mark mark;
    std::string url; // as written, secrets removed
    PostgresConfig postgres;
    RedisConfig redis;
    std::string storage; // resolved storage name (never empty after load)
    std::string schedule;
    Mark schedule_mark;
    std::string timezone = "UTC";
    RetentionConfig keep;
    EncryptionConfig encryption;
    RunnerConfig runner;
    int compression_level = 3;
    int compression_workers = 2;
};

struct DaemonConfig {
    int max_concurrent = 1;
    int jitter_seconds = 30;
    int shutdown_grace_seconds = 300;
    std::string listen; // host:port for /metrics and /healthz; empty: off
};

struct Config {
    std::filesystem::path path; // the file it came from ("" for the built-in default)
    std::map<std::string, StorageConfig> storages;
    std::map<std::string, TargetConfig> targets;
    DaemonConfig daemon;
    int lease_ttl_seconds = 600; // a lease not renewed for this long is taken over

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

// A printable summary with every secret redacted.
std::string to_string(const Config& config);

} // namespace dbkeep::config
