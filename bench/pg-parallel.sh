#!/usr/bin/env bash
# Parallel PostgreSQL backup and restore benchmark (not a test). Usage: bench/pg-parallel.sh [ROWS] (default
# 20000000; 50000000 for the note's figure). A seed-like database: one big `events` table of ROWS rows plus a
# few small tables. Compares in one run:
#   floor          pg_dump -Fc -Z0 > /dev/null             (what reading the database costs on one connection)
#   pg_dump-gzip   pg_dump -Fc -f FILE                     (pg_dump's own compression: the output size to beat)
#   pg_dump-Fd-j2  pg_dump -Fd -j 2 -Z 1                   (pg_dump's own parallel dump: one table = one job)
#   dbkeep-jN      dbkeep backup with jobs: N, for N = 1 (one stream), 2 and the cores present
# and for restore: pg_restore -j 2 of the pg_dump-gzip file, dbkeep restore of the one-stream backup, and
# dbkeep restore --jobs N of the parallel backup. Prints wall time, CPU, peak RSS, output size and ratios.
set -euo pipefail
ROWS=${1:-20000000}
source "$(dirname "$0")/lib.sh"
bench_init dbkeep-bench-par
start_postgres -c shared_buffers=1GB -c max_wal_size=8GB -c checkpoint_timeout=30min -c max_connections=50
create_events_table "$ROWS"
psql -qAtX -d app <<'SQL'
CREATE TABLE accounts AS SELECT g AS id, 'account ' || g AS name, now() AS created FROM generate_series(1, 100000) g;
ALTER TABLE accounts ADD PRIMARY KEY (id);
CREATE TABLE settings AS SELECT 'key' || g AS k, md5(g::text) AS v FROM generate_series(1, 1000) g;
CREATE INDEX events_account ON events (account_id);
VACUUM ANALYZE;
SQL
CORES=$(nproc)
JOBS="1 2"
[ "$CORES" -gt 2 ] && JOBS="$JOBS $CORES"
for n in $JOBS; do
  cat > "$WORK/dbkeep-j$n.yaml" <<YAML
storages: { default: { type: local, path: $WORK/storage/j$n } }
targets: { app: { engine: postgres, url: "postgres://postgres@127.0.0.1:$PG_PORT/app", jobs: $n, split_tables_larger_than: 256MiB } }
YAML
done

measure floor sh -c "$PGBIN/pg_dump -Fc -Z0 -d app > /dev/null"
measure pg_dump-gzip "$PGBIN/pg_dump" -Fc -d app -f "$WORK/app.dump"
SIZE[pg_dump-gzip]=$(stat -c %s "$WORK/app.dump")
measure pg_dump-Fd-j2 "$PGBIN/pg_dump" -Fd -j 2 -Z 1 -d app -f "$WORK/app.dir"
SIZE[pg_dump-Fd-j2]=$(du -sb "$WORK/app.dir" | cut -f1)
rm -rf "$WORK/app.dir"
SIZE[floor]=$(psql -qAtX -d app -c "select pg_database_size('app')")
declare -A SELF_RSS
for n in $JOBS; do
  measure "dbkeep-j$n" "$DBKEEP" --config "$WORK/dbkeep-j$n.yaml" --json backup app
  SIZE[dbkeep-j$n]=$(find "$WORK/storage/j$n" -name '*.zst' -printf '%s\n' | awk '{s+=$1} END {print s}')
  SELF_RSS[$n]=$(grep -o '"peak_rss_kib":"[0-9]*"' "$WORK/err.dbkeep-j$n" | grep -o '[0-9]*')
done

# Restores, each into a new database.
measure pg_restore-j2 sh -c "$PGBIN/createdb r_pg && $PGBIN/pg_restore -j 2 -d r_pg $WORK/app.dump"
measure restore-j1 "$DBKEEP" --config "$WORK/dbkeep-j1.yaml" restore app --to "postgres://postgres@127.0.0.1:$PG_PORT/r_j1"
for n in $JOBS; do
  [ "$n" = 1 ] && continue
  measure "restore-j$n" "$DBKEEP" --config "$WORK/dbkeep-j$n.yaml" restore app --jobs "$n" \
    --to "postgres://postgres@127.0.0.1:$PG_PORT/r_j$n"
done
for db in r_pg r_j1 r_j2; do
  echo "$db: $(psql -qAtX -d $db -c 'select count(*) from events')" rows >&2
done

ratio() { echo "scale=2; $1 / $2" | bc; }
echo
echo "PostgreSQL parallel benchmark: $ROWS rows in events (+ 2 small tables), $CORES cores"
printf '%-14s %9s %9s %12s %12s\n' case wall_s cpu_s peak_rss_MiB output_MiB
for n in floor pg_dump-gzip pg_dump-Fd-j2 $(for j in $JOBS; do echo dbkeep-j$j; done); do
  printf '%-14s %9s %9s %12s %12s\n' "$n" "${WALL[$n]}" "${CPU[$n]}" "$(( ${RSS[$n]} / 1024 ))" \
    "$(echo "scale=1; ${SIZE[$n]} / 1048576" | bc)"
done
for n in pg_restore-j2 $(for j in $JOBS; do echo restore-j$j; done); do
  printf '%-14s %9s %9s %12s\n' "$n" "${WALL[$n]}" "${CPU[$n]}" "$(( ${RSS[$n]} / 1024 ))"
done
echo "(floor output column: database size on disk)"
for n in $JOBS; do
  echo "dbkeep jobs $n: backup/floor $(ratio "${WALL[dbkeep-j$n]}" "${WALL[floor]}"), size/pg_dump-gzip" \
       "$(ratio "${SIZE[dbkeep-j$n]}" "${SIZE[pg_dump-gzip]}"), own peak RSS $(( ${SELF_RSS[$n]} / 1024 )) MiB"
done
echo "targets (2 cores): parallel backup/floor <= 0.8 with size/pg_dump-gzip <= 1.0;" \
     "parallel restore/pg_restore-j2 <= 0.7"
echo "restore: dbkeep jobs 2 / pg_restore -j 2 $(ratio "${WALL[restore-j2]}" "${WALL[pg_restore-j2]}")," \
     "dbkeep one stream / pg_restore -j 2 $(ratio "${WALL[restore-j1]}" "${WALL[pg_restore-j2]}")," \
     "dbkeep jobs 2 / one stream $(ratio "${WALL[restore-j2]}" "${WALL[restore-j1]}")"
echo "scaling (backup wall by jobs): $(for j in $JOBS; do printf 'N=%s %ss  ' "$j" "${WALL[dbkeep-j$j]}"; done)"
