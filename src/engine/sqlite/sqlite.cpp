#include "engine/sqlite/sqlite.hpp"

#include "core/percent.hpp"
#include "engine/sqlite/ops.hpp"

namespace dbkeep::engine {
namespace {

class SqliteEngine final : public Engine {
public:
    SqliteEngine(sqlite::Target target, runner::Runner& runner) : m_target(std::move(target)), m_runner(runner) {}

    std::string format() const override { return "sqlite"; }

    Result<DumpInfo> dump(stream::Sink& out) override { return sqlite::dump_database(m_runner, m_target, out); }

    Status restore(stream::Source& in, const RestoreOptions& options) override
    {
        return sqlite::restore_database(m_runner, m_target, in, options);
    }

    Status drop_scratch(const std::string& url, const std::string& /*password*/) override
    {
        return sqlite::drop_scratch_file(url);
    }

    Result<std::map<std::string, std::int64_t>> stats(const std::string& url, const std::string& /*password*/) override
    {
        return sqlite::database_stats(url);
    }

    std::vector<Finding> probe() override { return sqlite::probe_target(m_runner, m_target); }

    Result<DumpInfo> inspect(stream::Source& dump) override { return sqlite::inspect_dump(m_target, dump); }

private:
    const sqlite::Target m_target;
    runner::Runner& m_runner;
};

} // namespace

Result<std::unique_ptr<Engine>> make_sqlite_engine(const std::string& target, const SqliteOptions& options,
                                                   runner::Runner& runner)
{
    return std::make_unique<SqliteEngine>(sqlite::Target{target, options}, runner);
}

std::string sqlite_quote_identifier(std::string_view name)
{
    std::string out = "\"";
    for (char c : name) {
        out += c;
        if (c == '"') {
            out += '"';
        }
    }
    return out + "\"";
}

std::optional<std::string> sqlite_destination_path(std::string_view to)
{
    std::string path;
    if (to.starts_with("file:")) {
        std::string_view rest = to.substr(5);
        if (rest.find_first_of("?#") != std::string_view::npos) {
            return std::nullopt;
        }
        if (rest.starts_with("//")) {
            rest.remove_prefix(2);
            const auto slash = rest.find('/');
            if (slash == std::string_view::npos) {
                return std::nullopt;
            }
            const std::string_view host = rest.substr(0, slash);
            if (!host.empty() && host != "localhost") {
                return std::nullopt;
            }
            rest.remove_prefix(slash);
        }
        path = percent_decode(std::string(rest));
    } else if (to.find("://") != std::string_view::npos) {
        return std::nullopt;
    } else {
        path = std::string(to);
    }
    if (path.empty() || path.find('\0') != std::string::npos) {
        return std::nullopt;
    }
    return path;
}

bool is_sqlite_header(std::string_view header) noexcept
{
    static constexpr std::string_view k_magic("SQLite format 3\0", 16);
    return header.starts_with(k_magic);
}

std::string sqlite_runner_dump_script()
{
    // $1 is the database path (absolute: the configuration requires it, so it never reads as an option).
    // The copy is a `.backup` inside one read transaction (BEGIN + a read), so a writer committing meanwhile
    // cannot make it restart: the copy is the database as of that read. Only stderr carries messages.
    return R"sh(set -eu
db=$1
if [ ! -e "$db" ]; then echo "dbkeep: no such file: $db" >&2; exit 3; fi
if [ ! -r "$db" ]; then echo "dbkeep: not readable by $(id -un 2>/dev/null || echo this user): $db" >&2; exit 4; fi
if ! command -v sqlite3 >/dev/null 2>&1; then echo "dbkeep: the sqlite3 command-line tool is not installed here" >&2; exit 127; fi
umask 077
dir=$(mktemp -d "${TMPDIR:-/tmp}/dbkeep-sqlite.XXXXXX")
trap 'rm -rf "$dir"' EXIT
trap 'exit 143' TERM INT HUP
case $dir in *[!A-Za-z0-9/._-]*) echo "dbkeep: unusable temp folder name: $dir" >&2; exit 5;; esac
printf '%s\n' 'BEGIN;' 'SELECT count(*) FROM sqlite_master;' ".backup '$dir/copy'" 'COMMIT;' | sqlite3 -bail -readonly "$db" >/dev/null
cat "$dir/copy"
)sh";
}

std::string sqlite_runner_restore_script()
{
    return R"sh(set -eu
dest=$1
force=$2
case $dest in /*) ;; *) echo "dbkeep: the destination must be an absolute path: $dest" >&2; exit 2;; esac
dir=${dest%/*}
[ -n "$dir" ] || dir=/
base=${dest##*/}
if ! command -v sqlite3 >/dev/null 2>&1; then echo "dbkeep: the sqlite3 command-line tool is not installed here" >&2; exit 127; fi
if [ ! -d "$dir" ]; then echo "dbkeep: no such folder: $dir" >&2; exit 3; fi
in_use() {
  for s in -wal -shm -journal; do
    if [ -e "$dest$s" ]; then
      echo "dbkeep: the database is in use: '$dest$s' exists beside it" >&2
      return 0
    fi
  done
  return 1
}
if [ -e "$dest" ] || [ -L "$dest" ]; then
  if [ -L "$dest" ] || [ ! -f "$dest" ]; then echo "dbkeep: $dest exists and is not a regular file" >&2; exit 10; fi
  if in_use; then exit 6; fi
  if [ "$force" != 1 ]; then echo "dbkeep: $dest exists" >&2; exit 7; fi
fi
umask 077
tmp=$(mktemp "$dir/.$base.dbkeep-restore-XXXXXX")
trap 'rm -f "$tmp" "$tmp-wal" "$tmp-shm" "$tmp-journal"' EXIT
trap 'exit 143' TERM INT HUP
cat > "$tmp"
if [ ! -s "$tmp" ]; then echo "dbkeep: the restore received nothing" >&2; exit 8; fi
sync "$tmp" 2>/dev/null || sync
check=$(sqlite3 -readonly "$tmp" 'PRAGMA integrity_check' 2>&1) || true
if [ "$check" != ok ]; then echo "dbkeep: PRAGMA integrity_check of the restored copy failed: $check" >&2; exit 9; fi
if [ -f "$dest" ]; then chmod "$(stat -c %a "$dest")" "$tmp" 2>/dev/null || true; fi
if [ -e "$dest" ] && in_use; then exit 6; fi
mv -f "$tmp" "$dest"
)sh";
}

} // namespace dbkeep::engine
