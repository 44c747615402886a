#include "engine/postgres/parallel.hpp"

#include "core/cancel.hpp"
#include "engine/postgres/connection.hpp"
#include "engine/postgres/dump.hpp"
#include "observe/log.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <mutex>
#include <thread>

namespace dbkeep::engine::pg {
namespace {

// The most heap pages in one chunk: 256 MiB at PostgreSQL's default 8 KiB block size.
constexpr std::uint64_t k_chunk_bytes = std::uint64_t{256} << 20;
// The fewest chunks per connection of a split table.
constexpr std::uint64_t k_chunks_per_job = 4;

// The settings pg_dump gives its own sessions so that the text of every value reads back the same in any
// session (dates in ISO, intervals in postgres style, floats exact), and so that row-level security makes a
// table unreadable rather than silently filtered.
constexpr const char* k_dump_settings = "SET datestyle = ISO; SET intervalstyle = postgres; "
                                        "SET extra_float_digits = 3; SET row_security = off; "
                                        "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0";
constexpr const char* k_load_settings = "SET datestyle = ISO; SET intervalstyle = postgres; "
                                        "SET statement_timeout = 0";

std::string quoted_columns(const std::vector<std::string>& columns)
{
    std::string out;
    for (const auto& c : columns) {
        out += (out.empty() ? "" : ", ") + quote_ident(c);
    }
    return out;
}

std::optional<std::uint64_t> parse_u64(const std::string& s)
{
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
        return std::nullopt;
    }
    return v;
}

// An exported snapshot's id as the server names it ("00000003-0000001B-1"): hex digits and dashes only, so it
// can be written into a statement.
bool valid_snapshot_id(const std::string& id)
{
    return !id.empty() && id.size() < 64 && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || c == '-';
    });
}

// A Sink that refuses writes once the dump is stopping (another connection failed, or cancel): the copy that
// writes into it then ends at once.
class StoppableSink final : public stream::Sink {
public:
    StoppableSink(stream::Sink& inner, const std::atomic<bool>& stop) : m_inner(inner), m_stop(stop) {}
    Status write(Bytes data) override
    {
        if (m_stop.load()) {
            return fail(ErrorKind::cancelled, "dump", "", "stopped: another part of the parallel dump failed");
        }
        return m_inner.write(data);
    }
    Status finish() override { return m_inner.finish(); }
    void abort() noexcept override { m_inner.abort(); }

private:
    stream::Sink& m_inner;
    const std::atomic<bool>& m_stop;
};

// The first error of several threads, and the flag that stops the others.
class FirstError {
public:
    void set(Error e)
    {
        const std::lock_guard lock(m_mutex);
        if (!m_error || (m_error->kind == ErrorKind::cancelled && e.kind != ErrorKind::cancelled)) {
            m_error = std::move(e); // a real cause beats "stopped because another failed"
        }
        stop = true;
    }
    std::optional<Error> get() const
    {
        const std::lock_guard lock(m_mutex);
        return m_error;
    }
    std::atomic<bool> stop{false};

private:
    mutable std::mutex m_mutex;
    std::optional<Error> m_error;
};

struct BigTable {
    std::string schema, table;
    std::uint64_t bytes = 0;
};

// Tables whose rows pg_dump would dump and that are at least `threshold` bytes: ordinary tables and leaf
// partitions (not temporary, not an extension's), outside the system schemas.
Result<std::vector<BigTable>> find_big_tables(Connection& conn, std::uint64_t threshold)
{
    auto rows = conn.query("SELECT n.nspname, c.relname, pg_relation_size(c.oid)::text FROM pg_class c "
                           "JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE c.relkind = 'r' AND c.relpersistence <> 't' "
                           "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                           "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' "
                           "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
                           "AND d.objid = c.oid AND d.deptype = 'e') "
                           "AND pg_relation_size(c.oid) >= " +
                           std::to_string(threshold) + " ORDER BY pg_relation_size(c.oid) DESC, 1, 2");
    if (!rows) {
        return std::unexpected(rows.error());
    }
    std::vector<BigTable> out;
    for (const auto& r : *rows) {
        if (r.size() == 3) {
            out.push_back({r[0], r[1], parse_u64(r[2]).value_or(0)});
        }
    }
    return out;
}

// The chunks of every big table, read inside the snapshot's transaction after the locks (so the sizes and
// columns are the ones the snapshot sees).
Result<std::vector<Chunk>> plan_all(Connection& conn, const std::vector<BigTable>& tables, int jobs)
{
    auto block = conn.query("SELECT current_setting('block_size')");
    if (!block || block->empty() || block->front().empty()) {
        return fail(ErrorKind::failed, "plan the parallel dump", "", "cannot read block_size");
    }
    const std::uint64_t block_size = parse_u64(block->front().front()).value_or(8192);
    std::vector<Chunk> out;
    for (const auto& t : tables) {
        const std::string rel = quote_ident(t.schema) + "." + quote_ident(t.table);
        auto cols = conn.query("SELECT attname FROM pg_attribute WHERE attrelid = '" + rel +
                               "'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum");
        if (!cols) {
            return std::unexpected(cols.error());
        }
        auto size = conn.query("SELECT pg_relation_size('" + rel + "'::regclass)::text");
        if (!size || size->empty() || size->front().empty()) {
            return fail(ErrorKind::failed, "plan the parallel dump", rel, "cannot read its size");
        }
        std::vector<std::string> columns;
        for (const auto& c : *cols) {
            columns.push_back(c.at(0));
        }
        const std::uint64_t pages =
            parse_u64(size->front().front()).value_or(0) / std::max<std::uint64_t>(block_size, 1);
        auto chunks = plan_chunks(t.schema, t.table, columns, pages, jobs,
                                  std::max<std::uint64_t>(k_chunk_bytes / std::max<std::uint64_t>(block_size, 1), 1));
        out.insert(out.end(), chunks.begin(), chunks.end());
    }
    return out;
}

std::string table_key(const std::string& schema, const std::string& table)
{
    return schema + "." + table;
}

} // namespace

std::vector<Chunk> plan_chunks(const std::string& schema, const std::string& table,
                               const std::vector<std::string>& columns, std::uint64_t pages, int jobs,
                               std::uint64_t chunk_pages)
{
    chunk_pages = std::max<std::uint64_t>(chunk_pages, 1);
    const auto n = static_cast<std::uint64_t>(std::max(jobs, 1));
    // Several chunks per connection, a multiple of them, so that no connection is left copying the last
    // chunk alone while the others idle (measured: with one chunk more than connections, half the time).
    std::uint64_t count = std::max<std::uint64_t>(n * k_chunks_per_job, (pages + chunk_pages - 1) / chunk_pages);
    count = (count + n - 1) / n * n;
    count = std::max<std::uint64_t>(std::min(count, pages), 1);
    std::vector<Chunk> out;
    const std::uint64_t step = pages / count;
    const std::uint64_t extra = pages % count; // the first `extra` chunks get one page more
    std::uint64_t first = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        Chunk c{schema, table, columns, first, std::nullopt};
        first += step + (i < extra ? 1 : 0);
        if (i + 1 < count) {
            c.end_page = first;
        }
        out.push_back(std::move(c));
    }
    return out;
}

std::string chunk_copy_out_sql(const Chunk& c)
{
    std::string sql = "COPY (SELECT " + quoted_columns(c.columns) + " FROM ONLY " + quote_ident(c.schema) + "." +
                      quote_ident(c.table);
    std::string where;
    if (c.first_page > 0) {
        where = "ctid >= '(" + std::to_string(c.first_page) + ",0)'::tid";
    }
    if (c.end_page) {
        where += (where.empty() ? "" : " AND ") + std::string("ctid < '(") + std::to_string(*c.end_page) + ",0)'::tid";
    }
    return sql + (where.empty() ? "" : " WHERE " + where) + ") TO STDOUT";
}

std::string chunk_copy_in_sql(const Chunk& c)
{
    std::string sql = "COPY " + quote_ident(c.schema) + "." + quote_ident(c.table);
    if (!c.columns.empty()) {
        sql += " (" + quoted_columns(c.columns) + ")";
    }
    return sql + " FROM STDIN";
}

std::map<std::string, std::string> chunk_details(const Chunk& c)
{
    return {{"format", "copy-text"},
            {"client_encoding", "UTF8"},
            {"schema", c.schema},
            {"table", c.table},
            {"columns", nlohmann::json(c.columns).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)},
            {"first_page", std::to_string(c.first_page)},
            {"end_page", c.end_page ? std::to_string(*c.end_page) : ""},
            // For the shell restore of docs/format.md; dbkeep itself builds the statement from the names above.
            {"copy_sql", chunk_copy_in_sql(c)}};
}

Result<Chunk> chunk_from_details(const std::map<std::string, std::string>& d)
{
    auto bad = [](const std::string& why) { return fail(ErrorKind::corruption, "read part", "", why); };
    auto get = [&](const char* key) -> const std::string* {
        auto it = d.find(key);
        return it == d.end() ? nullptr : &it->second;
    };
    const auto* format = get("format");
    if (format == nullptr || *format != "copy-text") {
        return bad("a part of unknown format '" + (format ? *format : std::string()) + "'");
    }
    const auto *schema = get("schema"), *table = get("table"), *columns = get("columns"), *first = get("first_page"),
               *end = get("end_page");
    if (!schema || !table || !columns || !first || !end || schema->empty() || table->empty()) {
        return bad("a part without schema, table, columns or page range");
    }
    Chunk c;
    c.schema = *schema;
    c.table = *table;
    auto cols = nlohmann::json::parse(*columns, nullptr, false);
    if (cols.is_discarded() || !cols.is_array()) {
        return bad("a part whose columns are not a JSON array");
    }
    for (const auto& col : cols) {
        if (!col.is_string() || col.get<std::string>().empty()) {
            return bad("a part with a column that is not a name");
        }
        c.columns.push_back(col.get<std::string>());
    }
    auto f = parse_u64(*first);
    if (!f) {
        return bad("a part with first_page '" + *first + "'");
    }
    c.first_page = *f;
    if (!end->empty()) {
        auto e = parse_u64(*end);
        if (!e || *e <= *f) {
            return bad("a part with end_page '" + *end + "'");
        }
        c.end_page = *e;
    }
    return c;
}

Result<DumpInfo> dump_parallel(runner::Runner& runner, const Target& target, stream::Sink& out, PartWriter& parts)
{
    const auto& pg = target.postgres;
    if (pg.jobs <= 1) {
        return dump_database(runner, target, out);
    }
    if (!pg.exclude_tables.empty() || !pg.exclude_schemas.empty() || !pg.exclude_table_data.empty()) {
        // Which tables pg_dump's patterns match is pg_dump's to say (its pattern rules, its search_path):
        // rather than guess which split tables they leave out, the dump is the one stream pg_dump writes.
        observe::warn("jobs: exclude_tables, exclude_schemas and exclude_table_data make the dump one stream "
                      "(pg_dump alone applies its patterns); dumping without splitting tables",
                      {{"target", target.name}});
        return dump_database(runner, target, out);
    }
    if (!runner.local()) {
        observe::warn("jobs: a parallel dump needs a direct connection (runner: local); dumping in one stream",
                      {{"target", target.name}, {"runner", runner.describe()}});
        return dump_database(runner, target, out);
    }
    // The coordinating session: finds the big tables, locks them, then exports the snapshot every other
    // session imports, and holds both until everything has been copied.
    auto coordinator = open_session(runner, target, target_params(target));
    if (!coordinator) {
        return std::unexpected(coordinator.error());
    }
    auto& conn = **coordinator;
    auto big = find_big_tables(conn, pg.split_tables_larger_than);
    if (!big) {
        return wrap(big.error(), "find the tables to split of " + target.name);
    }
    if (big->empty()) {
        observe::info(
            "parallel dump: no table to split; dumping in one stream",
            {{"target", target.name}, {"split_tables_larger_than", std::to_string(pg.split_tables_larger_than)}});
        return dump_database(runner, target, out);
    }
    if (auto st = conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"); !st) {
        return std::unexpected(st.error());
    }
    // LOCK needs no snapshot: taken before the first query, the locks precede the snapshot, so a TRUNCATE (not
    // MVCC-safe) cannot commit between the two and leave a split table looking empty.
    std::string lock = "LOCK TABLE ";
    for (std::size_t i = 0; i < big->size(); ++i) {
        lock += (i ? ", " : "") + quote_ident((*big)[i].schema) + "." + quote_ident((*big)[i].table);
    }
    if (auto st = conn.exec(lock + " IN ACCESS SHARE MODE"); !st) {
        const std::string& m = st.error().message;
        if (m.find("lock timeout") != std::string::npos) {
            return std::unexpected(lock_timeout_error(runner, target, m));
        }
        return wrap(st.error(), "lock the tables to split of " + target.name);
    }
    auto snap = conn.query("SELECT pg_export_snapshot()");
    if (!snap || snap->empty() || snap->front().empty() || !valid_snapshot_id(snap->front().front())) {
        return snap ? fail(ErrorKind::failed, "export a snapshot of", target.name, "the server returned no id")
                    : std::unexpected(snap.error());
    }
    const std::string snapshot = snap->front().front();
    auto chunks = plan_all(conn, *big, pg.jobs);
    if (!chunks) {
        return std::unexpected(chunks.error());
    }
    observe::info("parallel dump", {{"target", target.name},
                                    {"jobs", std::to_string(pg.jobs)},
                                    {"split_tables", std::to_string(big->size())},
                                    {"chunks", std::to_string(chunks->size())}});

    FirstError errors;
    std::atomic<std::size_t> next{0};
    std::mutex rows_mutex;
    std::map<std::string, std::int64_t> rows_by_table;
    auto worker = [&] {
        auto session = open_session(runner, target, target_params(target));
        if (!session) {
            errors.set(session.error());
            return;
        }
        auto& c = **session;
        for (const char* st : {"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"}) {
            if (auto r = c.exec(st); !r) {
                errors.set(r.error());
                return;
            }
        }
        if (auto r = c.exec("SET TRANSACTION SNAPSHOT '" + snapshot + "'"); !r) {
            errors.set(r.error());
            return;
        }
        if (auto r = c.exec(k_dump_settings); !r) {
            errors.set(r.error());
            return;
        }
        for (std::size_t i = next++; i < chunks->size() && !errors.stop.load(); i = next++) {
            const Chunk& chunk = (*chunks)[i];
            auto part = parts.open_part();
            if (!part) {
                errors.set(part.error());
                return;
            }
            for (const auto& [k, v] : chunk_details(chunk)) {
                (*part)->set_detail(k, v);
            }
            StoppableSink guarded(**part, errors.stop);
            auto rows = c.copy_out(chunk_copy_out_sql(chunk), guarded);
            if (!rows) {
                (*part)->abort();
                errors.set(
                    wrap(rows.error(), "copy " + table_key(chunk.schema, chunk.table) + " of " + target.name).error());
                return;
            }
            (*part)->set_detail("rows", std::to_string(*rows));
            if (auto st = (*part)->finish(); !st) {
                errors.set(st.error());
                return;
            }
            const std::lock_guard guard(rows_mutex);
            rows_by_table[table_key(chunk.schema, chunk.table)] += *rows;
        }
        (void)c.exec("COMMIT");
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < pg.jobs; ++i) {
        threads.emplace_back(worker);
    }
    DumpPlan plan;
    plan.snapshot = snapshot;
    for (const auto& t : *big) {
        plan.exclude_table_data.emplace_back(t.schema, t.table);
    }
    StoppableSink guarded_out(out, errors.stop);
    auto info = dump_database(runner, target, guarded_out, plan);
    if (!info) {
        errors.set(info.error());
    }
    for (auto& t : threads) {
        t.join();
    }
    (void)conn.exec("COMMIT"); // the snapshot and the locks end here, after every session has copied
    if (cancel::requested()) {
        return fail_cancelled("dump", target.name);
    }
    if (auto e = errors.get()) {
        return std::unexpected(*e);
    }
    for (const auto& [table, rows] : rows_by_table) {
        info->stats[table] = rows;
    }
    info->details["parallel_jobs"] = std::to_string(pg.jobs);
    info->details["split_tables"] = std::to_string(big->size());
    info->details["parts"] = std::to_string(chunks->size());
    return info;
}

Status load_parts(const ConnectParams& params, const RestoreOptions& options)
{
    std::vector<Chunk> chunks;
    std::vector<std::int64_t> expected_rows;
    for (std::size_t i = 0; i < options.parts.size(); ++i) {
        auto c = chunk_from_details(options.parts[i]);
        if (!c) {
            auto e = c.error();
            e.object = "part " + std::to_string(i + 1);
            return std::unexpected(e);
        }
        chunks.push_back(std::move(*c));
        auto it = options.parts[i].find("rows");
        auto rows = it == options.parts[i].end() ? std::nullopt : parse_u64(it->second);
        expected_rows.push_back(rows ? static_cast<std::int64_t>(*rows) : -1);
    }
    if (!options.open_part) {
        return fail(ErrorKind::failed, "restore", params.what, "the backup's parts cannot be read");
    }
    FirstError errors;
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        auto session = connect(params);
        if (!session) {
            errors.set(session.error());
            return;
        }
        auto& c = **session;
        if (!options.role.empty()) {
            if (auto r = c.exec("SET ROLE " + quote_ident(options.role)); !r) {
                errors.set(r.error());
                return;
            }
        }
        if (auto r = c.exec(k_load_settings); !r) {
            errors.set(r.error());
            return;
        }
        for (std::size_t i = next++; i < chunks.size() && !errors.stop.load(); i = next++) {
            const std::string what =
                "part " + std::to_string(i + 1) + " (" + table_key(chunks[i].schema, chunks[i].table) + ")";
            auto in = options.open_part(i);
            if (!in) {
                errors.set(wrap(in.error(), "load " + what).error());
                return;
            }
            // One COPY statement per part, committed by the server only when the part ended cleanly (its
            // SHA-256 checked); an earlier failure ends it with an error and the server discards its rows.
            auto rows = c.copy_in(chunk_copy_in_sql(chunks[i]), **in);
            if (!rows) {
                errors.set(wrap(rows.error(), "load " + what).error());
                return;
            }
            if (expected_rows[i] >= 0 && *rows != expected_rows[i]) {
                errors.set(Error{ErrorKind::corruption, "load", what,
                                 "loaded " + std::to_string(*rows) + " rows, the manifest says " +
                                     std::to_string(expected_rows[i])});
                return;
            }
        }
    };
    std::vector<std::thread> threads;
    const int jobs = std::max(options.jobs, 1);
    for (int i = 0; i < jobs; ++i) {
        threads.emplace_back(worker);
    }
    for (auto& t : threads) {
        t.join();
    }
    if (cancel::requested()) {
        return fail_cancelled("restore", params.what);
    }
    if (auto e = errors.get()) {
        return std::unexpected(*e);
    }
    observe::info("loaded the parallel dump's parts",
                  {{"parts", std::to_string(chunks.size())}, {"jobs", std::to_string(jobs)}});
    return {};
}

} // namespace dbkeep::engine::pg
