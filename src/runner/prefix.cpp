#include "runner/prefix.hpp"

#include "runner/local.hpp"

#include <algorithm>

namespace dbkeep::runner {
namespace {

// Reads NAME=VALUE lines (VALUE with every byte as a \0ooo escape) until an empty line, exports them,
// then runs the command. `read` consumes stdin byte by byte, so the command gets the rest of it intact.
constexpr const char* k_wrapper =
    "while IFS= read -r l && [ -n \"$l\" ]; do n=\"${l%%=*}\"; v=\"$(printf '%b_' \"${l#*=}\")\"; "
    "export \"$n=${v%_}\"; done; exec \"$@\"";

// The process of a prefixed command: stdin carries the preamble first; in() is the caller's stdin (or none).
class PrefixProcess final : public Process {
public:
    PrefixProcess(std::unique_ptr<Process> inner, bool caller_stdin)
        : m_inner(std::move(inner)), m_caller_stdin(caller_stdin)
    {
    }
    stream::Source& out() override { return m_inner->out(); }
    stream::Sink* in() override { return m_caller_stdin ? m_inner->in() : nullptr; }
    Result<ExitStatus> wait() override { return m_inner->wait(); }
    std::string error_output() const override { return m_inner->error_output(); }
    void kill() noexcept override { m_inner->kill(); }

private:
    std::unique_ptr<Process> m_inner;
    bool m_caller_stdin;
};

class PrefixRunner final : public Runner {
public:
    PrefixRunner(std::vector<std::string> prefix, bool as_one_string, std::string description,
                 std::vector<std::string> inherit)
        : m_local(make_local_runner()), m_prefix(std::move(prefix)), m_one_string(as_one_string),
          m_description(std::move(description)), m_inherit(std::move(inherit))
    {
    }

    Result<std::unique_ptr<Process>> start(const Command& command) override
    {
        std::vector<std::string> remote{"sh", "-c", k_wrapper, "sh"};
        remote.insert(remote.end(), command.argv.begin(), command.argv.end());
        Command local;
        local.argv = m_prefix;
        if (m_one_string) {
            std::string line;
            for (const auto& w : remote) {
                line += (line.empty() ? "" : " ") + shell_quote(w);
            }
            local.argv.push_back(line);
        } else {
            local.argv.insert(local.argv.end(), remote.begin(), remote.end());
        }
        local.with_stdin = true;
        local.inherit = m_inherit;
        auto proc = m_local->start(local);
        if (!proc) {
            return std::unexpected(proc.error());
        }
        auto pre = env_preamble(command.env);
        if (auto st = (*proc)->in()->write(as_bytes(pre)); !st) {
            (*proc)->kill();
            return wrap(st.error(), "send the environment to " + m_description);
        }
        if (!command.with_stdin) {
            (void)(*proc)->in()->finish();
        }
        return std::make_unique<PrefixProcess>(std::move(*proc), command.with_stdin);
    }

    std::string describe() const override { return m_description; }

private:
    std::unique_ptr<Runner> m_local;
    std::vector<std::string> m_prefix;
    bool m_one_string;
    std::string m_description;
    std::vector<std::string> m_inherit;
};

} // namespace

std::string env_preamble(const std::map<std::string, std::string>& env)
{
    std::string out;
    for (const auto& [k, v] : env) {
        out += k + "=";
        for (unsigned char c : v) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\0%03o", c);
            out += buf;
        }
        out += "\n";
    }
    return out + "\n";
}

std::string shell_quote(const std::string& word)
{
    std::string out = "'";
    for (char c : word) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

std::unique_ptr<Runner> make_prefix_runner(std::vector<std::string> prefix, bool as_one_string, std::string description,
                                           std::vector<std::string> inherit)
{
    return std::make_unique<PrefixRunner>(std::move(prefix), as_one_string, std::move(description), std::move(inherit));
}

std::vector<std::string> ssh_environment()
{
    return {"SSH_AUTH_SOCK"};
}

std::vector<std::string> kubectl_environment()
{
    // kubectl's exec credential plug-ins (aws eks get-token, gke-gcloud-auth-plugin, kubelogin) read these.
    return {"KUBECONFIG", "AWS_*", "GOOGLE_*", "CLOUDSDK_*", "AZURE_*"};
}

std::vector<std::string> container_environment()
{
    // The engine's socket and contexts (DOCKER_HOST, CONTAINER_HOST), podman's rootless runtime folder, and ssh's
    // agent for ssh:// engine addresses.
    return {"DOCKER_*", "CONTAINER_HOST", "CONTAINERS_*", "XDG_RUNTIME_DIR", "SSH_AUTH_SOCK"};
}

std::vector<std::string> launcher_environment()
{
    auto out = kubectl_environment();
    for (auto& name : container_environment()) {
        if (std::ranges::find(out, name) == out.end()) {
            out.push_back(name);
        }
    }
    return out;
}

std::vector<std::string> command_environment(const std::vector<std::string>& prefix)
{
    std::string_view program = prefix.empty() ? std::string_view{} : std::string_view(prefix.front());
    if (const auto slash = program.rfind('/'); slash != std::string_view::npos) {
        program.remove_prefix(slash + 1);
    }
    if (program == "docker" || program == "podman" || program == "nerdctl") {
        return container_environment();
    }
    if (program == "ssh") {
        return ssh_environment();
    }
    if (program == "kubectl" || program == "oc") {
        return kubectl_environment();
    }
    return launcher_environment();
}

std::vector<std::string> ssh_prefix(const SshOptions& c)
{
    std::vector<std::string> argv{"ssh", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=30"};
    if (c.port) {
        argv.insert(argv.end(), {"-p", std::to_string(c.port)});
    }
    if (!c.identity_file.empty()) {
        argv.insert(argv.end(), {"-i", c.identity_file, "-o", "IdentitiesOnly=yes"});
    }
    if (!c.known_hosts.empty()) {
        argv.insert(argv.end(), {"-o", "UserKnownHostsFile=" + c.known_hosts, "-o", "StrictHostKeyChecking=yes"});
    }
    argv.push_back((c.user.empty() ? "" : c.user + "@") + c.host);
    argv.push_back("--");
    return argv;
}

std::vector<std::string> kubectl_prefix(const KubectlOptions& c)
{
    std::vector<std::string> argv{"kubectl"};
    if (!c.context.empty()) {
        argv.insert(argv.end(), {"--context", c.context});
    }
    if (!c.namespace_.empty()) {
        argv.insert(argv.end(), {"-n", c.namespace_});
    }
    argv.insert(argv.end(), {"exec", "-i", c.pod});
    if (!c.container.empty()) {
        argv.insert(argv.end(), {"-c", c.container});
    }
    argv.push_back("--");
    return argv;
}

std::unique_ptr<Runner> make_command_runner(const CommandOptions& options)
{
    std::string description = "command";
    for (const auto& word : options.argv) {
        description += " " + word;
    }
    return make_prefix_runner(options.argv, false, description, command_environment(options.argv));
}

std::unique_ptr<Runner> make_ssh_runner(const SshOptions& options)
{
    return make_prefix_runner(ssh_prefix(options), true,
                              "ssh " + (options.user.empty() ? "" : options.user + "@") + options.host,
                              ssh_environment());
}

std::unique_ptr<Runner> make_kubectl_runner(const KubectlOptions& options)
{
    return make_prefix_runner(kubectl_prefix(options), false,
                              "kubectl pod " + (options.namespace_.empty() ? "" : options.namespace_ + "/") +
                                  options.pod,
                              kubectl_environment());
}

} // namespace dbkeep::runner
