#include "runner/docker/api.hpp"

#include "core/percent.hpp"
#include "core/retry.hpp"

#include <nlohmann/json.hpp>

namespace dbkeep::runner::docker {
namespace {

using json = nlohmann::json;

constexpr const char* k_api = "/v1.41";
constexpr auto k_request_timeout = std::chrono::seconds(60);

} // namespace

Api::Api(std::string host) : m_host(std::move(host))
{
    if (m_host.starts_with("unix://")) {
        m_unix_socket = m_host.substr(7);
        m_base = std::string("http://docker") + k_api;
    } else if (m_host.starts_with("tcp://") || m_host.starts_with("http://")) {
        std::string hp = m_host.substr(m_host.find("://") + 3);
        if (auto slash = hp.find('/'); slash != std::string::npos) {
            hp.resize(slash);
        }
        auto colon = hp.rfind(':'), bracket = hp.rfind(']');
        bool has_port = colon != std::string::npos && (bracket == std::string::npos || colon > bracket);
        m_base = "http://" + hp + (has_port ? "" : ":2375") + k_api;
    } else {
        m_supported = false;
    }
}

http::Request Api::request(const std::string& method, const std::string& path, const std::string& body) const
{
    http::Request r;
    r.method = method;
    r.url = m_base + path;
    r.unix_socket = m_unix_socket;
    r.headers = {{"User-Agent", "dbkeep"}};
    if (!body.empty() || method == "POST") {
        r.headers.emplace_back("Content-Type", "application/json");
    }
    r.body = body;
    r.timeout = k_request_timeout;
    return r;
}

Error Api::with_hint(Error error) const
{
    if (error.kind == ErrorKind::auth && !m_unix_socket.empty()) {
        error.hint = "run dbkeep as a user in the docker group, or as root";
    } else if (error.kind == ErrorKind::transient) {
        error.hint = m_unix_socket.empty() ? "is the daemon listening there? (dockerd -H tcp://...)"
                                           : "is the Docker (or podman system service) daemon running? set the "
                                             "runner's host:";
    }
    return error;
}

Result<http::Response> Api::call(const std::string& method, const std::string& path, const std::string& body,
                                 bool ignore_cancel) const
{
    if (!m_supported) {
        return fail(ErrorKind::config, "connect to docker at", m_host, "unsupported address",
                    "use unix:///path/to/docker.sock or tcp://host:port");
    }
    auto r = request(method, path, body);
    r.ignore_cancel = ignore_cancel;
    const RetryPolicy policy{
        .attempts = 3, .first_delay = std::chrono::milliseconds(200), .ignore_cancel = ignore_cancel};
    auto response = with_retry(policy, [&] { return http::perform(r, "talk to docker at", m_host); });
    if (!response) {
        return std::unexpected(with_hint(response.error()));
    }
    return response;
}

Result<http::UpgradeResult> Api::attach(const std::string& path, const std::string& body) const
{
    if (!m_supported) {
        return fail(ErrorKind::config, "connect to docker at", m_host, "unsupported address",
                    "use unix:///path/to/docker.sock or tcp://host:port");
    }
    auto r = request("POST", path, body);
    r.headers.emplace_back("Connection", "Upgrade");
    r.headers.emplace_back("Upgrade", "tcp");
    auto result = http::upgrade(r, "talk to docker at", m_host);
    if (!result) {
        return std::unexpected(with_hint(result.error()));
    }
    return result;
}

std::string exec_conflict_hint(const std::string& message, const std::string& container)
{
    if (message.find("paused") != std::string::npos) {
        return "unpause the container (docker unpause " + container + ")";
    }
    if (message.find("restarting") != std::string::npos) {
        return "the container keeps restarting: see why (docker logs " + container + "), then retry once it runs";
    }
    if (message.find("not running") != std::string::npos) {
        return "start the container (docker start " + container + ")";
    }
    return {};
}

std::string api_message(const http::Response& r)
{
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) {
        return j["message"].get<std::string>();
    }
    std::string s = r.body.substr(0, 200);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
        s.pop_back();
    }
    return "HTTP " + std::to_string(r.status) + (s.empty() ? "" : ": " + s);
}

Result<std::string> create_exec(const Api& api, const DockerOptions& o, const Command& command, bool attach,
                                const std::string& token, bool ignore_cancel)
{
    json body;
    body["AttachStdin"] = attach && command.with_stdin;
    body["AttachStdout"] = attach;
    body["AttachStderr"] = attach;
    body["Tty"] = false;
    body["Cmd"] = command.argv;
    json env = json::array();
    for (const auto& [k, v] : command.env) {
        env.push_back(k + "=" + v);
    }
    if (!token.empty()) {
        env.push_back("DBKEEP_EXEC_TOKEN=" + token);
    }
    body["Env"] = env;
    if (!o.user.empty()) {
        body["User"] = o.user;
    }
    auto r = api.call("POST", "/containers/" + percent_encode(o.container) + "/exec", body.dump(), ignore_cancel);
    if (!r) {
        return std::unexpected(r.error());
    }
    if (r->status == 404) {
        return fail(ErrorKind::not_found, "run in docker container", o.container, api_message(*r),
                    "check the runner's container: name (docker ps -a)");
    }
    if (r->status == 409) {
        const std::string message = api_message(*r);
        return fail(ErrorKind::failed, "run in docker container", o.container, message,
                    exec_conflict_hint(message, o.container));
    }
    if (r->status != 201 && r->status != 200) {
        return fail(r->status == 401 || r->status == 403 ? ErrorKind::auth : ErrorKind::failed,
                    "run in docker container", o.container, api_message(*r));
    }
    auto j = json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("Id") || !j["Id"].is_string()) {
        return fail(ErrorKind::failed, "run in docker container", o.container, "the engine returned no exec id");
    }
    return j["Id"].get<std::string>();
}

} // namespace dbkeep::runner::docker
