#include "engine/mysql/client.hpp"

#include "core/url.hpp"

#include <cstdio>
#include <regex>

namespace dbkeep::engine::mysql {
namespace {

// text as UTF-8: valid sequences kept, any other byte as \xNN.
std::string utf8_or_escaped(const std::string& text)
{
    std::string out;
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    std::size_t n = text.size(), i = 0;
    while (i < n) {
        unsigned char c = s[i];
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        for (std::size_t k = 1; ok && k < len; ++k) {
            ok = (s[i + k] & 0xC0) == 0x80;
        }
        if (ok && (len > 1 || c >= 0x20 || c == '\t')) {
            out.append(text, i, len);
            i += len;
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
            ++i;
        }
    }
    return out;
}

bool contains(const std::string& text, const char* needle)
{
    return text.find(needle) != std::string::npos;
}

// Whether the client or server error `code` is reported: "ERROR 1049 (42000): ..." (mysql/mariadb), "Got error:
// 1049: ..." or "Error 2013: ..." (the dump tools); never a bare number, which may be part of a name or a count.
bool has_code(const std::string& text, int code)
{
    const std::string n = std::to_string(code);
    for (const std::string& form : {"ERROR " + n + " ", "Got error: " + n + ":", "Error " + n + ":"}) {
        if (text.find(form) != std::string::npos) {
            return true;
        }
    }
    return false;
}

} // namespace

Endpoint target_endpoint(const Target& target)
{
    const auto& o = target.options;
    Endpoint e;
    e.host = o.host;
    e.port = o.port;
    e.user = o.user;
    e.socket = o.socket;
    e.database = o.database;
    e.password = o.password.reveal();
    e.what = target.url.empty() ? target.name : target.url;
    return e;
}

Result<Endpoint> parse_endpoint(const std::string& url, const std::string& password)
{
    auto u = parse_url(url);
    if (!u || (u->scheme != "mysql" && u->scheme != "mariadb")) {
        return fail(ErrorKind::config, "read the destination URL", url.contains('@') ? "(given)" : url,
                    "not a MySQL URL", "give mysql://user@host:3306/database (password in DBKEEP_RESTORE_PASSWORD)");
    }
    Endpoint e;
    e.host = u->host;
    e.port = u->port;
    e.user = u->user;
    e.database = u->path;
    if (auto it = u->query.find("socket"); it != u->query.end()) {
        e.socket = it->second;
    }
    e.password = u->password.empty() ? password : u->password;
    e.what = "mysql://" + (e.user.empty() ? "" : e.user + "@") + e.host + (e.port ? ":" + std::to_string(e.port) : "") +
             "/" + e.database;
    return e;
}

std::vector<std::string> connection_args(const Endpoint& e)
{
    std::vector<std::string> args;
    if (!e.host.empty()) {
        args.push_back("--host=" + e.host);
    }
    if (e.port != 0) {
        args.push_back("--port=" + std::to_string(e.port));
    }
    if (!e.user.empty()) {
        args.push_back("--user=" + e.user);
    }
    if (!e.socket.empty()) {
        args.push_back("--socket=" + e.socket);
    }
    return args;
}

runner::Command tool_command(const std::string& path, const Endpoint& endpoint)
{
    runner::Command cmd;
    cmd.argv.push_back(path);
    for (auto& a : connection_args(endpoint)) {
        cmd.argv.push_back(std::move(a));
    }
    if (!endpoint.password.empty()) {
        cmd.env["MYSQL_PWD"] = endpoint.password;
    }
    cmd.inherit = {"MYSQL_*", "MARIADB_*"};
    return cmd;
}

std::string parse_tool_version(const std::string& output)
{
    static const std::regex k_distrib(R"(Distrib ([0-9]+\.[0-9]+\.[0-9]+[A-Za-z0-9.-]*?)(?:,| |$))");
    static const std::regex k_from(R"(from ([0-9]+\.[0-9]+\.[0-9]+[A-Za-z0-9.-]*?)(?:,| |$))");
    static const std::regex k_ver(R"(Ver ([0-9]+\.[0-9]+\.[0-9]+[A-Za-z0-9.-]*?)(?:,| |$))");
    std::smatch m;
    for (const auto* re : {&k_distrib, &k_from, &k_ver}) {
        if (std::regex_search(output, m, *re)) {
            return m[1].str();
        }
    }
    return "";
}

Result<Tool> find_tool(runner::Runner& runner, const Target& target, bool dump)
{
    const auto& o = target.options;
    const std::string& override_path = dump ? o.dump_path : o.client_path;
    std::vector<std::string> paths;
    if (!override_path.empty()) {
        paths.push_back(override_path);
    } else if (dump) {
        paths = {"mariadb-dump", "mysqldump"};
    } else {
        paths = {"mariadb", "mysql"};
    }
    std::string said;
    for (const auto& p : paths) {
        auto out = runner::run_capture(runner, {.argv = {p, "--version"}}, 4096);
        if (!out) {
            if (out.error().kind == ErrorKind::cancelled) {
                return std::unexpected(out.error());
            }
            said += (said.empty() ? "" : "; ") + p + ": " + out.error().message;
            continue;
        }
        if (!out->status.ok()) {
            said += (said.empty() ? "" : "; ") + p + ": " + out->status.describe() +
                    (out->err.empty() ? "" : " (" + tool_message(out->err) + ")");
            continue;
        }
        return Tool{p, parse_tool_version(out->out)};
    }
    const char* role = dump ? "the dump tool (mariadb-dump or mysqldump)" : "the client (mariadb or mysql)";
    return fail(ErrorKind::not_found, std::string("find ") + role + " for", target.name,
                "none ran on " + runner.describe() + (said.empty() ? "" : ": " + said),
                override_path.empty()
                    ? "install mariadb-client (or mysql-client) where the runner runs, or set " +
                          std::string(dump ? "dump_path" : "client_path")
                    : std::string("fix ") + (dump ? "dump_path" : "client_path") + " in the configuration");
}

std::string tool_message(const std::string& text)
{
    constexpr std::size_t k_max_lines = 30, k_max_bytes = 4000;
    std::string out;
    std::size_t lines = 0, pos = 0;
    while (pos < text.size() && lines < k_max_lines) {
        auto nl = text.find('\n', pos);
        std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        for (const char* tool : {"mariadb-dump: ", "mysqldump: ", "mariadb: ", "mysql: "}) {
            if (line.starts_with(tool)) {
                line.erase(0, std::string(tool).size());
                break;
            }
        }
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
            line.pop_back();
        }
        if (line.empty() || line.starts_with("Deprecated program name")) {
            continue;
        }
        out += (out.empty() ? "" : "; ") + line;
        ++lines;
    }
    if (pos < text.size()) {
        out += "; ...";
    }
    if (out.size() > k_max_bytes) {
        out.resize(k_max_bytes);
        out += " ...";
    }
    return utf8_or_escaped(out);
}

Error tool_error(const std::string& operation, const std::string& object, const std::string& tool,
                 const runner::ExitStatus& status, const std::string& stderr_text)
{
    std::string said = tool_message(stderr_text);
    Error e{ErrorKind::failed, operation, object, tool + " " + status.describe() + (said.empty() ? "" : ": " + said),
            ""};
    if (has_code(said, 1045) || (contains(said, "Access denied for user") && contains(said, "using password"))) {
        e.kind = ErrorKind::auth;
        e.hint = "check the user and password (password:, password_file:, or DBKEEP_RESTORE_PASSWORD for --to)";
    } else if (contains(said, "Access denied") || contains(said, "command denied") || contains(said, "privilege")) {
        e.kind = ErrorKind::auth;
        e.hint = "grant the account the privilege the message names (for a backup, dbkeep check prints the GRANT)";
    } else if (has_code(said, 1049) || contains(said, "Unknown database")) {
        e.kind = ErrorKind::not_found;
        e.hint = "check the database name";
    } else if (has_code(said, 2005) || contains(said, "Unknown MySQL server host") ||
               contains(said, "Unknown server host")) {
        e.kind = ErrorKind::transient;
        e.hint = "check the host name: it does not resolve where the runner runs";
    } else if (has_code(said, 2002) || has_code(said, 2003) || has_code(said, 2013) ||
               contains(said, "Can't connect") || contains(said, "Lost connection to")) {
        e.kind = ErrorKind::transient;
        e.hint = "check that the server runs and that host and port are reachable from where the runner runs";
    } else if (has_code(said, 1205) || contains(said, "Lock wait timeout")) {
        e.kind = ErrorKind::conflict;
        e.hint = "a long statement or transaction holds the lock: end it, or raise lock_wait_timeout";
    }
    return e;
}

Result<Rows> query(runner::Runner& runner, const std::string& client, const Endpoint& endpoint, const std::string& sql)
{
    auto cmd = tool_command(client, endpoint);
    cmd.argv.insert(cmd.argv.end(), {"--batch", "--skip-column-names", "--raw", "--connect-timeout=10",
                                     "--default-character-set=utf8mb4"});
    if (!endpoint.database.empty()) {
        cmd.argv.push_back("--database=" + endpoint.database);
    }
    // The statements go on stdin (an argv entry is limited to 128 KiB, and a count of many tables is longer),
    // except where the runner launches commands detached (ecs) and cannot feed them.
    cmd.with_stdin = runner.interactive();
    if (!cmd.with_stdin) {
        cmd.argv.push_back("--execute=" + sql);
    }
    auto proc = runner.start(cmd);
    if (!proc) {
        return std::unexpected(proc.error());
    }
    Status fed;
    if (cmd.with_stdin) {
        fed = (*proc)->in()->write(as_bytes(sql));
        if (fed) {
            fed = (*proc)->in()->finish();
        } else {
            (*proc)->in()->abort();
        }
    }
    auto text = stream::read_all((*proc)->out(), 256 << 20);
    if (!text) {
        (*proc)->kill();
    }
    auto status = (*proc)->wait();
    if (!status) {
        return std::unexpected(status.error());
    }
    if (!status->ok()) {
        return std::unexpected(tool_error("query", endpoint.what, client, *status, (*proc)->error_output()));
    }
    if (!text) {
        return std::unexpected(text.error());
    }
    if (!fed) {
        return std::unexpected(fed.error());
    }
    Rows rows;
    std::size_t pos = 0;
    const std::string& t = *text;
    while (pos < t.size()) {
        auto nl = t.find('\n', pos);
        std::string line = t.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? t.size() : nl + 1;
        std::vector<std::string> fields;
        std::size_t f = 0;
        for (;;) {
            auto tab = line.find('\t', f);
            fields.push_back(line.substr(f, tab == std::string::npos ? std::string::npos : tab - f));
            if (tab == std::string::npos) {
                break;
            }
            f = tab + 1;
        }
        rows.push_back(std::move(fields));
    }
    return rows;
}

std::string quote_name(const std::string& name)
{
    std::string out = "`";
    for (char c : name) {
        out += c;
        if (c == '`') {
            out += '`';
        }
    }
    return out + "`";
}

std::string quote_string(const std::string& text)
{
    std::string out = "'";
    for (char c : text) {
        if (c == '\\' || c == '\'') {
            out += '\\';
        }
        if (c == '\0') {
            out += "\\0";
            continue;
        }
        out += c;
    }
    return out + "'";
}

std::string unhex(const std::string& hex)
{
    if (hex.size() % 2 != 0) {
        return "";
    }
    std::string out;
    out.reserve(hex.size() / 2);
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        return -1;
    };
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int a = nib(hex[i]), b = nib(hex[i + 1]);
        if (a < 0 || b < 0) {
            return "";
        }
        out += static_cast<char>(a * 16 + b);
    }
    return out;
}

bool is_system_database(const std::string& name)
{
    return name == "mysql" || name == "sys" || name == "information_schema" || name == "performance_schema";
}

} // namespace dbkeep::engine::mysql
