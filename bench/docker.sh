#!/usr/bin/env bash
# Runner overhead benchmark (not a test). Usage: bench/docker.sh [ROWS] (default 3000000)
# The same PostgreSQL table backed up in one run, twice each, alternating:
#   local   dbkeep runs pg_dump here (type: local)
#   docker  dbkeep runs pg_dump inside a container through the Docker Engine API (type: docker)
# The container shares the host's network and binaries, so the only difference is the runner: the exec and
# the multiplexed stream through dockerd. Prints wall and CPU time, dbkeep's RSS, and the docker/local ratio.
set -euo pipefail
ROWS=${1:-3000000}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
bash scripts/install-deps.sh >/dev/null
cmake --preset release >/dev/null && cmake --build --preset release --target dbkeep >/dev/null
DBKEEP="$ROOT/build/release/dbkeep"
PGBIN=/usr/lib/postgresql/15/bin
WORK=$(mktemp -d /tmp/dbkeep-bench-XXXXXX); chmod 755 "$WORK"
export DOCKER_HOST="unix://$WORK/d.sock"
cleanup() {
  docker rm -f bench >/dev/null 2>&1 || true
  [ -f "$WORK/d.pid" ] && kill "$(cat "$WORK/d.pid")" 2>/dev/null && sleep 2
  runuser -u postgres -- $PGBIN/pg_ctl -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  awk '{print $2}' /proc/self/mounts | grep "^$WORK" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
install -d -o postgres -g postgres "$WORK/pg"
runuser -u postgres -- $PGBIN/initdb -D "$WORK/pg/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
runuser -u postgres -- $PGBIN/pg_ctl -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o "-p $PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c shared_buffers=1GB" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
psql -qAtX -c "CREATE DATABASE app"
echo "generating $ROWS rows..." >&2
psql -qAtX -d app <<SQL
CREATE TABLE events (id bigserial PRIMARY KEY, account_id int NOT NULL, created_at timestamptz NOT NULL,
  kind text NOT NULL, amount numeric(12,2), email text, payload jsonb, note text);
INSERT INTO events (account_id, created_at, kind, amount, email, payload, note)
SELECT g % 100000, timestamptz '2025-01-01' + (g || ' seconds')::interval,
       (ARRAY['signup','login','purchase','refund','logout'])[1 + g % 5], (g % 100000) / 100.0,
       'user' || (g % 100000) || '@example.com',
       jsonb_build_object('ip', '10.0.' || (g % 250) || '.' || (g % 200), 'agent', 'Mozilla/5.0', 'items', g % 7),
       CASE WHEN g % 10 = 0 THEN md5(g::text) END
FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE events;
SQL

dockerd --data-root "$WORK/docker" --exec-root "$WORK/exec" -H "$DOCKER_HOST" --pidfile "$WORK/d.pid" \
  --bridge=none --iptables=false --ip6tables=false >"$WORK/dockerd.log" 2>&1 &
for i in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p "$WORK/rootfs"/{bin,sbin,usr,lib,lib64,etc,tmp,proc,sys,dev,run}
cp /etc/passwd /etc/group "$WORK/rootfs/etc/"; chmod 1777 "$WORK/rootfs/tmp"
tar -C "$WORK/rootfs" -c . | docker import - dbkeep-bench:base >/dev/null
docker run -d --name bench --network host -v /usr:/usr:ro -v /etc:/etc:ro -v /lib:/lib:ro -v /lib64:/lib64:ro \
  -v /bin:/bin:ro dbkeep-bench:base sleep infinity >/dev/null

mkdir -p "$WORK/storage"
for r in local docker; do
  runner="{type: local}"
  [ "$r" = docker ] && runner="{type: docker, container: bench, host: \"$DOCKER_HOST\"}"
  cat > "$WORK/$r.yaml" <<YAML
storages: { default: { type: local, path: $WORK/storage/$r } }
targets: { app: { engine: postgres, url: "postgres://postgres@127.0.0.1:$PORT/app", runner: $runner } }
YAML
done

declare -A WALL CPU RSS
measure() { # NAME ROUND
  local name=$1
  rm -rf "$WORK/storage/$name"
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$DBKEEP" --config "$WORK/$name.yaml" --json backup app \
    >/dev/null 2>"$WORK/err.$name" || { cat "$WORK/err.$name"; exit 1; }
  read -r wall user sys rss < "$WORK/time"
  local cpu; cpu=$(echo "$user + $sys" | bc)
  if [ -z "${WALL[$name]:-}" ] || (( $(echo "$wall < ${WALL[$name]}" | bc) )); then
    WALL[$name]=$wall; CPU[$name]=$cpu
    RSS[$name]=$(grep -o '"peak_rss_kib":"[0-9]*"' "$WORK/err.$name" | grep -o '[0-9]*')
  fi
}
for round in 1 2; do measure local; measure docker; done

echo
echo "Runner benchmark: PostgreSQL $ROWS rows, $(nproc) cores, best of 2 each"
printf '%-8s %9s %9s %16s\n' runner wall_s cpu_s dbkeep_rss_MiB
for n in local docker; do
  printf '%-8s %9s %9s %16s\n' "$n" "${WALL[$n]}" "${CPU[$n]}" "$(( ${RSS[$n]} / 1024 ))"
done
echo "ratio docker/local wall $(echo "scale=3; ${WALL[docker]} / ${WALL[local]}" | bc) (target <= 1.10)"
