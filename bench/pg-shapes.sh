#!/usr/bin/env bash
# PostgreSQL backup benchmark across table shapes (not a test). Usage: bench/pg-shapes.sh [ROWS] [SHAPES...]
# (default 2000000 rows of each shape in bench/lib.sh's BENCH_SHAPES; issue 17's figures use 10000000).
# For each shape, on a fresh database holding one table of that shape:
#   floor   pg_dump -Fc -Z0 > /dev/null         (what reading the database costs)
#   gzip    pg_dump -Fc -f FILE                  (pg_dump's own compression, its default level: the size to beat)
#   dbkeep  dbkeep backup                        (zstd + SHA-256 streaming into local storage)
#   before  the same with BENCH_BASELINE=/path/to/an/older/dbkeep, when set (before/after in one run)
# floor and dbkeep (and before) run BENCH_REPEAT times (default 1), interleaved; the fastest run counts.
# Prints per shape the wall times, dbkeep/floor, and the output size against pg_dump's gzip output.
set -euo pipefail
ROWS=${1:-2000000}
shift || true
source "$(dirname "$0")/lib.sh"
SHAPES=${*:-$BENCH_SHAPES}
REPEAT=${BENCH_REPEAT:-1}
BASELINE=${BENCH_BASELINE:-}
bench_init dbkeep-shapes
start_postgres -c shared_buffers=1GB
cat > "$WORK/dbkeep.yaml" <<YAML
storages: { default: { type: local, path: $WORK/storage } }
targets: { app: { engine: postgres, url: "postgres://postgres@127.0.0.1:$PG_PORT/app" } }
YAML

# backup NAME BINARY: one dbkeep backup measured as NAME; its stored size in SIZE[NAME]; the storage emptied.
backup() {
  measure "$1" "$2" --config "$WORK/dbkeep.yaml" --json backup app
  SIZE[$1]=$(grep -o '"stored_bytes":"[0-9]*"' "$WORK/err.$1" | grep -o '[0-9]*')
  rm -rf "$WORK/storage"
}
# best NAME: keeps the fastest of the repeated runs in BEST[NAME].
declare -A BEST
best() { if [ -z "${BEST[$1]:-}" ] || [ "$(echo "${WALL[$1]} < ${BEST[$1]}" | bc)" = 1 ]; then BEST[$1]=${WALL[$1]}; fi; }
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
mib() { echo "scale=1; $1 / 1048576" | bc | sed 's/^\./0./'; }

declare -A R_FLOOR R_DBKEEP R_BEFORE R_SIZE R_BSIZE R_GZIP R_GZIP_S R_RAW
for shape in $SHAPES; do
  psql -qAtX -c "DROP DATABASE IF EXISTS app"
  create_shape_table "$shape" "$ROWS"
  BEST=()
  measure gzip sh -c "$PGBIN/pg_dump -Fc -d app -f $WORK/app.dump"
  R_GZIP[$shape]=$(du -b "$WORK/app.dump" | cut -f1); R_GZIP_S[$shape]=${WALL[gzip]}; rm -f "$WORK/app.dump"
  for ((i = 0; i < REPEAT; i++)); do
    measure floor sh -c "$PGBIN/pg_dump -Fc -Z0 -d app > /dev/null"; best floor
    backup dbkeep "$DBKEEP"; best dbkeep
    if [ -n "$BASELINE" ]; then backup before "$BASELINE"; best before; fi
  done
  R_RAW[$shape]=$(grep -o '"raw_bytes":"[0-9]*"' "$WORK/err.dbkeep" | grep -o '[0-9]*' || echo 0)
  R_FLOOR[$shape]=${BEST[floor]}; R_DBKEEP[$shape]=${BEST[dbkeep]}; R_SIZE[$shape]=${SIZE[dbkeep]}
  if [ -n "$BASELINE" ]; then R_BEFORE[$shape]=${BEST[before]}; R_BSIZE[$shape]=${SIZE[before]}; fi
  echo "$shape: floor ${BEST[floor]} s, dbkeep ${BEST[dbkeep]} s${BASELINE:+, before ${BEST[before]:-} s}" >&2
done

echo
echo "PostgreSQL backup by table shape: $ROWS rows each, $(nproc) cores, best of $REPEAT"
HDR='%-8s %9s %8s %9s %8s %11s %9s %8s %8s'
printf "$HDR" shape dump_MiB floor_s dbkeep_s dbk/flr dbkeep_MiB gzip_MiB size/gz gzip_s
[ -n "$BASELINE" ] && printf ' %9s %8s %11s' before_s bef/flr before_MiB
echo
for shape in $SHAPES; do
  printf "$HDR" "$shape" "$(mib "${R_RAW[$shape]}")" "${R_FLOOR[$shape]}" "${R_DBKEEP[$shape]}" \
    "$(ratio "${R_DBKEEP[$shape]}" "${R_FLOOR[$shape]}")" "$(mib "${R_SIZE[$shape]}")" "$(mib "${R_GZIP[$shape]}")" \
    "$(ratio "${R_SIZE[$shape]}" "${R_GZIP[$shape]}")" "${R_GZIP_S[$shape]}"
  [ -n "$BASELINE" ] && printf ' %9s %8s %11s' "${R_BEFORE[$shape]}" "$(ratio "${R_BEFORE[$shape]}" "${R_FLOOR[$shape]}")" \
    "$(mib "${R_BSIZE[$shape]}")"
  echo
done
echo "targets: dbk/flr <= 1.10 and size/gz <= 1.00 on every shape (dump_MiB: pg_dump's uncompressed archive)"
