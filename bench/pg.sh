#!/usr/bin/env bash
# PostgreSQL backup benchmark (not a test). Usage: bench/pg.sh [ROWS] (default 5000000; 50000000 for the full run)
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
cd "$(dirname "$0")/.."
ROOT=$(pwd)
bash scripts/install-deps.sh >/dev/null
cmake --preset release >/dev/null && cmake --build --preset release --target dbkeep >/dev/null
DBKEEP="$ROOT/build/release/dbkeep"
PGBIN=/usr/lib/postgresql/15/bin
WORK=$(mktemp -d /tmp/dbkeep-bench-XXXXXX); chmod 755 "$WORK"
cleanup() { runuser -u postgres -- $PGBIN/pg_ctl -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
install -d -o postgres -g postgres "$WORK/pg"
runuser -u postgres -- $PGBIN/initdb -D "$WORK/pg/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
runuser -u postgres -- $PGBIN/pg_ctl -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o "-p $PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c shared_buffers=1GB" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
psql -qAtX -c "CREATE DATABASE app"
echo "generating $ROWS rows..." >&2
psql -qAtX -d app <<SQL
CREATE TABLE events (
  id bigserial PRIMARY KEY, account_id int NOT NULL, created_at timestamptz NOT NULL, kind text NOT NULL,
  amount numeric(12,2), email text, payload jsonb, note text);
INSERT INTO events (account_id, created_at, kind, amount, email, payload, note)
SELECT g % 100000, timestamptz '2025-01-01' + (g || ' seconds')::interval,
       (ARRAY['signup','login','purchase','refund','logout'])[1 + g % 5], (g % 100000) / 100.0,
       'user' || (g % 100000) || '@example.com',
       jsonb_build_object('ip', '10.0.' || (g % 250) || '.' || (g % 200), 'agent', 'Mozilla/5.0', 'items', g % 7),
       CASE WHEN g % 10 = 0 THEN md5(g::text) END
FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE events;
SQL
mkdir -p "$WORK/storage"
cat > "$WORK/dbkeep.yaml" <<YAML
storages: { default: { type: local, path: $WORK/storage/dbkeep } }
targets: { app: { engine: postgres, url: "postgres://postgres@127.0.0.1:$PORT/app" } }
YAML

S3DIR=/opt/dbkeep-test/s3rver/node_modules
if [ -d "$S3DIR/@20minutes/s3rver" ]; then
  S3PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$WORK/s3data"
  cat > "$WORK/s3.js" <<'JS'
const S3rver = require('@20minutes/s3rver');
new S3rver({ address: '127.0.0.1', port: +process.argv[2], directory: process.argv[3], silent: true, vhostBuckets: false,
  configureBuckets: [{ name: 'bench' }] }).run().catch(e => { console.error(e); process.exit(1); });
JS
  NODE_PATH=$S3DIR node --openssl-legacy-provider "$WORK/s3.js" "$S3PORT" "$WORK/s3data" >/dev/null 2>&1 &
  S3PID=$!
  trap 'kill $S3PID 2>/dev/null; cleanup' EXIT
  for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$S3PORT/" && break; sleep 0.1; done
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

# measure NAME COMMAND...: wall seconds, CPU seconds (user+sys incl. children), peak RSS (largest process)
declare -A WALL CPU RSS SIZE
measure() {
  local name=$1; shift
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time.$name" "$@" >/dev/null 2>"$WORK/err.$name" || { cat "$WORK/err.$name"; exit 1; }
  read -r wall user sys rss < "$WORK/time.$name"
  WALL[$name]=$wall; CPU[$name]=$(echo "$user + $sys" | bc); RSS[$name]=$rss
}
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
if [ -n "${S3PID:-}" ]; then
  measure dbkeep-s3 "$DBKEEP" --config "$WORK/dbkeep-s3.yaml" --json backup app
  SIZE[dbkeep-s3]=$(grep -o '"stored_bytes":"[0-9]*"' "$WORK/err.dbkeep-s3" | grep -o '[0-9]*')
  S3_RSS=$(grep -o '"peak_rss_kib":"[0-9]*"' "$WORK/err.dbkeep-s3" | grep -o '[0-9]*')
  CASES="$CASES dbkeep-s3"
fi
SIZE[floor]=$(psql -qAtX -d app -c "select pg_total_relation_size('events')")

echo
echo "PostgreSQL backup benchmark: $ROWS rows, $(nproc) cores"
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
