#!/usr/bin/env bash
# dbkeep's main job on an embedded default: installs and builds, starts a throwaway PostgreSQL 15 and Redis 7
# on loopback ports in a temp dir, loads small sample data, backs both up to a local directory, lists the
# backups, restores into a new database / a second Redis, compares row counts and Redis digests, and stops
# everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
bash scripts/install-deps.sh
WORK=$(mktemp -d /tmp/dbkeep-demo-XXXXXX)
chmod 755 "$WORK"   # the postgres user must reach its data folder
# DBKEEP_BIN runs the demo with an installed dbkeep (CI does so with the .deb it built) instead of building one.
if [ -n "${DBKEEP_BIN:-}" ]; then
  DBKEEP=$DBKEEP_BIN
else
  echo "== building dbkeep (release)"
  if ! { cmake --preset release && cmake --build --preset release -j "$(nproc)" --target dbkeep; } >"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log"; exit 1
  fi
  DBKEEP="$ROOT/build/release/dbkeep"
fi
"$DBKEEP" --version
PGBIN=/usr/lib/postgresql/15/bin
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() {
  [ -f "$WORK/pg/data/postmaster.pid" ] && runuser -u postgres -- $PGBIN/pg_ctl -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1
  for d in redis redis2; do [ -f "$WORK/$d/pid" ] && kill "$(cat "$WORK/$d/pid")" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== starting a throwaway PostgreSQL 15 in $WORK"
install -d -o postgres -g postgres "$WORK/pg"
runuser -u postgres -- $PGBIN/initdb -D "$WORK/pg/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
PGPORT=$(free_port)
runuser -u postgres -- $PGBIN/pg_ctl -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
PSQL=(psql -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -qAtX)
"${PSQL[@]}" -c "CREATE DATABASE shop"
"${PSQL[@]}" -d shop <<'SQL'
CREATE TABLE customers (id serial PRIMARY KEY, name text, email text, created timestamptz DEFAULT now());
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2), items jsonb);
INSERT INTO customers (name, email) SELECT 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 20000) g;
INSERT INTO orders (customer_id, total, items)
  SELECT 1 + g % 20000, (g % 997) * 1.5, jsonb_build_array(jsonb_build_object('sku', g % 50, 'qty', 1 + g % 4))
  FROM generate_series(1, 100000) g;
SQL

echo "== starting a throwaway Redis 7"
mkdir -p "$WORK/redis" "$WORK/redis2"
RPORT=$(free_port); RPORT2=$(free_port)
for p in "$RPORT:$WORK/redis" "$RPORT2:$WORK/redis2"; do
  redis-server --port "${p%%:*}" --bind 127.0.0.1 --dir "${p#*:}" --daemonize yes --pidfile "${p#*:}/pid" \
    --logfile "${p#*:}/log" --save '' --appendonly no --repl-diskless-sync-delay 0 --enable-debug-command yes
done
for i in $(seq 100); do redis-cli -p "$RPORT2" ping >/dev/null 2>&1 && redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
for i in $(seq 1 5000); do echo "SET session:$i user-$((i % 300))"; done | redis-cli -p "$RPORT" >/dev/null
redis-cli -p "$RPORT" HSET cart:1 sku-1 2 sku-7 1 >/dev/null
redis-cli -p "$RPORT" ZADD leaderboard 10 alice 20 bob >/dev/null

cat > "$WORK/dbkeep.yaml" <<YAML
storages:
  default:
    type: local
    path: $WORK/backups
targets:
  shop:
    engine: postgres
    url: postgres://postgres@127.0.0.1:$PGPORT/shop
    keep: { daily: 7 }
  cache:
    engine: redis
    url: redis://127.0.0.1:$RPORT
    keep: { last: 3 }
YAML

echo "== dbkeep backup"
"$DBKEEP" --config "$WORK/dbkeep.yaml" backup
echo "== dbkeep list"
"$DBKEEP" --config "$WORK/dbkeep.yaml" list
echo "== dbkeep restore shop --to postgres://.../shop_restored"
"$DBKEEP" --config "$WORK/dbkeep.yaml" restore shop --to "postgres://postgres@127.0.0.1:$PGPORT/shop_restored"

echo "== dbkeep restore cache --to redis://.../ (a second, empty Redis)"
"$DBKEEP" --config "$WORK/dbkeep.yaml" restore cache --to "redis://127.0.0.1:$RPORT2" --flush --yes

echo "== row counts: original vs restored"
status=0
for t in customers orders; do
  a=$("${PSQL[@]}" -d shop -c "SELECT count(*) FROM $t")
  b=$("${PSQL[@]}" -d shop_restored -c "SELECT count(*) FROM $t")
  printf '%-10s %8s %8s %s\n' "$t" "$a" "$b" "$([ "$a" = "$b" ] && echo same || echo DIFFERENT)"
  [ "$a" = "$b" ] || status=1
done
a=$(redis-cli -p "$RPORT" DEBUG DIGEST); b=$(redis-cli -p "$RPORT2" DEBUG DIGEST)
printf '%-10s %8s %8s %s\n' "redis keys" "$(redis-cli -p "$RPORT" DBSIZE)" "$(redis-cli -p "$RPORT2" DBSIZE)" "$([ "$a" = "$b" ] && echo "same digest" || echo DIFFERENT)"
[ "$a" = "$b" ] || status=1
[ $status -eq 0 ] && echo "demo: backup, list and restore worked; row counts and Redis digests match" || echo "demo: restored data differs"
exit $status
