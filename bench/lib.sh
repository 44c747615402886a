# Shared by the benchmarks in bench/ (sourced, never run): the build, a work folder cleaned up on exit,
# free ports, waiting for a service, a throwaway PostgreSQL with the `events` table, s3rver, redis-server,
# and the wall/CPU/RSS measurement.
# shellcheck shell=bash

# Commands run on exit, newest first (each service registers its own stop; the work folder goes last).
BENCH_ON_EXIT=()
bench_on_exit() { BENCH_ON_EXIT=("$*" "${BENCH_ON_EXIT[@]}"); }
bench_cleanup() {
  local c
  for c in "${BENCH_ON_EXIT[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
}
trap bench_cleanup EXIT

# bench_init TAG: to the repository root, dependencies and the release dbkeep built; sets ROOT, DBKEEP and
# WORK (a fresh folder, removed on exit, readable by the postgres user).
bench_init() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  ROOT=$(pwd)
  bash scripts/install-deps.sh >/dev/null
  cmake --preset release >/dev/null && cmake --build --preset release --target dbkeep >/dev/null
  DBKEEP="$ROOT/build/release/dbkeep"
  WORK=$(mktemp -d "/tmp/$1-XXXXXX"); chmod 755 "$WORK"
  bench_on_exit "rm -rf '$WORK'"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_for COMMAND...: polls until the command succeeds; fails after 120 s (a service that never came up).
wait_for() {
  local deadline=$((SECONDS + 120))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then echo "timed out waiting for: $*" >&2; return 1; fi
    sleep 0.05
  done
}

# start_postgres [SERVER OPTIONS]: PostgreSQL 15 in $WORK/pg on a free port, stopped on exit; sets PGBIN,
# PG_PORT and exports PGHOST/PGPORT/PGUSER for psql.
PGBIN=/usr/lib/postgresql/15/bin
start_postgres() {
  PG_PORT=$(free_port)
  install -d -o postgres -g postgres "$WORK/pg"
  runuser -u postgres -- $PGBIN/initdb -D "$WORK/pg/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
  runuser -u postgres -- $PGBIN/pg_ctl -D "$WORK/pg/data" -l "$WORK/pg/log" -w \
    -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 $*" start >/dev/null
  bench_on_exit "runuser -u postgres -- $PGBIN/pg_ctl -D '$WORK/pg/data' -m fast -w stop"
  export PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres
}

# create_events_table ROWS: database app with an `events` table of ROWS rows of mixed types.
create_events_table() {
  psql -qAtX -c "CREATE DATABASE app"
  echo "generating $1 rows..." >&2
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
FROM generate_series(1, $1) g;
VACUUM ANALYZE events;
SQL
}

# The table shapes of bench/pg-shapes.sh (and `SHAPE=` of bench/pg.sh): one table each in database app.
BENCH_SHAPES="events mixed numeric text jsonb"
# create_shape_table SHAPE ROWS: database app with one table of ROWS rows of that shape; sets TABLE.
#   events   the app-like mix of bench/pg.sh (create_events_table)
#   mixed    bigint, int, timestamptz, numeric, a short status text and an md5 text (issue 17's slow case)
#   numeric  narrow numeric: bigint, int, numeric(12,2), numeric(14,4), float8
#   text     wide text: a ~50-byte title and a ~400-byte body of words, numbers and hashes per row
#   jsonb    jsonb documents with timestamps, beside two timestamptz columns
create_shape_table() {
  local shape=$1 rows=$2
  if [ "$shape" = events ]; then create_events_table "$rows"; TABLE=events; return; fi
  psql -qAtX -c "CREATE DATABASE app"
  echo "generating $rows rows of shape $shape..." >&2
  TABLE=$shape
  case $shape in
    mixed) psql -qAtX -d app <<SQL ;;
CREATE TABLE mixed (id bigint PRIMARY KEY, account_id int NOT NULL, created_at timestamptz NOT NULL,
  amount numeric(12,2), status text NOT NULL, token text);
INSERT INTO mixed SELECT g, g % 100000, timestamptz '2025-01-01' + (g || ' seconds')::interval, (g % 1000000) / 100.0,
       (ARRAY['new','paid','sent','done','void'])[1 + g % 5], md5(g::text)
FROM generate_series(1, $rows) g;
VACUUM ANALYZE mixed;
SQL
    numeric) psql -qAtX -d app <<SQL ;;
CREATE TABLE numeric (id bigint PRIMARY KEY, qty int NOT NULL, price numeric(12,2) NOT NULL,
  total numeric(14,4) NOT NULL, ratio float8);
INSERT INTO numeric SELECT g, g % 97, (g % 100003) / 100.0, (g % 100003) * (g % 97) / 10000.0,
       (g % 9973) / 9973.0
FROM generate_series(1, $rows) g;
VACUUM ANALYZE numeric;
SQL
    text) psql -qAtX -d app <<SQL ;;
CREATE TABLE text (id bigint PRIMARY KEY, title text NOT NULL, body text NOT NULL);
INSERT INTO text SELECT g, 'Order ' || g || ' for customer ' || (g % 100000) || ' (' || (ARRAY['web','shop','phone'])[1 + g % 3] || ')',
       concat_ws(' ', (ARRAY['The parcel left the warehouse and is on its way to the customer.',
                             'Payment was received by card; the invoice is attached to this order.',
                             'Customer asked to change the delivery address before shipping.',
                             'Item out of stock, a replacement was offered at the same price.',
                             'Returned goods were checked and the refund has been issued.'])[1 + g % 5],
                 'ref', md5(g::text), 'tracking', upper(substr(md5((g * 7)::text), 1, 18)),
                 (ARRAY['Left at the door.', 'Signed by the recipient.', 'Delivered to a neighbour.', 'Held at the depot.'])[1 + g % 4],
                 'Notes:', repeat('fragile ', g % 4), 'weight', (g % 5000) / 100.0, 'kg,', 'items', g % 9,
                 (ARRAY['Thank you for shopping with us, we hope to see you again soon.',
                        'Please contact support if anything is missing from the parcel.',
                        'This message was generated automatically; do not reply to it.'])[1 + g % 3])
FROM generate_series(1, $rows) g;
VACUUM ANALYZE text;
SQL
    jsonb) psql -qAtX -d app <<SQL ;;
CREATE TABLE jsonb (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, updated_at timestamptz, doc jsonb NOT NULL);
INSERT INTO jsonb SELECT g, timestamptz '2025-01-01' + (g || ' seconds')::interval,
       timestamptz '2025-01-01' + ((g + g % 86400) || ' seconds')::interval,
       jsonb_build_object('user_id', g % 100000, 'event', (ARRAY['view','click','cart','buy'])[1 + g % 4],
         'at', to_char(timestamptz '2025-01-01' + (g || ' seconds')::interval, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'session', md5(g::text), 'tags', jsonb_build_array('t' || g % 13, 't' || g % 7),
         'props', jsonb_build_object('price', (g % 100003) / 100.0, 'currency', 'EUR', 'qty', g % 5,
                                     'seen', to_char(timestamptz '2025-01-01' + (g % 999999 || ' seconds')::interval, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
FROM generate_series(1, $rows) g;
VACUUM ANALYZE jsonb;
SQL
    *) echo "unknown shape: $shape (one of: $BENCH_SHAPES)" >&2; return 1 ;;
  esac
}

# start_s3rver BUCKET: the SigV4-checking s3rver (scripts/install-deps.sh installs it) on a free port with
# one bucket, stopped on exit; sets S3PORT. Returns 1 when it is not installed.
S3RVER_MODULES=/opt/dbkeep-test/s3rver/node_modules
start_s3rver() {
  [ -d "$S3RVER_MODULES/@20minutes/s3rver" ] || return 1
  S3PORT=$(free_port)
  mkdir -p "$WORK/s3data"
  cat > "$WORK/s3.js" <<'JS'
const S3rver = require('@20minutes/s3rver');
new S3rver({ address: '127.0.0.1', port: +process.argv[2], directory: process.argv[3], silent: true, vhostBuckets: false,
  configureBuckets: [{ name: process.argv[4] }] }).run().catch(e => { console.error(e); process.exit(1); });
JS
  NODE_PATH=$S3RVER_MODULES node --openssl-legacy-provider "$WORK/s3.js" "$S3PORT" "$WORK/s3data" "$1" \
    >"$WORK/s3.log" 2>&1 &
  bench_on_exit "kill $!"
  wait_for curl -s -o /dev/null "http://127.0.0.1:$S3PORT/"
}

# start_redis DIR PORT [ARGS...]: a redis-server in DIR, killed on exit; returns once it answers.
start_redis() {
  local dir=$1 port=$2; shift 2
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize yes --pidfile "$dir/pid" \
    --logfile "$dir/log" --save '' --appendonly no --repl-diskless-sync-delay 0 "$@"
  bench_on_exit "stop_redis '$dir'"
  wait_for sh -c "redis-cli -p $port ping | grep -q PONG"
}
stop_redis() { [ -f "$1/pid" ] && kill -9 "$(cat "$1/pid")" 2>/dev/null || true; }

# measure NAME COMMAND...: runs the command with cold caches; WALL, CPU (user+sys incl. children) and RSS
# (the largest process's peak, KiB) keyed by NAME. Exits with the command's stderr when it fails.
declare -A WALL CPU RSS SIZE
measure() {
  local name=$1 wall user sys rss; shift
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time.$name" "$@" >/dev/null 2>"$WORK/err.$name" || { cat "$WORK/err.$name"; exit 1; }
  read -r wall user sys rss < "$WORK/time.$name"
  WALL[$name]=$wall; CPU[$name]=$(echo "$user + $sys" | bc); RSS[$name]=$rss
}
