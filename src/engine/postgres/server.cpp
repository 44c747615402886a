#include "engine/postgres/server.hpp"

#include "core/cancel.hpp"
#include "engine/postgres/dump.hpp"
#include "engine/postgres/restore.hpp"
#include "engine/postgres/sql_splitter.hpp"
#include "engine/postgres/tools.hpp"
#include "observe/log.hpp"
#include "stream/sink.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace dbkeep::engine::pg {
namespace {

// The globals of a big server are a few MiB at most (a role per line); more is not pg_dumpall's output.
constexpr std::size_t k_max_globals = std::size_t{64} << 20;

std::string join(const std::vector<std::string>& names, const std::string& sep = ", ")
{
    std::string s;
    for (const auto& n : names) {
        s += (s.empty() ? "" : sep) + n;
    }
    return s;
}

// The database dbkeep connects to for listing databases, globals and CREATE DATABASE: the url's (which the
// configuration leaves empty for a server target), else "postgres", as pg_dumpall does.
std::string maintenance_db(const std::string& dbname)
{
    return dbname.empty() ? "postgres" : dbname;
}

// --- splitting pg_dumpall's SQL ---------------------------------------------------------------------------

bool ident_char(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$';
}

// The words of a statement for classifying it: bare words lowercased, quoted identifiers unquoted, string
// literals as one "'" token (their content is never looked at: it may be a password), punctuation as itself.
std::vector<std::string> words(std::string_view s, std::size_t max_words)
{
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size() && out.size() < max_words) {
        const char c = s[i];
        if (std::isspace(static_cast<unsigned char>(c)) != 0) {
            ++i;
        } else if (c == '"') {
            std::string id;
            ++i;
            while (i < s.size()) {
                if (s[i] == '"') {
                    if (i + 1 < s.size() && s[i + 1] == '"') {
                        id += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                id += s[i++];
            }
            out.push_back("\"" + id);
        } else if (c == '\'') {
            ++i;
            while (i < s.size()) {
                if (s[i] == '\'' && !(i + 1 < s.size() && s[i + 1] == '\'')) {
                    ++i;
                    break;
                }
                i += s[i] == '\'' ? 2 : 1;
            }
            out.emplace_back("'");
        } else if (ident_char(c)) {
            std::string w;
            while (i < s.size() && ident_char(s[i])) {
                w += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i++])));
            }
            out.push_back("\x01" + w);
        } else {
            out.emplace_back(1, c);
            ++i;
        }
    }
    return out;
}

// A word as a keyword ("create") or nullopt when it is quoted or punctuation.
bool is_kw(const std::vector<std::string>& w, std::size_t i, const char* kw)
{
    return i < w.size() && w[i].size() > 1 && w[i][0] == '\x01' && w[i].compare(1, std::string::npos, kw) == 0;
}

// A word as a name: a quoted identifier's text, a bare word's (lowercased, as the server folds it).
std::optional<std::string> name_at(const std::vector<std::string>& w, std::size_t i)
{
    if (i >= w.size() || w[i].empty() || (w[i][0] != '"' && w[i][0] != '\x01')) {
        return std::nullopt;
    }
    return w[i].substr(1);
}

std::string summary_of(const std::vector<std::string>& w, std::size_t n)
{
    std::string s;
    for (std::size_t i = 0; i < w.size() && i < n; ++i) {
        if (w[i] == "'" || w[i] == ";") {
            break;
        }
        const bool quoted = !w[i].empty() && w[i][0] == '"';
        std::string t = w[i].size() > 1 || quoted ? w[i].substr(1) : w[i];
        // SQL's keywords upper-case, names as the server folds them (a bare name lower-case).
        static constexpr std::array<std::string_view, 14> k_keywords = {
            "create",     "alter", "comment", "grant", "revoke", "on",       "role",
            "tablespace", "set",   "to",      "with",  "owner",  "location", "is"};
        if (!quoted && w[i][0] == '\x01' && std::find(k_keywords.begin(), k_keywords.end(), t) != k_keywords.end()) {
            for (auto& ch : t) {
                ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            }
        }
        s += (s.empty() ? "" : " ") + (quoted ? quote_ident(t) : t);
    }
    return s;
}

GlobalsStatement classify(std::string sql)
{
    GlobalsStatement st;
    auto w = words(sql, 24);
    st.summary = summary_of(w, 4);
    st.sql = std::move(sql);
    auto named = [&](GlobalsStatement::Kind kind, std::size_t at) {
        if (auto n = name_at(w, at)) {
            st.kind = kind;
            st.name = *n;
        }
    };
    if (is_kw(w, 0, "set")) {
        st.kind = GlobalsStatement::Kind::setting;
    } else if ((is_kw(w, 0, "create") || is_kw(w, 0, "alter")) && is_kw(w, 1, "role")) {
        named(GlobalsStatement::Kind::role, 2);
    } else if ((is_kw(w, 0, "create") || is_kw(w, 0, "alter")) && is_kw(w, 1, "tablespace")) {
        named(GlobalsStatement::Kind::tablespace, 2);
    } else if (is_kw(w, 0, "comment") && is_kw(w, 1, "on") && is_kw(w, 2, "role")) {
        named(GlobalsStatement::Kind::role, 3);
    } else if (is_kw(w, 0, "comment") && is_kw(w, 1, "on") && is_kw(w, 2, "tablespace")) {
        named(GlobalsStatement::Kind::tablespace, 3);
    } else if (is_kw(w, 0, "security") && is_kw(w, 1, "label")) {
        for (std::size_t i = 2; i + 1 < w.size(); ++i) {
            if (is_kw(w, i, "on") && is_kw(w, i + 1, "role")) {
                named(GlobalsStatement::Kind::role, i + 2);
                break;
            }
        }
    } else if (is_kw(w, 0, "grant") || is_kw(w, 0, "revoke")) {
        // GRANT role TO member ... (membership), or GRANT privileges ON TABLESPACE name / ON PARAMETER ...
        bool on = false;
        for (std::size_t i = 1; i + 1 < w.size(); ++i) {
            if (is_kw(w, i, "on")) {
                on = true;
                if (is_kw(w, i + 1, "tablespace")) {
                    named(GlobalsStatement::Kind::tablespace, i + 2);
                }
                break;
            }
            if (is_kw(w, i, "to") || is_kw(w, i, "from")) {
                break;
            }
        }
        auto granted = name_at(w, 1);
        if (!on && is_kw(w, 0, "grant") && granted && (is_kw(w, 2, "to"))) {
            if (auto member = name_at(w, 3)) {
                st.kind = GlobalsStatement::Kind::membership;
                st.name = *granted;
                st.member = *member;
            }
        }
    }
    return st;
}

// --- restoring globals ----------------------------------------------------------------------------------

Result<std::set<std::string>> names_of(Connection& conn, const std::string& sql)
{
    auto rows = conn.query(sql);
    if (!rows) {
        return std::unexpected(rows.error());
    }
    std::set<std::string> names;
    for (const auto& r : *rows) {
        if (!r.empty()) {
            names.insert(r[0]);
        }
    }
    return names;
}

struct GlobalsOutcome {
    std::vector<std::string> created_roles, kept_roles, created_tablespaces;
};

// Runs the statements that create what the destination lacks (see restore_server). with_tablespaces: also the
// tablespaces and statements of other kinds (a whole-server restore), else roles and memberships only.
Result<GlobalsOutcome> apply_globals(Connection& conn, const std::vector<GlobalsStatement>& statements,
                                     bool with_tablespaces, const std::string& where)
{
    auto roles = names_of(conn, "SELECT rolname FROM pg_roles");
    if (!roles) {
        return std::unexpected(roles.error());
    }
    auto spaces = names_of(conn, "SELECT spcname FROM pg_tablespace");
    if (!spaces) {
        return std::unexpected(spaces.error());
    }
    GlobalsOutcome out;
    std::set<std::string> created, kept, created_spaces;
    for (const auto& st : statements) {
        if (cancel::requested()) {
            return fail_cancelled("restore the globals into", where);
        }
        bool run = false;
        switch (st.kind) {
        case GlobalsStatement::Kind::setting: run = true; break;
        case GlobalsStatement::Kind::role:
            if (roles->contains(st.name) && !created.contains(st.name)) {
                if (kept.insert(st.name).second) {
                    out.kept_roles.push_back(st.name);
                }
            } else {
                run = true;
            }
            break;
        case GlobalsStatement::Kind::membership: run = created.contains(st.name) || created.contains(st.member); break;
        case GlobalsStatement::Kind::tablespace:
            run = with_tablespaces && (!spaces->contains(st.name) || created_spaces.contains(st.name));
            break;
        case GlobalsStatement::Kind::other: run = with_tablespaces; break;
        }
        if (!run) {
            continue;
        }
        if (auto r = conn.exec(st.sql); !r) {
            // The statement itself is never printed: an ALTER ROLE carries the role's password hash.
            auto e = r.error();
            e.operation = "restore the globals into";
            e.object = where;
            e.message = "the server refused `" + st.summary + " ...` from the source's globals: " + e.message;
            if (st.kind == GlobalsStatement::Kind::tablespace) {
                e.hint = "a tablespace needs its folder on the new server: create it (owned by postgres), or "
                         "restore each database alone with --database NAME, which leaves the tablespaces out";
            }
            return std::unexpected(std::move(e));
        }
        if (st.kind == GlobalsStatement::Kind::role && st.summary.starts_with("CREATE ROLE")) {
            created.insert(st.name);
            out.created_roles.push_back(st.name);
        }
        if (st.kind == GlobalsStatement::Kind::tablespace && st.summary.starts_with("CREATE TABLESPACE")) {
            created_spaces.insert(st.name);
            out.created_tablespaces.push_back(st.name);
        }
    }
    return out;
}

// The keyword string for database `db` on the server of `params` (password kept apart).
std::string url_for(const ConnectParams& params, const std::string& db)
{
    auto k = params.keywords;
    k["dbname"] = db;
    return conninfo(k);
}

} // namespace

bool is_server_target(const PostgresOptions& options)
{
    return options.all_databases || !options.databases.empty();
}

std::string dumpall_override(const PostgresOptions& options)
{
    const auto& dump_path = options.pg_dump_path;
    if (auto slash = dump_path.rfind('/'); slash != std::string::npos) {
        return dump_path.substr(0, slash + 1) + "pg_dumpall";
    }
    return {};
}

Result<std::vector<GlobalsStatement>> split_globals(std::string_view sql)
{
    auto corrupt = [](const std::string& why) {
        return fail(ErrorKind::corruption, "read", "the globals of the backup",
                    why + ": not the SQL of pg_dumpall --globals-only");
    };
    SqlSplitter splitter;
    std::vector<GlobalsStatement> out;
    for (const auto& st : splitter.add(sql)) {
        out.push_back(classify(st));
    }
    switch (splitter.inside()) {
    case SqlSplitter::Inside::string: return corrupt("a string literal does not end");
    case SqlSplitter::Inside::quoted_name: return corrupt("a quoted name does not end");
    case SqlSplitter::Inside::dollar_quote: return corrupt("a dollar-quoted string does not end");
    case SqlSplitter::Inside::block_comment: return corrupt("a comment does not end");
    case SqlSplitter::Inside::code:
    case SqlSplitter::Inside::line: break;
    }
    if (splitter.in_statement()) {
        return corrupt("the text ends inside a statement");
    }
    return out;
}

Result<DumpInfo> dump_server(runner::Runner& runner, const Target& target, stream::Sink& out, PartWriter& parts)
{
    const auto& pg = target.postgres;
    auto admin_params = target_params(target);
    admin_params.keywords["dbname"] = maintenance_db(pg.dbname);
    auto conn = open_session(runner, target, admin_params);
    if (!conn) {
        return std::unexpected(conn.error());
    }
    auto listed = (*conn)->query("SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                                 "ORDER BY datname");
    if (!listed) {
        return wrap(listed.error(), "list the databases of " + target.name);
    }
    std::vector<std::string> present;
    for (const auto& r : *listed) {
        if (!r.empty()) {
            present.push_back(r[0]);
        }
    }
    std::vector<std::string> names = present;
    if (!pg.all_databases) {
        names = pg.databases;
        std::vector<std::string> missing;
        for (const auto& n : names) {
            if (std::find(present.begin(), present.end(), n) == present.end()) {
                missing.push_back(n);
            }
        }
        if (!missing.empty()) {
            return fail(ErrorKind::not_found, "back up", target.name,
                        "the server has no database " + join(missing) + " that allows connections (it has " +
                            join(present) + ")",
                        "correct 'databases' in the configuration, or use databases: all");
        }
    }
    if (names.empty()) {
        return fail(ErrorKind::not_found, "back up", target.name, "the server has no database to back up");
    }
    const int major = (*conn)->server_version_num() / 10000;
    auto server_version = (*conn)->query("SELECT current_setting('server_version')");
    conn->reset();

    // The globals: roles, memberships, role settings and tablespaces. Read whole before anything is written, so
    // that a refusal can be retried without the role passwords.
    auto tool = find_tool(runner, target, "pg_dumpall", dumpall_override(pg), major);
    if (!tool) {
        return std::unexpected(tool.error());
    }
    runner::Command cmd;
    cmd.inherit = libpq_environment();
    cmd.argv = {tool->path, "--globals-only", "--no-password", "--dbname=" + conninfo(admin_params.keywords)};
    add_password_env(cmd, pg);
    DumpInfo info;
    info.details["role_passwords"] = "included";
    auto globals = runner::run_capture(runner, cmd, k_max_globals);
    if (globals && !globals->status.ok() && globals->err.find("permission denied") != std::string::npos) {
        observe::warn("pg_dumpall cannot read the role passwords (pg_authid needs a superuser): the globals are "
                      "dumped without them",
                      {{"target", target.name}, {"said", tool_message(globals->err)}});
        cmd.argv.insert(cmd.argv.begin() + 2, "--no-role-passwords");
        info.details["role_passwords"] = "left out: the backup's role cannot read pg_authid (needs a superuser)";
        globals = runner::run_capture(runner, cmd, k_max_globals);
    }
    if (cancel::requested()) {
        return fail_cancelled("run pg_dumpall for", target.name);
    }
    if (!globals) {
        return wrap(globals.error(), "run pg_dumpall for " + target.name);
    }
    if (!globals->status.ok()) {
        return fail(ErrorKind::failed, "run pg_dumpall --globals-only for", target.name,
                    globals->status.describe() + " (pg_dumpall said: " + tool_message(globals->err) + ")");
    }
    if (auto parsed = split_globals(globals->out); !parsed) {
        return wrap(parsed.error(), "read the output of pg_dumpall for " + target.name);
    }
    if (auto st = out.write(Bytes(reinterpret_cast<const std::uint8_t*>(globals->out.data()), globals->out.size()));
        !st) {
        return std::unexpected(st.error());
    }

    info.tool = "pg_dump";
    info.details["layout"] = "server";
    info.details["globals_tool"] = "pg_dumpall " + tool->version;
    info.details["databases"] = join(names, ",");
    info.details["database_count"] = std::to_string(names.size());
    if (server_version && !server_version->empty() && !server_version->front().empty()) {
        info.server_version = server_version->front().front();
    }
    if (pg.jobs > 1) {
        observe::warn("jobs: a whole-server backup dumps each database in one stream", {{"target", target.name}});
    }
    for (const auto& name : names) {
        if (cancel::requested()) {
            return fail_cancelled("back up", target.name);
        }
        Target one = target;
        one.postgres.dbname = name;
        one.postgres.all_databases = false;
        one.postgres.databases.clear();
        one.postgres.jobs = 1;
        auto part = parts.open_part();
        if (!part) {
            return std::unexpected(part.error());
        }
        observe::info("dumping database", {{"target", target.name}, {"database", name}});
        auto dumped = dump_database(runner, one, **part);
        if (!dumped) {
            (*part)->abort();
            return wrap(dumped.error(), "dump database " + name);
        }
        (*part)->set_detail("format", "pgdump");
        (*part)->set_detail("database", name);
        for (const char* key : {"tables_with_data", "large_objects", "toc_entries", "archive_version"}) {
            if (auto it = dumped->details.find(key); it != dumped->details.end()) {
                (*part)->set_detail(key, it->second);
            }
        }
        std::int64_t rows = 0;
        for (const auto& [table, n] : dumped->stats) {
            info.stats[name + "/" + table] = n;
            rows += n;
        }
        (*part)->set_detail("rows", std::to_string(rows));
        if (auto st = (*part)->finish(); !st) {
            return std::unexpected(st.error());
        }
        info.tool_version = dumped->tool_version;
        if (info.server_version.empty()) {
            info.server_version = dumped->server_version;
        }
        // The same for every database: the tool's path and the exclusions (README "Leaving tables out").
        for (const auto& [key, value] : dumped->details) {
            if (key == "pg_dump_path" || key.starts_with("exclude_")) {
                info.details[key] = value;
            }
        }
    }
    return info;
}

Status restore_server(runner::Runner& runner, const Target& target, stream::Source& globals_in,
                      const RestoreOptions& options)
{
    if (options.scratch && options.database.empty()) {
        // verify --restore test-restores a whole server one database at a time (job::run_verify names each).
        return fail(ErrorKind::config, "test-restore", target.name,
                    "a whole-server backup is test-restored one database at a time: name one with --database");
    }
    const bool partial = !options.tables.empty() || !options.schemas.empty();
    if (partial && options.database.empty()) {
        return fail(ErrorKind::config, "restore", target.name,
                    "--table and --schema restore part of one database of a whole-server backup",
                    "name it with --database NAME");
    }
    auto to = url_params(target, options.to_url, options.password);
    if (!to) {
        return std::unexpected(to.error());
    }
    const std::string where = to->what;
    const std::string url_db = to->keywords["dbname"];
    if (options.database.empty() && !options.globals_only && !url_db.empty() && url_db != "postgres") {
        return fail(ErrorKind::config, "restore into", where,
                    "a whole-server backup restores each database under its own name, and --to names database " +
                        url_db,
                    "give --to without a database (postgres://user@host:5432/), or --database NAME to restore one "
                    "database into " +
                        url_db);
    }
    if (options.scratch && (url_db.empty() || reserved_database(url_db))) {
        return fail(ErrorKind::config, "test-restore into", where,
                    "verify --restore needs a scratch database of its own, and --to names " +
                        (url_db.empty() ? std::string("none") : url_db),
                    "name one that nothing else uses, e.g. postgres://user@host:5432/dbkeep_scratch: it is made "
                    "afresh for each database of the backup and dropped afterwards");
    }
    // The databases of the backup, by part.
    std::vector<std::pair<std::string, std::size_t>> dbs;
    std::vector<std::string> all;
    for (std::size_t i = 0; i < options.parts.size(); ++i) {
        const auto& d = options.parts[i];
        auto f = d.find("format");
        auto n = d.find("database");
        if (f == d.end() || f->second != "pgdump" || n == d.end() || n->second.empty()) {
            return fail(ErrorKind::corruption, "restore", target.name,
                        "part " + std::to_string(i + 1) + " of the backup is not a database's archive");
        }
        all.push_back(n->second);
        if (!options.globals_only && (options.database.empty() || options.database == n->second)) {
            dbs.emplace_back(n->second, i);
        }
    }
    if (!options.database.empty() && dbs.empty()) {
        return fail(ErrorKind::config, "restore", target.name,
                    "the backup has no database " + options.database + " (it has " + join(all) + ")");
    }
    auto globals_text = stream::read_all(globals_in, k_max_globals);
    if (!globals_text) {
        return wrap(globals_text.error(), "read the globals of the backup");
    }
    auto statements = split_globals(*globals_text);
    if (!statements) {
        return std::unexpected(statements.error());
    }

    auto admin_params = *to;
    admin_params.keywords["dbname"] = "postgres";
    auto admin = open_session(runner, target, admin_params);
    if (!admin) {
        return std::unexpected(admin.error());
    }
    auto existing = names_of(**admin, "SELECT datname FROM pg_database");
    if (!existing) {
        return std::unexpected(existing.error());
    }
    // Every destination first: a database that exists and holds objects is refused before anything is written.
    // --to names the server when its database is empty or postgres (the maintenance database is never a
    // destination): each database then keeps its own name.
    const bool names_server = url_db.empty() || url_db == "postgres";
    auto dest_name = [&](const std::string& source) {
        return !options.database.empty() && !names_server ? url_db : source;
    };
    // A test restore goes into verify's own scratch database (restore_database checks that it made it) and leaves
    // the scratch server's roles alone: the globals were read and parsed above, which is their test.
    // A partial restore (--table/--schema) may go into a database that holds other objects: restore_database
    // refuses only when the named ones exist there.
    if (!options.clean && !options.scratch && !partial) {
        std::vector<std::string> busy_names;
        for (const auto& [name, index] : dbs) {
            const std::string dest = dest_name(name);
            if (!existing->contains(dest)) {
                continue;
            }
            auto p = admin_params;
            p.keywords["dbname"] = dest;
            auto conn = open_session(runner, target, p);
            if (!conn) {
                return std::unexpected(conn.error());
            }
            auto busy = holds_user_objects(**conn);
            if (!busy) {
                return std::unexpected(busy.error());
            }
            if (*busy) {
                busy_names.push_back(dest);
            }
        }
        if (!busy_names.empty()) {
            const bool one = busy_names.size() == 1;
            return fail(ErrorKind::config, "restore into", where,
                        std::string(one ? "database " : "databases ") + join(busy_names) +
                            (one ? " already exists and holds" : " already exist and hold") +
                            " objects: nothing was restored",
                        std::string(one ? "drop it" : "drop them") +
                            " first, add --clean to drop the dump's objects in them, or restore one database "
                            "elsewhere with --database NAME --to URL");
        }
    }
    if (!options.no_roles && !options.scratch) {
        auto applied = apply_globals(**admin, *statements, options.database.empty(), where);
        if (!applied) {
            return std::unexpected(applied.error());
        }
        if (!applied->kept_roles.empty()) {
            observe::info("roles that exist on the destination were left as they are",
                          {{"roles", join(applied->kept_roles)}});
        }
        observe::info("restored the globals", {{"roles_created", join(applied->created_roles)},
                                               {"tablespaces_created", join(applied->created_tablespaces)}});
    }
    admin->reset();

    std::vector<std::string> restored, created;
    for (const auto& [name, index] : dbs) {
        if (cancel::requested()) {
            return fail_cancelled("restore", target.name);
        }
        const std::string dest = dest_name(name);
        RestoreOptions one = options;
        one.to_url = url_for(*to, dest);
        one.password = to->password;
        one.parts.clear();
        one.open_part = nullptr;
        one.expected_stats.clear();
        one.details.clear();
        observe::info("restoring database", {{"database", name}, {"into", dest}});
        Status st = [&]() -> Status {
            auto src = options.open_part(index);
            if (!src) {
                return std::unexpected(src.error());
            }
            return restore_database(runner, target, **src, one);
        }();
        if (!st) {
            auto e = st.error();
            if (!created.empty() && !options.keep_failed) {
                auto again = open_session(runner, target, admin_params);
                for (const auto& db : created) {
                    Status dropped = again ? (*again)->exec("DROP DATABASE IF EXISTS " + quote_ident(db))
                                           : Status(std::unexpected(again.error()));
                    if (!dropped) {
                        observe::warn("cannot drop a database this failed restore created",
                                      {{"database", db}, {"error", dropped.error().to_string()}});
                    }
                }
                e.message += "; the databases restored before it (" + join(created) + ") were dropped again";
            } else if (!restored.empty()) {
                e.message += "; restored before it: " + join(restored);
            }
            return wrap(std::move(e), "restore database " + name);
        }
        restored.push_back(dest);
        if (!existing->contains(dest)) {
            created.push_back(dest);
        }
    }
    return {};
}

} // namespace dbkeep::engine::pg
