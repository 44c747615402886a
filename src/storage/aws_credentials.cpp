#include "storage/aws_credentials.hpp"

#include "catalog/naming.hpp"
#include "config/config.hpp"

#include <cstdlib>
#include <curl/curl.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

namespace dbkeep::storage {
namespace {

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

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user)
{
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

Result<std::string> http_get(const std::string& url, const std::string& authorization)
{
    CURL* c = curl_easy_init();
    std::string body;
    curl_slist* headers = nullptr;
    if (!authorization.empty()) {
        headers = curl_slist_append(headers, ("Authorization: " + authorization).c_str());
    }
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        return fail(ErrorKind::transient, "fetch credentials from", url, curl_easy_strerror(rc));
    }
    if (status != 200) {
        return fail(ErrorKind::auth, "fetch credentials from", url, "HTTP " + std::to_string(status));
    }
    return body;
}

} // namespace

CredentialProvider::CredentialProvider(const config::S3StorageConfig& config)
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
        if (it != ini.end() && it->second.contains("aws_access_key_id") &&
            it->second.contains("aws_secret_access_key")) {
            m_source = "profile " + profile + " (" + file + ")";
            auto& s = it->second;
            return sigv4::Credentials{s["aws_access_key_id"], s["aws_secret_access_key"],
                                      s.contains("aws_session_token") ? s["aws_session_token"] : ""};
        }
    }
    tried += ", profile " + profile + " (" + cred_file + ", " + conf_file + ")";
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
                        "tried " + tried + ", ECS container credentials");
        }
        auto j = nlohmann::json::parse(*body, nullptr, false);
        if (j.is_discarded() || !j.contains("AccessKeyId") || !j.contains("SecretAccessKey")) {
            return fail(ErrorKind::auth, "find AWS credentials", "", "ECS container credentials: unexpected answer");
        }
        if (j.contains("Expiration")) {
            if (auto t = catalog::parse_time(j["Expiration"].get<std::string>())) {
                m_expires = *t;
            }
        }
        m_source = "ECS container credentials";
        return sigv4::Credentials{j["AccessKeyId"], j["SecretAccessKey"], j.value("Token", "")};
    }
    tried += ", ECS container credentials (AWS_CONTAINER_CREDENTIALS_*_URI)";
    return fail(ErrorKind::auth, "find AWS credentials", "", "no credentials found",
                "tried " + tried + "; web identity and EC2 instance metadata are not supported yet");
}

} // namespace dbkeep::storage
