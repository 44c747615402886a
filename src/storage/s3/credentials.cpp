#include "storage/s3/credentials.hpp"

#include "core/child.hpp"
#include "core/http.hpp"
#include "core/percent.hpp"
#include "core/time.hpp"
#include "storage/s3/xml.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <vector>

namespace dbkeep::storage {
namespace {

// What a credential_process may see besides the base environment: the AWS profile's variables and what the
// helpers people use there read (keyrings over D-Bus, gpg and pass, ssh and Kerberos, 1Password's CLI).
std::vector<std::string> credential_process_environment()
{
    return {"AWS_*",
            "XDG_RUNTIME_DIR",
            "DBUS_SESSION_BUS_ADDRESS",
            "GNUPGHOME",
            "PASSWORD_STORE_*",
            "SSH_AUTH_SOCK",
            "KRB5CCNAME",
            "OP_*"};
}

std::string env(const char* name)
{
    const char* v = std::getenv(name);
    return v ? v : "";
}

std::string trim(std::string s)
{
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
        s.pop_back();
    }
    std::size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) {
        ++i;
    }
    return s.substr(i);
}

// Sections of an ini file: "[name]" -> key -> value.
std::map<std::string, std::map<std::string, std::string>> read_ini(const std::string& path)
{
    std::map<std::string, std::map<std::string, std::string>> out;
    std::ifstream f(path);
    std::string line, section;
    while (std::getline(f, line)) {
        line = trim(line);
        if (line.empty() || line[0] == '#' || line[0] == ';') {
            continue;
        }
        if (line.front() == '[' && line.back() == ']') {
            section = trim(line.substr(1, line.size() - 2));
            if (section.rfind("profile ", 0) == 0) {
                section = trim(section.substr(8));
            }
            continue;
        }
        auto eq = line.find('=');
        if (eq != std::string::npos) {
            out[section][trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
        }
    }
    return out;
}

Result<std::string> http_request(const std::string& method, const std::string& url, http::Headers headers)
{
    http::Request request{.method = method, .url = url, .headers = std::move(headers)};
    request.timeout = std::chrono::seconds(5);
    auto r = http::perform(request, "fetch credentials from", url);
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->status != 200) {
        // 429, 5xx and STS's own "try again" codes (sent as 400: Throttling, IDPCommunicationError) are worth
        // retrying; any other answer refuses these credentials. STS names its error in <Code>.
        const std::string code = s3::xml_value(r->body, "Code");
        const bool failing =
            r->status == 429 || r->status >= 500 || code == "Throttling" || code == "IDPCommunicationError";
        return fail(failing ? ErrorKind::transient : ErrorKind::auth, "fetch credentials from", url,
                    "HTTP " + std::to_string(r->status) + (code.empty() ? "" : " " + code));
    }
    return std::move(r->body);
}

// The hint for a failed credentials request, by what happened: `refused` when the service answered no (auth),
// `failing` when it answered 429 or 5xx, `unreached` when no answer came; none when a signal cancelled it.
std::string request_hint(const Error& e, std::string_view refused, std::string_view failing, std::string_view unreached)
{
    if (e.kind == ErrorKind::cancelled) {
        return {};
    }
    if (e.kind == ErrorKind::auth) {
        return std::string(refused);
    }
    return std::string(e.message.starts_with("HTTP ") ? failing : unreached);
}

Result<std::string> http_get(const std::string& url, const std::string& authorization)
{
    return http_request("GET", url,
                        authorization.empty() ? http::Headers{} : http::Headers{{"Authorization", authorization}});
}

// {AccessKeyId, SecretAccessKey, Token|SessionToken, Expiration} as ECS, IMDS and credential_process answer.
std::optional<sigv4::Credentials> from_json(const std::string& body, std::chrono::system_clock::time_point& expires)
{
    // Every field is checked for its type: an answer of the wrong shape is no credentials, never an exception.
    const auto j = nlohmann::json::parse(body, nullptr, false);
    auto text = [&](const char* key) -> std::optional<std::string> {
        auto it = j.find(key);
        if (it == j.end() || !it->is_string()) {
            return std::nullopt;
        }
        return it->get<std::string>();
    };
    if (j.is_discarded() || !j.is_object()) {
        return std::nullopt;
    }
    auto key_id = text("AccessKeyId");
    auto secret = text("SecretAccessKey");
    if (!key_id || !secret || key_id->empty() || secret->empty()) {
        return std::nullopt;
    }
    for (const char* optional : {"Token", "SessionToken", "Expiration"}) {
        if (j.contains(optional) && !j[optional].is_string() && !j[optional].is_null()) {
            return std::nullopt;
        }
    }
    if (auto exp = text("Expiration")) {
        if (auto t = parse_rfc3339(*exp)) {
            expires = *t;
        }
    }
    return sigv4::Credentials{*key_id, *secret, text("Token").value_or(text("SessionToken").value_or(""))};
}

} // namespace

CredentialProvider::CredentialProvider(const S3Options& config)
    : m_key_id(config.access_key_id), m_secret(config.secret_access_key.reveal()),
      m_token(config.session_token.reveal()), m_profile(config.profile)
{
}

std::string CredentialProvider::source()
{
    std::lock_guard lock(m_mutex);
    return m_source;
}

Result<sigv4::Credentials> CredentialProvider::get()
{
    std::lock_guard lock(m_mutex);
    if (m_cached && std::chrono::system_clock::now() + std::chrono::minutes(5) < m_expires) {
        return *m_cached;
    }
    auto c = resolve();
    if (!c) {
        return c;
    }
    m_cached = *c;
    return *c;
}

Result<sigv4::Credentials> CredentialProvider::resolve()
{
    std::string tried;
    m_expires = std::chrono::system_clock::time_point::max();
    if (!m_key_id.empty()) {
        m_source = "configuration";
        return sigv4::Credentials{m_key_id, m_secret, m_token};
    }
    tried += "configuration (access_key_id)";
    if (!env("AWS_ACCESS_KEY_ID").empty() && !env("AWS_SECRET_ACCESS_KEY").empty()) {
        m_source = "environment";
        return sigv4::Credentials{env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
    }
    tried += ", environment (AWS_ACCESS_KEY_ID)";
    std::string profile =
        !m_profile.empty() ? m_profile : (!env("AWS_PROFILE").empty() ? env("AWS_PROFILE") : "default");
    std::string home = env("HOME");
    std::string cred_file =
        !env("AWS_SHARED_CREDENTIALS_FILE").empty() ? env("AWS_SHARED_CREDENTIALS_FILE") : home + "/.aws/credentials";
    std::string conf_file = !env("AWS_CONFIG_FILE").empty() ? env("AWS_CONFIG_FILE") : home + "/.aws/config";
    for (const auto& file : {cred_file, conf_file}) {
        auto ini = read_ini(file);
        auto it = ini.find(profile);
        if (it != ini.end() && it->second.contains("credential_process")) {
            // As the AWS SDKs do, but bounded: the command runs through sh with the base environment, AWS_* and
            // what credential helpers (aws-vault, pass, 1Password, Kerberos) read, not another target's
            // secret, for at most 60 s, and may print at most 1 MiB.
            const std::string what = "credential_process of profile " + profile;
            auto ran = child::run({.argv = {"/bin/sh", "-c", it->second["credential_process"]},
                                   .inherit = credential_process_environment()},
                                  {.max_output = std::size_t{1} << 20, .deadline = std::chrono::seconds(60)}, what);
            if (!ran && ran.error().kind == ErrorKind::cancelled) {
                return std::unexpected(ran.error());
            }
            std::string why;
            if (!ran) {
                why = ran.error().message;
            } else if (!ran->ok()) {
                // Not its stderr: a credential helper's messages may carry a secret.
                why = ran->signal != 0 ? "was killed by signal " + std::to_string(ran->signal)
                                       : "exited with code " + std::to_string(ran->code);
            } else if (auto c = from_json(ran->out, m_expires)) {
                m_source = what;
                return *c;
            } else {
                why = "printed no credentials (a JSON object with Version 1, AccessKeyId and SecretAccessKey)";
            }
            return fail(ErrorKind::auth, "find AWS credentials", "", what + " " + why,
                        "run the profile's credential_process by hand to see what it prints");
        }
        if (it != ini.end() && it->second.contains("aws_access_key_id") &&
            it->second.contains("aws_secret_access_key")) {
            m_source = "profile " + profile + " (" + file + ")";
            auto& s = it->second;
            return sigv4::Credentials{s["aws_access_key_id"], s["aws_secret_access_key"],
                                      s.contains("aws_session_token") ? s["aws_session_token"] : ""};
        }
    }
    tried += ", profile " + profile + " (" + cred_file + ", " + conf_file + ")";
    if (!env("AWS_WEB_IDENTITY_TOKEN_FILE").empty() && !env("AWS_ROLE_ARN").empty()) {
        std::ifstream f(env("AWS_WEB_IDENTITY_TOKEN_FILE"));
        std::stringstream ss;
        ss << f.rdbuf();
        std::string token = trim(ss.str());
        std::string region = !env("AWS_REGION").empty() ? env("AWS_REGION") : "us-east-1";
        std::string sts = !env("AWS_ENDPOINT_URL_STS").empty() ? env("AWS_ENDPOINT_URL_STS")
                                                               : "https://sts." + region + ".amazonaws.com";
        std::string session = !env("AWS_ROLE_SESSION_NAME").empty() ? env("AWS_ROLE_SESSION_NAME") : "dbkeep";
        auto body =
            http_request("POST",
                         sts + "/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" +
                             percent_encode(env("AWS_ROLE_ARN")) + "&RoleSessionName=" + percent_encode(session) +
                             "&WebIdentityToken=" + percent_encode(token),
                         {});
        if (!body) {
            return fail(body.error().kind, "find AWS credentials", "",
                        "web identity (STS AssumeRoleWithWebIdentity): " + body.error().message,
                        request_hint(body.error(),
                                     "STS refused the token: check that role AWS_ROLE_ARN trusts its identity "
                                     "provider (the role's trust policy) and that AWS_WEB_IDENTITY_TOKEN_FILE holds a "
                                     "current token",
                                     "STS failed or throttled the request: try again later",
                                     "STS could not be reached: check the network to it (AWS_REGION, "
                                     "AWS_ENDPOINT_URL_STS)"));
        }
        std::string key = s3::xml_value(*body, "AccessKeyId"), secret = s3::xml_value(*body, "SecretAccessKey");
        if (key.empty() || secret.empty()) {
            return fail(ErrorKind::auth, "find AWS credentials", "", "web identity: STS answered without credentials");
        }
        if (auto t = parse_rfc3339(s3::xml_value(*body, "Expiration"))) {
            m_expires = *t;
        }
        m_source = "web identity (" + env("AWS_ROLE_ARN") + ")";
        return sigv4::Credentials{key, secret, s3::xml_value(*body, "SessionToken")};
    }
    tried += ", web identity (AWS_WEB_IDENTITY_TOKEN_FILE)";
    std::string url;
    if (!env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").empty()) {
        url = "http://169.254.170.2" + env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    } else if (!env("AWS_CONTAINER_CREDENTIALS_FULL_URI").empty()) {
        url = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    }
    if (!url.empty()) {
        std::string token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
        if (!env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").empty()) {
            std::ifstream f(env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
            std::stringstream ss;
            ss << f.rdbuf();
            token = trim(ss.str());
        }
        auto body = http_get(url, token);
        if (!body) {
            return fail(body.error().kind, "find AWS credentials", "",
                        "ECS container credentials: " + body.error().message,
                        request_hint(body.error(),
                                     "the endpoint refused: check AWS_CONTAINER_AUTHORIZATION_TOKEN (or _FILE) and "
                                     "that the task or pod has a role",
                                     "the endpoint failed or throttled the request: try again later",
                                     "the endpoint could not be reached: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / "
                                     "_FULL_URI work only inside an ECS task (or EKS pod); unset them elsewhere"));
        }
        auto c = from_json(*body, m_expires);
        if (!c) {
            return fail(ErrorKind::auth, "find AWS credentials", "", "ECS container credentials: unexpected answer");
        }
        m_source = "ECS container credentials";
        return *c;
    }
    tried += ", ECS container credentials (AWS_CONTAINER_CREDENTIALS_*_URI)";
    if (env("AWS_EC2_METADATA_DISABLED") != "true") {
        // IMDSv2: a session token first, then the role's credentials.
        std::string imds = !env("AWS_EC2_METADATA_SERVICE_ENDPOINT").empty() ? env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                                                                             : "http://169.254.169.254";
        while (!imds.empty() && imds.back() == '/') {
            imds.pop_back();
        }
        auto token =
            http_request("PUT", imds + "/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}});
        if (token) {
            http::Headers h{{"X-aws-ec2-metadata-token", *token}};
            auto role = http_request("GET", imds + "/latest/meta-data/iam/security-credentials/", h);
            if (role && !trim(*role).empty()) {
                std::string name = trim(*role);
                name = name.substr(0, name.find('\n'));
                auto body = http_request("GET", imds + "/latest/meta-data/iam/security-credentials/" + name, h);
                if (body) {
                    if (auto c = from_json(*body, m_expires)) {
                        m_source = "EC2 instance metadata (role " + name + ")";
                        return *c;
                    }
                }
            }
        }
        tried += ", EC2 instance metadata (IMDSv2)";
    }
    return fail(ErrorKind::auth, "find AWS credentials", "", "no credentials found", "tried " + tried);
}

} // namespace dbkeep::storage
