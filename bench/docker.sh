#!/usr/bin/env bash
# Runner overhead benchmark (not a test). Usage: bench/docker.sh [ROWS] (default 3000000)
# The same PostgreSQL table backed up in one run, twice each, alternating:
#   local   dbkeep runs pg_dump here (type: local)
#   docker  dbkeep runs pg_dump inside a container through the Docker Engine API (type: docker)
# The container shares the host's network and binaries, so the only difference is the runner: the exec and
# the multiplexed stream through dockerd. Prints wall and CPU time, dbkeep's RSS, and the docker/local ratio.
set -euo pipefail
ROWS=${1:-3000000}
source "$(dirname "$0")/lib.sh"
bench_init dbkeep-bench
export DOCKER_HOST="unix://$WORK/d.sock"
start_postgres -c shared_buffers=1GB
PORT=$PG_PORT
create_events_table "$ROWS"

dockerd --data-root "$WORK/docker" --exec-root "$WORK/exec" -H "$DOCKER_HOST" --pidfile "$WORK/d.pid" \
  --bridge=none --iptables=false --ip6tables=false >"$WORK/dockerd.log" 2>&1 &
DOCKERD=$!
# On exit: the container, then dockerd (waited for), then its leftover mounts below $WORK.
bench_on_exit "awk '{print \$2}' /proc/self/mounts | grep '^$WORK' | sort -r | xargs -r -n1 umount -l"
bench_on_exit "kill $DOCKERD && wait_for sh -c '! kill -0 $DOCKERD'"
bench_on_exit "docker rm -f bench"
wait_for docker version
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
