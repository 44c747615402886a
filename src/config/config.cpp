#include "config/config.hpp"
#include "core/http.hpp"
#include "storage/s3/credentials.hpp"

#include "catalog/naming.hpp"
#include "core/url.hpp"
#include "engine/postgres/connection.hpp"
#include "schedule/cron.hpp"
#include "stream/age/age.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <yaml-cpp/yaml.h>

namespace dbkeep::config {
namespace {

// The content of a file holding one secret (a password file, a Docker or Kubernetes secret) without its final
// line break; nullopt when it cannot be read.
std::optional<std::string> read_secret_file(const std::filesystem::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream content;
    if (!in || !(content << in.rdbuf())) {
        return std::nullopt;
    }
    std::string value = content.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) {
        value.pop_back();
    }
    return value;
}

// Thrown inside the loader only, turned into an Error at its boundary.
struct LoadError {
    Mark mark;
    std::string message;
};

Mark mark_of(const YAML::Node& node)
{
    const auto m = node.Mark();
    if (m.is_null()) {
        return {};
    }
    return {m.line + 1, m.column + 1};
}

[[noreturn]] void error_at(const YAML::Node& node, std::string message)
{
    throw LoadError{mark_of(node), std::move(message)};
}

std::string type_name(const YAML::Node& n)
{
    switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "empty";
    default: return "undefined";
    }
}

// A mapping whose keys are checked against the allowed set; remembers the node for messages.
class Section {
public:
    Section(const YAML::Node& node, std::string what, std::set<std::string> allowed)
        : m_node(node), m_what(std::move(what))
    {
        if (!node.IsMap()) {
            error_at(node, m_what + " must be a mapping, found " + type_name(node));
        }
        std::set<std::string> seen;
        for (const auto& kv : node) {
            auto key = kv.first.as<std::string>();
            if (!seen.insert(key).second) {
                // yaml-cpp keeps both entries of a duplicated key; lookups would silently see only one.
                error_at(kv.first, "duplicate key '" + key + "' in " + m_what);
            }
            if (!allowed.contains(key)) {
                std::string list;
                for (const auto& a : allowed) {
                    list += (list.empty() ? "" : ", ") + a;
                }
                error_at(kv.first, "unknown key '" + key + "' in " + m_what + " (allowed: " + list + ")");
            }
        }
    }

    bool has(const std::string& key) const { return static_cast<bool>(m_node[key]); }
    YAML::Node node(const std::string& key) const { return m_node[key]; }
    const YAML::Node& self() const { return m_node; }

    std::optional<std::string> str(const std::string& key) const
    {
        YAML::Node n = m_node[key];
        if (!n || n.IsNull()) {
            return std::nullopt;
        }
        if (!n.IsScalar()) {
            error_at(n, "'" + key + "' in " + m_what + " must be a string, found " + type_name(n));
        }
        auto v = interpolate(n.Scalar());
        if (!v) {
            error_at(n, "'" + key + "': " + v.error().message);
        }
        return *v;
    }

    std::string str_or(const std::string& key, std::string fallback) const { return str(key).value_or(fallback); }

    std::optional<long long> integer(const std::string& key, long long min, long long max) const
    {
        auto s = str(key);
        if (!s) {
            return std::nullopt;
        }
        YAML::Node n = m_node[key];
        char* end = nullptr;
        errno = 0;
        long long v = std::strtoll(s->c_str(), &end, 10);
        if (s->empty() || *end != '\0' || errno != 0) {
            error_at(n, "'" + key + "' in " + m_what + " must be an integer, found '" + *s + "'");
        }
        if (v < min || v > max) {
            error_at(n, "'" + key + "' in " + m_what + " must be between " + std::to_string(min) + " and " +
                            std::to_string(max) + ", found " + *s);
        }
        return v;
    }

    std::optional<bool> boolean(const std::string& key) const
    {
        auto s = str(key);
        if (!s) {
            return std::nullopt;
        }
        if (*s == "true" || *s == "yes" || *s == "on") {
            return true;
        }
        if (*s == "false" || *s == "no" || *s == "off") {
            return false;
        }
        error_at(m_node[key], "'" + key + "' in " + m_what + " must be true or false, found '" + *s + "'");
    }

    std::vector<std::string> list(const std::string& key) const
    {
        YAML::Node n = m_node[key];
        std::vector<std::string> out;
        if (!n || n.IsNull()) {
            return out;
        }
        if (!n.IsSequence()) {
            error_at(n, "'" + key + "' in " + m_what + " must be a list, found " + type_name(n));
        }
        for (const auto& item : n) {
            if (!item.IsScalar()) {
                error_at(item, "items of '" + key + "' must be strings, found " + type_name(item));
            }
            auto v = interpolate(item.Scalar());
            if (!v) {
                error_at(item, "'" + key + "': " + v.error().message);
            }
            out.push_back(*v);
        }
        return out;
    }

    std::string require(const std::string& key) const
    {
        auto v = str(key);
        if (!v || v->empty()) {
            error_at(m_node, m_what + " needs '" + key + "'");
        }
        return *v;
    }

private:
    YAML::Node m_node;
    std::string m_what;
};

std::filesystem::path resolve_path(const std::filesystem::path& base, const std::string& p)
{
    std::filesystem::path path(p);
    if (!p.empty() && p[0] == '~') {
        const char* home = std::getenv("HOME");
        path = std::filesystem::path(home ? home : "/") / p.substr(p.size() > 1 && p[1] == '/' ? 2 : 1);
    }
    return path.is_absolute() ? path.lexically_normal() : (base / path).lexically_normal();
}

// A size in bytes: digits with an optional unit (KiB, MiB, GiB, TiB; KB, MB, GB, TB; K, M, G, T as binary
// units). Nothing when malformed or past 2^63.
std::optional<std::uint64_t> parse_size(const std::string& text)
{
    std::string v = text;
    std::uint64_t mult = 1;
    static const std::pair<const char*, std::uint64_t> k_units[] = {
        {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},   {"TiB", 1ull << 40},
        {"KB", 1000ull},     {"MB", 1000000ull},  {"GB", 1000000000ull}, {"TB", 1000000000000ull},
        {"K", 1ull << 10},   {"M", 1ull << 20},   {"G", 1ull << 30},     {"T", 1ull << 40},
    };
    for (const auto& [suffix, m] : k_units) {
        const std::string_view sv(suffix);
        if (v.size() > sv.size() && v.ends_with(sv)) {
            v.resize(v.size() - sv.size());
            mult = m;
            break;
        }
    }
    if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }) || v.size() > 19) {
        return std::nullopt;
    }
    const std::uint64_t n = std::stoull(v);
    if (n > (std::uint64_t{1} << 63) / mult) {
        return std::nullopt;
    }
    return n * mult;
}

EncryptionConfig load_encryption(const YAML::Node& node, const std::string& owner, const std::filesystem::path& base);

StorageConfig load_storage(const std::string& name, const YAML::Node& node, const std::filesystem::path& base)
{
    if (!node.IsMap()) {
        error_at(node, "storage '" + name + "' must be a mapping, found " + type_name(node));
    }
    StorageConfig sc;
    sc.name = name;
    sc.mark = mark_of(node);
    std::string type = node["type"] && node["type"].IsScalar() ? node["type"].Scalar() : "";
    if (type == "local") {
        Section s(node, "storage '" + name + "'", {"type", "path", "encryption"});
        sc.options = storage::LocalOptions{.root = resolve_path(base, s.require("path"))};
        if (s.has("encryption")) {
            sc.encryption = load_encryption(s.node("encryption"), "storage '" + name + "'", base);
        }
    } else if (type == "s3") {
        Section s(node, "storage '" + name + "'",
                  {"type", "bucket", "prefix", "region", "endpoint", "path_style", "storage_class",
                   "server_side_encryption", "sse_kms_key_id", "part_size", "concurrency", "access_key_id",
                   "secret_access_key", "session_token", "profile", "encryption", "stall_timeout"});
        if (s.has("encryption")) {
            sc.encryption = load_encryption(s.node("encryption"), "storage '" + name + "'", base);
        }
        storage::S3Options s3;
        s3.bucket = s.require("bucket");
        s3.prefix = s.str_or("prefix", "");
        while (!s3.prefix.empty() && s3.prefix.front() == '/') {
            s3.prefix.erase(0, 1);
        }
        while (!s3.prefix.empty() && s3.prefix.back() == '/') {
            s3.prefix.pop_back();
        }
        // As the AWS CLI reads them: AWS_REGION, then AWS_DEFAULT_REGION; AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL.
        auto env_or = [](std::initializer_list<const char*> names, const char* fallback) {
            for (const char* n : names) {
                if (const char* v = std::getenv(n); v && *v) {
                    return std::string(v);
                }
            }
            return std::string(fallback);
        };
        s3.region = s.str_or("region", env_or({"AWS_REGION", "AWS_DEFAULT_REGION"}, ""));
        s3.region_given = !s3.region.empty();
        if (s3.region.empty()) {
            s3.region = "us-east-1";
        }
        s3.endpoint = s.str_or("endpoint", env_or({"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}, ""));
        if (auto problem = storage::s3_endpoint_problem(s3.endpoint)) {
            if (s.has("endpoint")) {
                error_at(s.node("endpoint"), "'endpoint' " + *problem + ", found '" + s3.endpoint + "'");
            }
            error_at(node, "the endpoint of storage '" + name + "' from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL " +
                               *problem + ", found '" + s3.endpoint + "'");
        }
        static const std::map<std::string, storage::PathStyle> k_path_styles{
            {"auto", storage::PathStyle::automatic},
            {"true", storage::PathStyle::path},
            {"false", storage::PathStyle::virtual_hosted}};
        if (auto style = s.str("path_style")) {
            auto it = k_path_styles.find(*style);
            if (it == k_path_styles.end()) {
                error_at(s.node("path_style"), "'path_style' must be auto, true or false");
            }
            s3.path_style = it->second;
        }
        s3.storage_class = s.str_or("storage_class", "");
        if (auto sse = s.str("server_side_encryption"); sse && !sse->empty()) {
            if (*sse != "AES256" && *sse != "aws:kms") {
                error_at(s.node("server_side_encryption"), "'server_side_encryption' must be AES256 or aws:kms");
            }
            s3.sse = *sse == "aws:kms" ? storage::ServerSideEncryption::kms : storage::ServerSideEncryption::aes256;
        }
        s3.sse_kms_key_id = s.str_or("sse_kms_key_id", "");
        if (auto ps = s.str("part_size")) {
            // Accept plain bytes or a unit suffix: 16MiB, 64MB, 8M.
            auto n = parse_size(*ps);
            if (!n || *n > (5ull << 30) || *n < (5ull << 20)) {
                error_at(s.node("part_size"), "'part_size' must be between 5MiB and 5GiB, found '" + *ps + "'");
            }
            s3.part_size = *n;
        }
        s3.concurrency = static_cast<int>(s.integer("concurrency", 1, 64).value_or(4));
        s3.stall_timeout = std::chrono::seconds(s.integer("stall_timeout", 1, 3600).value_or(60));
        // Secrets belong in the environment, not in a version-controlled file.
        for (const char* key : {"secret_access_key", "session_token"}) {
            const YAML::Node v = s.node(key);
            if (v && v.IsScalar() && !v.Scalar().empty() && v.Scalar().find("${") == std::string::npos) {
                error_at(v, std::string("write '") + key +
                                "' as ${ENV_VAR}: secrets do not belong in the configuration file");
            }
        }
        s3.access_key_id = s.str_or("access_key_id", "");
        s3.secret_access_key = Secret(s.str_or("secret_access_key", ""));
        s3.session_token = Secret(s.str_or("session_token", ""));
        if (s3.access_key_id.empty() != s3.secret_access_key.empty()) {
            error_at(node, "storage '" + name + "' needs both 'access_key_id' and 'secret_access_key', or neither");
        }
        s3.profile = s.str_or("profile", "");
        sc.options = std::move(s3);
    } else if (!node["type"]) {
        error_at(node, "storage '" + name + "' needs 'type' (local or s3)");
    } else {
        error_at(node["type"], "unknown storage type '" + type + "' (expected local or s3)");
    }
    return sc;
}

runner::RunnerOptions load_runner(const YAML::Node& node, const std::string& target)
{
    if (node.IsScalar()) {
        if (node.Scalar() != "local") {
            error_at(node, "runner '" + node.Scalar() +
                               "' needs a mapping with its settings, e.g. {type: " + node.Scalar() + ", ...}");
        }
        return runner::LocalOptions{};
    }
    std::string what = "runner of target '" + target + "'";
    std::string type = node.IsMap() && node["type"] && node["type"].IsScalar() ? node["type"].Scalar() : "";
    if (type == "local") {
        Section s(node, what, {"type"});
        return runner::LocalOptions{};
    }
    if (type == "docker" || type == "podman") {
        Section s(node, what, {"type", "container", "host", "user"});
        runner::DockerOptions o{
            .host = s.str_or("host", ""), .container = s.require("container"), .user = s.str_or("user", "")};
        if (!o.host.empty() && !o.host.starts_with("unix://") && !o.host.starts_with("tcp://")) {
            error_at(node["host"], what + ": host must be unix:///path/to/docker.sock or tcp://host:port");
        }
        return o;
    }
    if (type == "kubectl") {
        Section s(node, what, {"type", "pod", "namespace", "container", "context"});
        return runner::KubectlOptions{.pod = s.require("pod"),
                                      .namespace_ = s.str_or("namespace", ""),
                                      .context = s.str_or("context", ""),
                                      .container = s.str_or("container", "")};
    }
    if (type == "ssh") {
        Section s(node, what, {"type", "host", "user", "port", "identity_file", "known_hosts"});
        return runner::SshOptions{.host = s.require("host"),
                                  .user = s.str_or("user", ""),
                                  .port = static_cast<int>(s.integer("port", 1, 65535).value_or(0)),
                                  .identity_file = s.str_or("identity_file", ""),
                                  .known_hosts = s.str_or("known_hosts", "")};
    }
    if (type == "command") {
        Section s(node, what, {"type", "argv"});
        runner::CommandOptions o{.argv = s.list("argv")};
        if (o.argv.empty()) {
            error_at(node, what + " needs 'argv', the command prefix, e.g. [docker, exec, -i, NAME]");
        }
        return o;
    }
    if (type == "ecs") {
        Section s(node, what,
                  {"type", "argv", "shared_dir", "remote_shared_dir", "timeout", "cluster", "task", "service", "family",
                   "container", "region", "endpoint"});
        runner::EcsOptions o;
        o.argv = s.list("argv");
        o.shared_dir = s.require("shared_dir");
        o.remote_shared_dir = s.str_or("remote_shared_dir", o.shared_dir);
        o.timeout = std::chrono::seconds(s.integer("timeout", 0, 7 * 86400).value_or(0));
        o.task = s.str_or("task", "");
        o.service = s.str_or("service", "");
        o.family = s.str_or("family", "");
        o.cluster = s.str_or("cluster", "");
        o.container = s.str_or("container", "");
        o.region = s.str_or("region", "");
        o.endpoint = s.str_or("endpoint", "");
        // Exactly one way to name the task: the second one given is the error's position.
        const char* given = nullptr;
        for (const char* key : {"service", "family", "task"}) {
            if (!s.str_or(key, "").empty()) {
                if (given != nullptr) {
                    error_at(s.node(key), what + " sets both '" + given + "' and '" + key +
                                              "': give one ('service' or 'family' finds the running task on each "
                                              "run; 'task' is a fixed task id, which changes on every deploy)");
                }
                given = key;
            }
        }
        if (o.argv.empty() && (given == nullptr || o.cluster.empty() || o.container.empty())) {
            error_at(node, what + " needs 'cluster', 'container' and one of 'service', 'family' or 'task', or a "
                                  "launcher 'argv'");
        }
        if (!o.endpoint.empty() && !o.endpoint.starts_with("http://") && !o.endpoint.starts_with("https://")) {
            error_at(s.node("endpoint"), "'endpoint' of " + what + " must be an http:// or https:// URL");
        }
        return o;
    }
    if (!node.IsMap()) {
        error_at(node, what + " must be a mapping, found " + type_name(node));
    }
    if (!node["type"]) {
        error_at(node, what + " needs 'type' (local, docker, podman, kubectl, ssh, command or ecs)");
    }
    error_at(node["type"],
             "unknown runner type '" + type + "' (expected local, docker, podman, kubectl, ssh, command or ecs)");
}

catalog::RetentionPolicy load_keep(const YAML::Node& node, const std::string& target)
{
    Section s(node, "keep of target '" + target + "'",
              {"last", "hourly", "daily", "weekly", "monthly", "yearly", "manual", "within"});
    catalog::RetentionPolicy k;
    auto get = [&](const char* key) -> std::optional<int> {
        auto v = s.integer(key, 0, 1000000);
        return v ? std::optional<int>(static_cast<int>(*v)) : std::nullopt;
    };
    k.last = get("last");
    k.hourly = get("hourly");
    k.daily = get("daily");
    k.weekly = get("weekly");
    k.monthly = get("monthly");
    k.yearly = get("yearly");
    // At least 1: with 0, the retention after a manual backup would delete that very backup.
    if (auto manual = s.integer("manual", 1, 1000000)) {
        k.manual = static_cast<int>(*manual);
    }
    if (auto within = s.str("within")) {
        auto span = catalog::parse_within(*within);
        if (!span) {
            error_at(s.node("within"), "'within' in keep of target '" + target + "': " + span.error().message);
        }
        k.within = std::move(*span);
    }
    return k;
}

EncryptionConfig load_encryption(const YAML::Node& node, const std::string& owner, const std::filesystem::path& base)
{
    Section s(node, "encryption of " + owner, {"recipients", "recipients_file", "passphrase"});
    EncryptionConfig e;
    e.recipients = s.list("recipients");
    for (std::size_t i = 0; i < e.recipients.size(); ++i) {
        const auto& r = e.recipients[i];
        std::string lower = r;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (lower.starts_with("age-secret-key-")) {
            // Never echo a private key into a message or a log, in whichever case it was pasted.
            error_at(s.node("recipients")[i], "this is an age secret key, not a recipient: give its public key "
                                              "(age-keygen -y KEYFILE prints it)");
        }
        if (auto valid = stream::validate_recipient(r); !valid) {
            error_at(s.node("recipients")[i], "not an age recipient (age1...): '" + r + "'");
        }
    }
    if (auto f = s.str("recipients_file")) {
        e.recipients_file = resolve_path(base, *f).string();
    }
    e.passphrase = Secret(s.str_or("passphrase", ""));
    if (!e.passphrase.empty() && (!e.recipients.empty() || !e.recipients_file.empty())) {
        error_at(s.node("passphrase"), "an age file is encrypted either to recipients or with a passphrase, not both");
    }
    if (!e.enabled()) {
        error_at(node, "encryption of " + owner + " needs 'recipients', 'recipients_file' or 'passphrase'");
    }
    return e;
}

// The url of a postgres target, read by libpq itself (PQconninfoParse): a postgres:// or postgresql:// URI or
// a key=value connection string, every libpq parameter accepted, an unknown or malformed one an error at the
// parameter (its column inside the value) that never echoes the password.
void apply_postgres_url(engine::PostgresOptions& pg, const std::string& target, const YAML::Node& at,
                        const std::string& url)
{
    const bool uri = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if (!uri && (url.find("://") != std::string::npos || url.find('=') == std::string::npos)) {
        error_at(at, "'url' of target '" + target +
                         "' must look like postgres://user@host:port/dbname or 'host=... dbname=...' (libpq's forms)");
    }
    auto parsed = engine::pg::parse_conninfo(url);
    if (!parsed) {
        Mark m = mark_of(at);
        if (parsed.error().offset != std::string::npos && at.Scalar() == url) {
            m.column += static_cast<int>(parsed.error().offset) + (at.Tag() == "!" ? 1 : 0);
        }
        throw LoadError{m, "'url' of target '" + target + "': " + parsed.error().message +
                               " (a libpq connection string: postgresql://user@host:port/dbname?param=value or "
                               "'host=... dbname=...'; parameters as in libpq's documentation)"};
    }
    auto& kw = parsed->keywords;
    auto take = [&](const char* key) {
        std::string v;
        if (auto it = kw.find(key); it != kw.end()) {
            v = std::move(it->second);
            kw.erase(it);
        }
        return v;
    };
    pg.host = take("host");
    pg.user = take("user");
    pg.dbname = take("dbname");
    pg.passfile = take("passfile");
    pg.sslmode = take("sslmode");
    if (auto port = take("port"); !port.empty()) {
        char* end = nullptr;
        long n = std::strtol(port.c_str(), &end, 10);
        if (*end == '\0' && n >= 1 && n <= 65535) {
            pg.port = static_cast<int>(n);
        } else if (port.find(',') == std::string::npos) {
            error_at(at, "the port in 'url' of target '" + target + "' must be a number 1-65535, found '" + port + "'");
        } else {
            pg.parameters["port"] = port; // a multi-host list (5432,5433): libpq reads it as written
        }
    }
    if (!parsed->password.empty()) {
        pg.password = Secret(std::move(parsed->password));
    }
    for (auto& [k, v] : kw) {
        pg.parameters[k] = std::move(v);
    }
}

void apply_redis_url(engine::RedisOptions& r, const std::string& target, const YAML::Node& at, const std::string& url)
{
    auto u = parse_url(url);
    if (!u || (u->scheme != "redis" && u->scheme != "rediss")) {
        error_at(at, "'url' of target '" + target + "' must look like redis://[user:password@]host:port[/db]");
    }
    if (!u->host.empty()) {
        r.host = u->host;
    }
    if (u->port) {
        r.port = u->port;
    }
    r.username = u->user;
    if (!u->password.empty()) {
        r.password = Secret(u->password);
    }
    r.tls = u->scheme == "rediss";
    if (!u->path.empty()) {
        char* end = nullptr;
        long db = std::strtol(u->path.c_str(), &end, 10);
        if (*end != '\0' || db < 0 || db > 15) {
            error_at(at, "the database in 'url' of target '" + target + "' must be a number 0-15");
        }
        r.db = static_cast<int>(db);
    }
}

// `password` or `password_file` (a file holding it: a Docker or Kubernetes secret, read once at load) of a
// section; nothing when it names neither.
std::optional<Secret> read_password(const Section& s, const std::filesystem::path& base)
{
    if (auto file = s.str("password_file")) {
        if (s.has("password")) {
            error_at(s.node("password_file"), "give 'password' or 'password_file', not both");
        }
        const std::filesystem::path path = resolve_path(base, *file);
        auto value = read_secret_file(path);
        if (!value) {
            error_at(s.node("password_file"),
                     "cannot read the password file '" + path.string() + "': make it readable by dbkeep's user");
        }
        return Secret(std::move(*value));
    }
    if (auto pw = s.str("password")) {
        return Secret(*pw);
    }
    return std::nullopt;
}

// host, port and password, written beside (and overriding) the url, for an engine whose options name them so.
template <class EngineOptions>
void read_endpoint(const Section& s, EngineOptions& options, const std::filesystem::path& base)
{
    options.host = s.str_or("host", options.host);
    options.port = static_cast<int>(s.integer("port", 1, 65535).value_or(options.port));
    if (auto pw = read_password(s, base)) {
        options.password = std::move(*pw);
    }
}

schedule::CronSchedule load_schedule(const YAML::Node& node, const std::string& text, const std::string& what)
{
    auto parsed = schedule::parse_cron(text);
    if (!parsed) {
        // Point at the offending part: the value's column plus the offset inside the expression (plus the
        // opening quote of a quoted value).
        Mark m = mark_of(node);
        m.column += parsed.error().column + (node.Tag() == "!" ? 1 : 0);
        throw LoadError{m, what + ": " + parsed.error().message};
    }
    return std::move(*parsed);
}

VerifyConfig load_verify(const YAML::Node& node, const std::string& target, const std::filesystem::path& base)
{
    const std::string what = "verify of target '" + target + "'";
    Section s(node, what,
              {"schedule", "backups", "restore_to", "password", "password_file", "identity_file", "no_owner", "no_acl",
               "role"});
    VerifyConfig v;
    auto sched = s.str("schedule");
    if (!sched) {
        error_at(node, what + " needs 'schedule' (a cron expression, e.g. \"0 6 * * 0\" for Sundays at 06:00)");
    }
    v.schedule = load_schedule(s.node("schedule"), *sched, "schedule of " + what);
    const std::string backups = s.str_or("backups", "latest");
    if (backups != "latest" && backups != "all") {
        error_at(s.node("backups"), "'backups' in " + what + " must be latest or all, found '" + backups + "'");
    }
    v.all_backups = backups == "all";
    v.restore_to = s.str_or("restore_to", "");
    if (!v.restore_to.empty()) {
        if (auto url = parse_url(v.restore_to); url && !url->password.empty()) {
            v.restore_password = Secret(url->password); // redacted from logs like every other secret
        }
    }
    if (auto pw = read_password(s, base)) {
        v.restore_password = std::move(*pw);
    }
    if ((s.has("password") || s.has("password_file")) && v.restore_to.empty()) {
        error_at(node, what + ": a password without 'restore_to' (the scratch database it is for)");
    }
    if (auto id = s.str("identity_file")) {
        v.identity_file = resolve_path(base, *id).string();
    }
    v.no_owner = s.boolean("no_owner").value_or(false);
    v.no_acl = s.boolean("no_acl").value_or(false);
    v.role = s.str_or("role", "");
    return v;
}

// A mysql target: mysql://[user[:password]@]host[:port][/database][?socket=PATH], then the keys beside it.
engine::MysqlOptions load_mysql(const Section& s, const std::string& name, const std::filesystem::path& base)
{
    engine::MysqlOptions m;
    if (auto url = s.str("url")) {
        auto u = parse_url(*url);
        if (!u || (u->scheme != "mysql" && u->scheme != "mariadb") ||
            (!u->query.empty() && !u->query.contains("socket"))) {
            error_at(s.node("url"), "'url' of target '" + name +
                                        "' must look like mysql://user@host:3306/database (or ?socket=/path)");
        }
        m.host = u->host;
        m.port = u->port;
        m.user = u->user;
        m.database = u->path;
        if (!u->password.empty()) {
            m.password = Secret(u->password);
        }
        if (auto it = u->query.find("socket"); it != u->query.end()) {
            m.socket = it->second;
        }
    }
    read_endpoint(s, m, base);
    m.user = s.str_or("user", m.user);
    m.database = s.str_or("database", m.database);
    m.socket = s.str_or("socket", m.socket);
    if (s.has("databases")) {
        if (!m.database.empty()) {
            error_at(s.node("databases"), "target '" + name +
                                              "' names its database in the url (or 'database'): give either that "
                                              "or 'databases', not both");
        }
        const YAML::Node d = s.node("databases");
        if (d.IsScalar() && d.Scalar() == "all") {
            m.all_databases = true;
        } else if (d.IsSequence()) {
            m.databases = s.list("databases");
            if (m.databases.empty()) {
                error_at(d, "'databases' of target '" + name + "' is empty");
            }
            for (const auto& db : m.databases) {
                if (db.find(',') != std::string::npos || db.empty()) {
                    error_at(d, "'databases' of target '" + name + "' holds an empty name or one with a comma");
                }
            }
        } else {
            error_at(d, "'databases' of target '" + name + "' must be all or a list of names");
        }
    }
    if (m.database.empty() && m.databases.empty() && !m.all_databases) {
        error_at(s.self(), "target '" + name +
                               "' needs a database: in the url (mysql://user@host:3306/db), or databases: all, or "
                               "databases: [db1, db2]");
    }
    m.dump_path = s.str_or("dump_path", "");
    m.client_path = s.str_or("client_path", "");
    m.lock_wait_timeout =
        std::chrono::seconds(s.integer("lock_wait_timeout", 1, 86400).value_or(m.lock_wait_timeout.count()));
    return m;
}

TargetConfig load_target(const std::string& name, const YAML::Node& node, const std::filesystem::path& base)
{
    if (!node.IsMap()) {
        error_at(node, "target '" + name + "' must be a mapping, found " + type_name(node));
    }
    std::string engine = node["engine"] && node["engine"].IsScalar() ? node["engine"].Scalar() : "";
    std::set<std::string> common{"engine", "url",        "storage",       "schedule",    "timezone",
                                 "keep",   "encryption", "runner",        "compression", "host",
                                 "port",   "password",   "password_file", "notify",      "verify"};
    std::set<std::string> allowed = common;
    if (engine == "postgres" || engine == "postgresql") {
        allowed.insert({"user", "dbname", "database", "passfile", "sslmode", "pg_dump_path", "pg_restore_path",
                        "lock_wait_timeout", "jobs", "split_tables_larger_than", "databases", "exclude_tables",
                        "exclude_schemas", "exclude_table_data"});
    } else if (engine == "redis") {
        allowed.insert({"username", "db", "mode", "tls"});
    } else if (engine == "sqlite") {
        for (const char* key : {"url", "host", "port", "password", "password_file"}) {
            allowed.erase(key); // a file, not a server
        }
        allowed.insert({"path", "temp_dir"});
    } else if (engine == "mysql" || engine == "mariadb") {
        allowed.insert({"user", "database", "databases", "socket", "dump_path", "client_path", "lock_wait_timeout"});
    } else if (!node["engine"]) {
        error_at(node, "target '" + name + "' needs 'engine' (postgres, redis, mysql or sqlite)");
    } else {
        error_at(node["engine"], "unknown engine '" + engine + "' (expected postgres, redis, mysql or sqlite)");
    }
    if (!allowed.contains("exclude_tables")) {
        for (const char* key : {"exclude_tables", "exclude_schemas", "exclude_table_data"}) {
            for (const auto& kv : node) {
                if (kv.first.IsScalar() && kv.first.Scalar() == key) {
                    error_at(kv.first, std::string("'") + key + "' of target '" + name +
                                           "' is for postgres targets only (pg_dump's patterns)");
                }
            }
        }
    }
    std::string what = "target '" + name + "'";
    Section s(node, what, allowed);
    TargetConfig t;
    t.name = name;
    t.mark = mark_of(node);
    if (auto url = s.str("url")) {
        t.url = redact_url(*url);
    }
    const bool pg_engine = engine == "postgres" || engine == "postgresql";
    if (pg_engine && (t.url.find("password") != std::string::npos || t.url.find("://") == std::string::npos)) {
        t.url.clear(); // a password in a query or a key=value string: shown as rebuilt from its parts below
    }
    if (engine == "postgres" || engine == "postgresql") {
        engine::PostgresOptions pg;
        if (auto url = s.str("url")) {
            apply_postgres_url(pg, name, s.node("url"), *url);
        }
        read_endpoint(s, pg, base);
        if (s.has("port")) {
            pg.parameters.erase("port");
        }
        pg.user = s.str_or("user", pg.user);
        pg.dbname = s.str_or("dbname", s.str_or("database", pg.dbname));
        if (auto pf = s.str("passfile")) {
            pg.passfile = resolve_path(base, *pf).string();
        }
        pg.sslmode = s.str_or("sslmode", pg.sslmode);
        static const std::set<std::string> k_sslmodes{"",        "disable",   "allow",      "prefer",
                                                      "require", "verify-ca", "verify-full"};
        if (!k_sslmodes.contains(pg.sslmode)) {
            error_at(s.has("sslmode") ? s.node("sslmode") : s.node("url"),
                     "sslmode of target '" + name + "' must be disable, allow, prefer, require, verify-ca or " +
                         "verify-full, found '" + pg.sslmode + "'");
        }
        pg.pg_dump_path = s.str_or("pg_dump_path", "");
        pg.pg_restore_path = s.str_or("pg_restore_path", "");
        pg.lock_wait_timeout =
            std::chrono::seconds(s.integer("lock_wait_timeout", 1, 86400).value_or(pg.lock_wait_timeout.count()));
        pg.jobs = static_cast<int>(s.integer("jobs", 1, 64).value_or(1));
        if (auto split = s.str("split_tables_larger_than")) {
            auto n = parse_size(*split);
            if (!n || *n == 0) {
                error_at(s.node("split_tables_larger_than"), "'split_tables_larger_than' of target '" + name +
                                                                 "' must be a size such as 256MiB or 2GiB, "
                                                                 "found '" +
                                                                 *split + "'");
            }
            pg.split_tables_larger_than = *n;
        }
        if (s.has("databases")) {
            if (!pg.dbname.empty()) {
                error_at(s.node("databases"), "target '" + name +
                                                  "' names its database in the url (or 'dbname'): give either that "
                                                  "or 'databases', not both");
            }
            const YAML::Node d = s.node("databases");
            if (d.IsScalar() && d.Scalar() == "all") {
                pg.all_databases = true;
            } else if (d.IsSequence()) {
                pg.databases = s.list("databases");
                if (pg.databases.empty()) {
                    error_at(d, "'databases' of target '" + name + "' is empty");
                }
                std::set<std::string> seen;
                for (const auto& db : pg.databases) {
                    if (db.empty() || !seen.insert(db).second) {
                        error_at(d, "'databases' of target '" + name + "' holds an empty or a repeated name");
                    }
                }
            } else {
                error_at(d, "'databases' of target '" + name + "' must be all or a list of names");
            }
        }
        for (auto [key, into] :
             {std::pair{"exclude_tables", &pg.exclude_tables}, std::pair{"exclude_schemas", &pg.exclude_schemas},
              std::pair{"exclude_table_data", &pg.exclude_table_data}}) {
            if (!s.has(key)) {
                continue;
            }
            const YAML::Node list = s.node(key);
            if (!list.IsSequence()) {
                error_at(list, std::string("'") + key + "' of target '" + name +
                                   "' must be a list of pg_dump patterns ([audit.*, public.big_log]), found " +
                                   type_name(list));
            }
            *into = s.list(key);
            for (std::size_t i = 0; i < into->size(); ++i) {
                if ((*into)[i].empty()) {
                    error_at(list[i], std::string("'") + key + "' of target '" + name + "' holds an empty pattern");
                }
            }
        }
        if (t.url.empty()) {
            t.url = "postgres://" + (pg.user.empty() ? "" : pg.user + "@") + (pg.host.empty() ? "" : pg.host) +
                    (pg.port ? ":" + std::to_string(pg.port) : "") + "/" + pg.dbname;
        }
        t.engine = std::move(pg);
    } else if (engine == "sqlite") {
        engine::SqliteOptions lite;
        lite.path = s.require("path");
        // The path is where the runner runs (maybe a container): never resolved against this file's folder.
        if (lite.path.empty() || lite.path.front() != '/') {
            error_at(s.node("path"), "'path' of target '" + name +
                                         "' must be the absolute path of the database file (/data/app.db), on the "
                                         "machine where its runner runs");
        }
        if (auto dir = s.str("temp_dir")) {
            lite.temp_dir = resolve_path(base, *dir);
        }
        t.url = lite.path;
        t.engine = std::move(lite);
    } else if (engine == "mysql" || engine == "mariadb") {
        t.engine = load_mysql(s, name, base);
        if (t.url.empty() || t.url.find("password") != std::string::npos) {
            const auto& m = std::get<engine::MysqlOptions>(t.engine);
            t.url = "mysql://" + (m.user.empty() ? "" : m.user + "@") + m.host +
                    (m.port ? ":" + std::to_string(m.port) : "") + "/" + m.database;
        }
    } else {
        engine::RedisOptions r;
        if (auto url = s.str("url")) {
            apply_redis_url(r, name, s.node("url"), *url);
        }
        read_endpoint(s, r, base);
        r.username = s.str_or("username", r.username);
        r.db = static_cast<int>(s.integer("db", 0, 15).value_or(r.db));
        r.tls = s.boolean("tls").value_or(r.tls);
        if (auto mode = s.str("mode")) {
            auto parsed = engine::parse_redis_dump_mode(*mode);
            if (!parsed) {
                error_at(s.node("mode"), "'mode' of target '" + name + "' must be replication or bgsave");
            }
            r.mode = *parsed;
        }
        if (t.url.empty()) {
            t.url = "redis://" + r.host + ":" + std::to_string(r.port);
        }
        t.engine = std::move(r);
    }
    t.storage = s.str_or("storage", "");
    if (auto sched = s.str("schedule")) {
        t.schedule = load_schedule(s.node("schedule"), *sched, "schedule of target '" + name + "'");
    }
    t.timezone = s.str_or("timezone", "UTC");
    t.zone = schedule::find_zone(t.timezone);
    if (t.zone == nullptr) {
        error_at(s.node("timezone"),
                 "unknown time zone '" + t.timezone + "' (an IANA name such as Europe/Berlin or UTC)");
    }
    if (s.has("keep")) {
        t.keep = load_keep(s.node("keep"), name);
        // Without a schedule every backup comes from `dbkeep backup` (an outside cron): retention counts them
        // all as scheduled (job::run_prune), so a manual rule would never apply.
        if (t.keep.manual && !t.schedule) {
            error_at(s.node("keep")["manual"],
                     "'manual' in keep of target '" + name +
                         "' needs a schedule: without one every backup is kept by the periodic rules and `last` "
                         "(use last: N, or add schedule:)");
        }
    }
    if (s.has("encryption")) {
        t.encryption = load_encryption(s.node("encryption"), "target '" + name + "'", base);
    }
    if (s.has("runner")) {
        t.runner = load_runner(s.node("runner"), name);
    }
    if (s.has("compression")) {
        Section c(s.node("compression"), "compression of target '" + name + "'", {"level", "workers"});
        t.compression_level = static_cast<int>(c.integer("level", 1, 19).value_or(3));
        t.compression_workers = static_cast<int>(c.integer("workers", 0, 64).value_or(2));
    }
    if (s.has("verify")) {
        t.verify = load_verify(s.node("verify"), name, base);
    }
    return t;
}

// An `sns` channel: the topic's region from its ARN, the endpoint (default https://sns.REGION.amazonaws.com/)
// and a signer over the AWS credential chain that S3 uses (environment, profile, ECS task role, web identity,
// instance metadata).
observe::SnsChannel load_sns(Section& s, const std::string& number)
{
    const std::string arn = s.require("topic_arn");
    // arn:PARTITION:sns:REGION:ACCOUNT:NAME
    std::vector<std::string> parts;
    for (std::size_t pos = 0;;) {
        auto colon = arn.find(':', pos);
        parts.push_back(arn.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
        if (colon == std::string::npos) {
            break;
        }
        pos = colon + 1;
    }
    if (parts.size() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[3].empty() || parts[5].empty()) {
        error_at(s.node("topic_arn"),
                 "'topic_arn' of sns channel " + number + " must look like arn:aws:sns:REGION:ACCOUNT:TOPIC");
    }
    const std::string region = parts[3];
    std::string endpoint = s.str_or("endpoint", "https://sns." + region + ".amazonaws.com/");
    auto parsed = parse_url(endpoint);
    if (!parsed || (parsed->scheme != "http" && parsed->scheme != "https") || parsed->host.empty()) {
        error_at(s.node("endpoint"), "'endpoint' of sns channel " + number + " must be an http:// or https:// URL");
    }
    const std::string host = parsed->host + (parsed->port != 0 ? ":" + std::to_string(parsed->port) : "");
    const std::string path = "/" + parsed->path;
    storage::S3Options o;
    o.region = region;
    o.profile = s.str_or("profile", "");
    auto credentials = std::make_shared<storage::CredentialProvider>(o);
    observe::SnsChannel sns;
    sns.topic_arn = arn;
    sns.url = endpoint;
    sns.sign = [credentials, region, host, path](http::Request& request) -> Status {
        auto cred = credentials->get();
        if (!cred) {
            return std::unexpected(cred.error());
        }
        storage::sigv4::Request req;
        req.method = request.method;
        req.path = path;
        req.headers = request.headers;
        req.headers.emplace_back("Host", host);
        req.payload_sha256 = storage::sigv4::sha256_hex(request.body);
        auto signature = storage::sigv4::sign(req, *cred,
                                              {.region = region,
                                               .service = "sns",
                                               .time = std::chrono::system_clock::now(),
                                               .add_content_sha256_header = false});
        request.headers.insert(request.headers.end(), signature.added_headers.begin(), signature.added_headers.end());
        request.headers.emplace_back("Authorization", signature.authorization);
        return {};
    };
    return sns;
}

// `notify:`: a list of channels, each {type: webhook|slack|healthchecks, url, events, name, secret (webhook)}.
std::vector<observe::Channel> load_notify(const YAML::Node& node, const std::string& owner,
                                          const std::filesystem::path& base)
{
    std::vector<observe::Channel> channels;
    if (node.IsNull()) {
        return channels;
    }
    if (!node.IsSequence()) {
        error_at(node, "'notify' of " + owner + " must be a list of channels, found " + type_name(node));
    }
    for (const auto& item : node) {
        const std::string number = "#" + std::to_string(channels.size() + 1);
        if (!item.IsMap()) {
            error_at(item, "notification channel " + number + " of " + owner + " must be a mapping, found " +
                               type_name(item));
        }
        const std::string type = item["type"] && item["type"].IsScalar() ? item["type"].Scalar() : "";
        std::set<std::string> allowed{"type", "url", "events", "name", "timeout"};
        std::set<observe::Event> events;
        if (type == "webhook") {
            allowed.insert("secret");
            events = {observe::Event::failure, observe::Event::missed, observe::Event::verify_failure};
        } else if (type == "slack") {
            events = {observe::Event::failure, observe::Event::missed, observe::Event::verify_failure};
        } else if (type == "healthchecks") {
            events = {observe::Event::start, observe::Event::success, observe::Event::failure, observe::Event::missed};
        } else if (type == "email") {
            allowed.insert({"from", "to", "username", "password", "tls", "ca_file"});
            events = {observe::Event::failure, observe::Event::missed, observe::Event::verify_failure};
        } else if (type == "sns") {
            allowed.erase("url");
            allowed.insert({"topic_arn", "endpoint", "profile"});
            events = {observe::Event::failure, observe::Event::missed, observe::Event::verify_failure};
        } else if (!item["type"]) {
            error_at(item, "notification channel " + number + " of " + owner +
                               " needs 'type' (webhook, slack, healthchecks, email or sns)");
        } else {
            error_at(item["type"], "unknown notification channel type '" + type +
                                       "' (expected webhook, slack, healthchecks, email or sns)");
        }
        Section s(item, "notification channel " + number + " of " + owner, allowed);
        observe::Channel channel;
        channel.name = s.str_or("name", type + " " + number);
        const std::string url = type == "sns" ? std::string() : s.require("url");
        auto parsed = parse_url(url);
        if (type == "sns") {
            // topic_arn and endpoint are checked below
        } else if (type == "email") {
            if (!parsed || (parsed->scheme != "smtp" && parsed->scheme != "smtps") || parsed->host.empty()) {
                error_at(s.node("url"), "'url' of email channel " + number +
                                            " must be smtp://HOST[:PORT] (STARTTLS) or smtps://HOST[:PORT] (TLS)");
            }
        } else if (!parsed || (parsed->scheme != "http" && parsed->scheme != "https") || parsed->host.empty()) {
            // Never echo the URL: a webhook URL is a secret (Slack's holds its token in the path).
            error_at(s.node("url"), "'url' of " + type + " channel " + number + " must be an http:// or https:// URL");
        }
        if (s.has("events")) {
            events.clear();
            const YAML::Node list = s.node("events");
            for (const auto& name : s.list("events")) {
                auto event = observe::parse_event(name);
                if (!event) {
                    error_at(list, "unknown event '" + name +
                                       "' (expected start, success, failure, missed or verify_failure)");
                }
                events.insert(*event);
            }
        }
        channel.events = std::move(events);
        channel.timeout = std::chrono::seconds(s.integer("timeout", 1, 300).value_or(10));
        if (type == "webhook") {
            const YAML::Node secret = s.node("secret");
            if (secret && secret.IsScalar() && !secret.Scalar().empty() &&
                secret.Scalar().find("${") == std::string::npos) {
                error_at(secret, "write 'secret' as ${ENV_VAR}: secrets do not belong in the configuration file");
            }
            channel.options =
                observe::WebhookChannel{.url = Secret(url), .hmac_secret = Secret(s.str_or("secret", ""))};
        } else if (type == "slack") {
            channel.options = observe::SlackChannel{.url = Secret(url)};
        } else if (type == "email") {
            observe::EmailChannel email{.url = Secret(url)};
            email.from = s.require("from");
            const YAML::Node to = s.node("to");
            email.to = to && to.IsScalar() ? std::vector<std::string>{s.require("to")} : s.list("to");
            if (email.to.empty()) {
                error_at(to ? to : item, "email channel " + number + " needs 'to': an address or a list of them");
            }
            for (const auto& address : email.to) {
                if (address.find('@') == std::string::npos || address.find_first_of("<>\r\n, ") != std::string::npos) {
                    error_at(to, "'to' of email channel " + number + ": '" + address + "' is not an address");
                }
            }
            if (email.from.find('@') == std::string::npos || email.from.find_first_of("<>\r\n ") != std::string::npos) {
                error_at(s.node("from"), "'from' of email channel " + number + " is not an address");
            }
            email.username = s.str_or("username", "");
            const YAML::Node password = s.node("password");
            if (password && password.IsScalar() && !password.Scalar().empty() &&
                password.Scalar().find("${") == std::string::npos) {
                error_at(password, "write 'password' as ${ENV_VAR}: secrets do not belong in the configuration file");
            }
            email.password = Secret(s.str_or("password", ""));
            const std::string tls = s.str_or("tls", parsed->scheme == "smtps" ? "implicit" : "starttls");
            if (parsed->scheme == "smtp" && tls != "starttls" && tls != "none") {
                error_at(s.node("tls"), "'tls' of an smtp:// channel must be starttls (the default) or none");
            }
            if (parsed->scheme == "smtps" && tls != "implicit") {
                error_at(s.node("tls"), "an smtps:// channel always uses implicit TLS: remove 'tls'");
            }
            email.require_tls = tls != "none";
            if (auto ca = s.str("ca_file")) {
                email.ca_file = resolve_path(base, *ca).string();
            }
            channel.options = std::move(email);
        } else if (type == "sns") {
            channel.options = load_sns(s, number);
        } else {
            std::string base_url = url;
            while (!base_url.empty() && base_url.back() == '/') {
                base_url.pop_back();
            }
            channel.options = observe::HealthchecksChannel{.url = Secret(base_url)};
        }
        channels.push_back(std::move(channel));
    }
    return channels;
}

Config load_root(const YAML::Node& root, const std::filesystem::path& base)
{
    Config cfg;
    if (root.IsNull()) {
        error_at(root, "the file is empty: it needs a 'targets:' mapping");
    }
    Section s(root, "the configuration", {"storages", "targets", "daemon", "lease_ttl", "notify", "metrics"});
    cfg.lease_ttl_seconds = static_cast<int>(s.integer("lease_ttl", 5, 86400).value_or(600));
    if (s.has("notify")) {
        cfg.notify = load_notify(s.node("notify"), "the configuration", base);
    }
    if (s.has("storages") && !s.node("storages").IsNull()) {
        const YAML::Node storages = s.node("storages");
        if (!storages.IsMap()) {
            error_at(storages, "'storages' must be a mapping of names to storages, found " + type_name(storages));
        }
        for (const auto& kv : storages) {
            auto name = kv.first.as<std::string>();
            if (cfg.storages.contains(name)) {
                error_at(kv.first, "duplicate storage '" + name + "'");
            }
            if (kv.second.IsNull()) {
                // A null value's mark is where the parser noticed it (the next key): point at the name.
                error_at(kv.first, "storage '" + name + "' is empty: it needs at least 'type'");
            }
            cfg.storages[name] = load_storage(name, kv.second, base);
        }
    }
    if (!s.has("targets") || s.node("targets").IsNull()) {
        error_at(root, "the configuration needs a 'targets:' mapping");
    }
    const YAML::Node targets = s.node("targets");
    if (!targets.IsMap()) {
        error_at(targets, "'targets' must be a mapping of names to targets, found " + type_name(targets));
    }
    for (const auto& kv : targets) {
        auto name = kv.first.as<std::string>();
        if (!catalog::valid_target_name(name)) {
            error_at(kv.first, "target name '" + name + "' may only use letters, digits, '-', '_' and '.'");
        }
        if (cfg.targets.contains(name)) {
            error_at(kv.first, "duplicate target '" + name + "'");
        }
        if (kv.second.IsNull()) {
            error_at(kv.first, "target '" + name + "' is empty: it needs at least 'engine'");
        }
        cfg.targets[name] = load_target(name, kv.second, base);
        const YAML::Node own = kv.second["notify"];
        cfg.targets[name].notify = own ? load_notify(own, "target '" + name + "'", base) : cfg.notify;
    }
    // Storage references: explicit name, else the only storage or the one named "default", else ./backups.
    if (cfg.storages.empty()) {
        StorageConfig def;
        def.name = "default";
        def.options = storage::LocalOptions{.root = (base / "backups").lexically_normal()};
        cfg.storages["default"] = def;
    }
    for (auto& [name, t] : cfg.targets) {
        const YAML::Node tnode = targets[name];
        if (t.storage.empty()) {
            if (cfg.storages.size() == 1) {
                t.storage = cfg.storages.begin()->first;
            } else if (cfg.storages.contains("default")) {
                t.storage = "default";
            } else {
                error_at(tnode, "target '" + name +
                                    "' needs 'storage': there are several storages and none is named 'default'");
            }
        } else if (!cfg.storages.contains(t.storage)) {
            std::string names;
            for (const auto& [sn, sc] : cfg.storages) {
                names += (names.empty() ? "" : ", ") + sn;
            }
            error_at(tnode["storage"], "target '" + name + "' names storage '" + t.storage +
                                           "', which is not defined (defined: " + names + ")");
        }
    }
    // A target without encryption: inherits its storage's.
    for (auto& [name, t] : cfg.targets) {
        if (!t.encryption.enabled()) {
            t.encryption = cfg.storages.at(t.storage).encryption;
        }
    }
    if (s.has("daemon")) {
        Section d(s.node("daemon"), "daemon", {"max_concurrent", "jitter", "shutdown_grace", "listen"});
        cfg.daemon.max_concurrent = static_cast<int>(d.integer("max_concurrent", 1, 64).value_or(1));
        cfg.daemon.jitter_seconds = static_cast<int>(d.integer("jitter", 0, 3600).value_or(30));
        cfg.daemon.shutdown_grace_seconds = static_cast<int>(d.integer("shutdown_grace", 0, 86400).value_or(20));
        cfg.daemon.listen = d.str_or("listen", "");
    }
    if (s.has("metrics")) {
        Section m(s.node("metrics"), "metrics", {"textfile", "pushgateway", "job"});
        if (auto file = m.str("textfile")) {
            cfg.metrics.textfile = resolve_path(base, *file).string();
            if (!cfg.metrics.textfile.ends_with(".prom")) {
                error_at(m.node("textfile"), "'textfile' must end in .prom (node_exporter's textfile collector "
                                             "reads only *.prom files)");
            }
        }
        if (auto url = m.str("pushgateway")) {
            auto parsed = parse_url(*url);
            if (!parsed || (parsed->scheme != "http" && parsed->scheme != "https") || parsed->host.empty()) {
                error_at(m.node("pushgateway"), "'pushgateway' must be an http:// or https:// URL, e.g. "
                                                "http://pushgateway:9091");
            }
            cfg.metrics.pushgateway = *url;
        }
        cfg.metrics.job = m.str_or("job", "dbkeep");
        if (cfg.metrics.job.empty()) {
            error_at(m.node("job"), "'job' must not be empty");
        }
    }
    return cfg;
}

} // namespace

namespace {

bool is_name_start(char c)
{
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}

// The value of NAME, or of the file NAME_FILE names when NAME is unset or empty (the Docker-secrets and 12-factor
// convention), without its trailing line break. nullopt when neither is set.
Result<std::optional<std::string>> variable_value(const std::string& name)
{
    if (const char* value = std::getenv(name.c_str()); value && *value) {
        return std::optional<std::string>(value);
    }
    const std::string file_var = name + "_FILE";
    const char* file = std::getenv(file_var.c_str());
    if (!file || !*file) {
        return std::optional<std::string>();
    }
    auto value = read_secret_file(file);
    if (!value) {
        return fail(ErrorKind::config, "interpolate", "",
                    name + " is unset and " + file_var + " names '" + file + "', which cannot be read",
                    "point " + file_var + " at an existing file readable by dbkeep's user, or set " + name);
    }
    return value;
}

} // namespace

Result<std::string> interpolate(const std::string& text)
{
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c != '$') {
            out.push_back(c);
            continue;
        }
        if (i + 1 < text.size() && text[i + 1] == '$') {
            out.push_back('$');
            ++i;
            continue;
        }
        if (i + 1 < text.size() && is_name_start(text[i + 1])) {
            // `$NAME` would silently become a literal password: the shell form without braces is refused.
            std::size_t end = i + 1;
            while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) {
                ++end;
            }
            const std::string bare = text.substr(i + 1, end - i - 1);
            return fail(ErrorKind::config, "interpolate", "",
                        "'$" + bare + "' is not expanded: write ${" + bare + "} for the environment variable, or $$" +
                            bare + " for a literal '$" + bare + "'");
        }
        if (i + 1 >= text.size() || text[i + 1] != '{') {
            out.push_back(c);
            continue;
        }
        auto close = text.find('}', i + 2);
        if (close == std::string::npos) {
            return fail(ErrorKind::config, "interpolate", "", "unterminated '${' (write $$ for a literal '$')");
        }
        std::string inner = text.substr(i + 2, close - i - 2);
        std::string name = inner, fallback, required_message;
        bool has_default = false, has_required = false;
        if (auto d = inner.find(":-"); d != std::string::npos) {
            name = inner.substr(0, d);
            fallback = inner.substr(d + 2);
            has_default = true;
        } else if (auto q = inner.find(":?"); q != std::string::npos) {
            name = inner.substr(0, q);
            required_message = inner.substr(q + 2);
            has_required = true;
        }
        if (name.empty()) {
            return fail(ErrorKind::config, "interpolate", "", "empty variable name in '${}'");
        }
        for (char n : name) {
            if (!(std::isalnum(static_cast<unsigned char>(n)) || n == '_')) {
                return fail(ErrorKind::config, "interpolate", "", "invalid variable name '" + name + "'");
            }
        }
        auto value = variable_value(name);
        if (!value) {
            return std::unexpected(value.error());
        }
        if (*value) {
            out += **value;
        } else if (has_default) {
            out += fallback;
        } else if (has_required) {
            // As the shell's ${NAME:?message}: the message is the user's own.
            return fail(ErrorKind::config, "interpolate", "",
                        name + ": " + (required_message.empty() ? "parameter null or not set" : required_message));
        } else {
            return fail(ErrorKind::config, "interpolate", "",
                        "environment variable " + name + " is not set (nor " + name + "_FILE; use ${" + name +
                            ":-default} for a default)");
        }
        i = close;
    }
    return out;
}

namespace {

// An age secret key pasted anywhere in the file (not only under recipients:) is never repeated by an error that
// quotes the value: every AGE-SECRET-KEY-1... in the message (any case) is cut to its prefix.
std::string without_secret_keys(std::string msg)
{
    constexpr std::string_view k_prefix = "age-secret-key-";
    std::string lower = msg;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (auto at = lower.find(k_prefix); at != std::string::npos; at = lower.find(k_prefix, at + 1)) {
        auto end = at + k_prefix.size();
        while (end < lower.size() && std::isalnum(static_cast<unsigned char>(lower[end])) != 0) {
            ++end;
        }
        const std::string cut = msg.substr(at, k_prefix.size()) + "...(redacted)";
        msg.replace(at, end - at, cut);
        lower.replace(at, end - at, cut);
    }
    return msg;
}

} // namespace

Result<Config> load_from_string(const std::string& yaml, const std::string& name, const std::filesystem::path& base_dir)
{
    auto where = [&](Mark m, const std::string& msg) {
        return fail(ErrorKind::config, "", "",
                    name + ":" + std::to_string(m.line) + ":" + std::to_string(m.column) + ": " +
                        without_secret_keys(msg));
    };
    YAML::Node root;
    try {
        root = YAML::Load(yaml);
    } catch (const YAML::ParserException& e) {
        return where({e.mark.line + 1, e.mark.column + 1}, e.msg);
    }
    try {
        Config cfg = load_root(root, base_dir);
        cfg.path = name;
        return cfg;
    } catch (const LoadError& e) {
        Mark m = e.mark.line ? e.mark : Mark{1, 1};
        return where(m, e.message);
    } catch (const YAML::Exception& e) {
        return where({e.mark.line + 1, e.mark.column + 1}, e.msg);
    }
}

Result<Config> load(const std::filesystem::path& path)
{
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        return fail(ErrorKind::config, "read configuration", path.string(), "cannot open the file",
                    "create it or pass --config FILE");
    }
    std::stringstream ss;
    ss << f.rdbuf();
    auto base = std::filesystem::absolute(path).parent_path();
    return load_from_string(ss.str(), path.string(), base);
}

std::string to_string(const Config& config)
{
    std::ostringstream o;
    o << "storages:\n";
    for (const auto& [name, s] : config.storages) {
        o << "  " << name << ": " << s.type() << " ";
        if (const auto* local = std::get_if<storage::LocalOptions>(&s.options)) {
            o << local->root.string();
        } else if (const auto* s3 = std::get_if<storage::S3Options>(&s.options)) {
            o << "s3://" << s3->bucket << "/" << s3->prefix << " region " << s3->region;
            if (!s3->endpoint.empty()) {
                o << " endpoint " << s3->endpoint;
            }
            if (!s3->access_key_id.empty()) {
                o << " key " << s3->access_key_id << " secret " << s3->secret_access_key.to_string();
            }
        }
        o << "\n";
    }
    o << "targets:\n";
    for (const auto& [name, t] : config.targets) {
        o << "  " << name << ": " << t.engine_name() << " " << t.url << " -> " << t.storage;
        if (t.schedule) {
            o << " schedule '" << t.schedule->text << "' " << t.timezone;
        }
        if (!std::holds_alternative<runner::LocalOptions>(t.runner)) {
            o << " runner " << runner::runner_type(t.runner);
        }
        if (t.encryption.enabled()) {
            o << " encrypted";
        }
        if (t.verify) {
            o << " verify '" << t.verify->schedule.text << "'"
              << (t.verify->restore_to.empty() ? "" : " restore_to " + redact_url(t.verify->restore_to));
        }
        o << "\n";
    }
    return o.str();
}

std::vector<const Secret*> secrets_of(const Config& config)
{
    std::vector<const Secret*> out;
    for (const auto& [name, t] : config.targets) {
        std::visit(
            [&](const auto& engine) {
                if constexpr (requires { engine.password.reveal(); }) {
                    out.push_back(&engine.password);
                }
            },
            t.engine);
        out.push_back(&t.encryption.passphrase);
        if (t.verify) {
            out.push_back(&t.verify->restore_password);
        }
    }
    auto add_channels = [&](const std::vector<observe::Channel>& channels) {
        for (const auto& channel : channels) {
            std::visit(
                [&](const auto& c) {
                    if constexpr (requires { c.url.reveal(); }) {
                        out.push_back(&c.url);
                    }
                    if constexpr (requires { c.hmac_secret; }) {
                        out.push_back(&c.hmac_secret);
                    }
                    if constexpr (requires { c.password.reveal(); }) {
                        out.push_back(&c.password); // the SMTP password
                    }
                },
                channel.options);
        }
    };
    add_channels(config.notify);
    for (const auto& [name, t] : config.targets) {
        add_channels(t.notify);
    }
    for (const auto& [name, s] : config.storages) {
        if (const auto* s3 = std::get_if<storage::S3Options>(&s.options)) {
            out.push_back(&s3->secret_access_key);
            out.push_back(&s3->session_token);
        }
        out.push_back(&s.encryption.passphrase);
    }
    return out;
}

} // namespace dbkeep::config
