#!/usr/bin/env bash
# PostgreSQL backup benchmark (not a test). Usage: [SHAPE=events] bench/pg.sh [ROWS] (default 5000000; 50000000
# for the full run; SHAPE: one of the table shapes of bench/lib.sh, see bench/pg-shapes.sh for all of them)
# Compares on the same table in one run:
#   floor     pg_dump -Fc -Z0 > /dev/null                  (what reading the database costs)
#   replaced  pg_dump -Fc -f FILE; cp FILE STORAGE/        (the workflow dbkeep replaces)
#   zstd-cli  pg_dump -Fc -Z0 | zstd -3 -T2 > FILE          (a hand-made pipe, for reference)
#   dbkeep    dbkeep backup                                 (zstd + SHA-256 streaming into local storage)
#   dbkeep+age  the same with age encryption to one X25519 recipient
#   dbkeep-s3   the same into a local S3-compatible server (s3rver), when it is installed
# and prints wall time, CPU time, peak RSS, output size, and ratios.
set -euo pipefail
export BENCH_S3_SECRET=S3RVER   # the local s3rver's secret, passed as ${ENV} like any secret
ROWS=${1:-5000000}
source "$(dirname "$0")/lib.sh"
bench_init dbkeep-bench
start_postgres -c shared_buffers=1GB
PORT=$PG_PORT
create_shape_table "${SHAPE:-events}" "$ROWS"
mkdir -p "$WORK/storage"
cat > "$WORK/dbkeep.yaml" <<YAML
storages: { default: { type: local, path: $WORK/storage/dbkeep } }
targets: { app: { engine: postgres, url: "postgres://postgres@127.0.0.1:$PORT/app" } }
YAML

if start_s3rver bench; then
  HAVE_S3=1
  cat > "$WORK/dbkeep-s3.yaml" <<YAML
storages: { s3: { type: s3, bucket: bench, endpoint: "http://127.0.0.1:$S3PORT", access_key_id: S3RVER, secret_access_key: "\${BENCH_S3_SECRET}" } }
targets: { app: { engine: postgres, url: "postgres://postgres@127.0.0.1:$PORT/app" } }
YAML
fi
RECIPIENT=$("$DBKEEP" keygen -o "$WORK/key.txt" 2>/dev/null)
cat > "$WORK/dbkeep-age.yaml" <<YAML
storages: { default: { type: local, path: $WORK/storage/dbkeep-age } }
targets: { app: { engine: postgres, url: "postgres://postgres@127.0.0.1:$PORT/app", encryption: { recipients: [$RECIPIENT] } } }
YAML

measure floor sh -c "$PGBIN/pg_dump -Fc -Z0 -d app > /dev/null"
measure replaced sh -c "$PGBIN/pg_dump -Fc -d app -f $WORK/app.dump && mkdir -p $WORK/storage/replaced && cp $WORK/app.dump $WORK/storage/replaced/ && rm $WORK/app.dump"
SIZE[replaced]=$(du -b "$WORK"/storage/replaced/app.dump | cut -f1)
measure zstd-cli sh -c "$PGBIN/pg_dump -Fc -Z0 -d app | zstd -q -3 -T2 > $WORK/storage/app.dump.zst"
SIZE[zstd-cli]=$(du -b "$WORK/storage/app.dump.zst" | cut -f1)
measure dbkeep "$DBKEEP" --config "$WORK/dbkeep.yaml" --json backup app
SIZE[dbkeep]=$(find "$WORK/storage/dbkeep" -name '*.pgdump.zst' -printf '%s\n')
SELF_RSS=$(grep -o '"peak_rss_kib":"[0-9]*"' "$WORK/err.dbkeep" | grep -o '[0-9]*')
measure dbkeep+age "$DBKEEP" --config "$WORK/dbkeep-age.yaml" --json backup app
SIZE[dbkeep+age]=$(find "$WORK/storage/dbkeep-age" -name '*.pgdump.zst.age' -printf '%s\n')
CASES="floor replaced zstd-cli dbkeep dbkeep+age"
if [ -n "${HAVE_S3:-}" ]; then
  measure dbkeep-s3 "$DBKEEP" --config "$WORK/dbkeep-s3.yaml" --json backup app
  SIZE[dbkeep-s3]=$(grep -o '"stored_bytes":"[0-9]*"' "$WORK/err.dbkeep-s3" | grep -o '[0-9]*')
  S3_RSS=$(grep -o '"peak_rss_kib":"[0-9]*"' "$WORK/err.dbkeep-s3" | grep -o '[0-9]*')
  CASES="$CASES dbkeep-s3"
fi
SIZE[floor]=$(psql -qAtX -d app -c "select pg_total_relation_size('$TABLE')")

echo
echo "PostgreSQL backup benchmark: $ROWS rows of shape ${SHAPE:-events}, $(nproc) cores"
printf '%-10s %9s %9s %12s %14s\n' case wall_s cpu_s peak_rss_MiB output_MiB
for n in $CASES; do
  printf '%-10s %9s %9s %12s %14s\n' "$n" "${WALL[$n]}" "${CPU[$n]}" "$(( ${RSS[$n]} / 1024 ))" "$(echo "scale=1; ${SIZE[$n]} / 1048576" | bc)"
done
echo "(floor output column: table size on disk)"
echo "dbkeep's own peak RSS: $(( SELF_RSS / 1024 )) MiB (target < 64 MiB)"
[ -n "${S3_RSS:-}" ] && echo "dbkeep's own peak RSS into S3: $(( S3_RSS / 1024 )) MiB; S3/local wall $(echo "scale=2; ${WALL[dbkeep-s3]} / ${WALL[dbkeep]}" | bc)"
echo "ratios: dbkeep/floor wall $(echo "scale=2; ${WALL[dbkeep]} / ${WALL[floor]}" | bc) (target <= 1.2)," \
     "dbkeep/replaced wall $(echo "scale=2; ${WALL[dbkeep]} / ${WALL[replaced]}" | bc)," \
     "dbkeep/replaced size $(echo "scale=2; ${SIZE[dbkeep]} / ${SIZE[replaced]}" | bc) (target <= 1.0)," \
     "encrypted/plain wall $(echo "scale=2; ${WALL[dbkeep+age]} / ${WALL[dbkeep]}" | bc) (target <= 1.10)"
