#!/usr/bin/env bash
# Builds the container image (Dockerfile, runtime stage) from a prebuilt .deb with a throwaway dockerd and
# runs it against a PostgreSQL 15 and a Redis 7 started here on loopback: a backup of each into an S3 server
# (@20minutes/s3rver), then a restore from the image into fresh databases compared with the source (row
# count, DBSIZE and a value), then the daemon (the image's default command) until its HEALTHCHECK says
# healthy. Prints the image size.
#
#   sudo bash scripts/test-image.sh                   # the .deb: build/package/dbkeep_*.deb (cpack -G DEB)
#   sudo DBKEEP_DEB=/path/dbkeep_0.1.0_amd64.deb bash scripts/test-image.sh
#   sudo DBKEEP_IMAGE_BUILD_ARGS='--build-arg PG_MAJORS=16' bash scripts/test-image.sh   # more docker build args
#     (PG_MAJORS needs apt.postgresql.org, which is not reachable from CI here)
#
# No image registry is reachable here: a debootstrapped Debian 12 minbase root (cached in
# $DBKEEP_TEST_CACHE, default /var/cache/dbkeep-test) is imported as debian:bookworm and
# debian:bookworm-slim. `docker build` reaches Debian's apt repositories through --network host.
# BuildKit (DOCKER_BUILDKIT=1, Debian's docker.io 20.10 client) must skip the compile stage: checked.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { echo "test-image: $*" >&2; }
die() { say "FAIL: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (dockerd, debootstrap, initdb as the postgres user)"
for p in dockerd debootstrap redis-server redis-cli psql node; do
  command -v "$p" >/dev/null || die "$p missing: run scripts/install-deps.sh (and apt-get install debootstrap)"
done
DOCKER=/usr/bin/docker # Debian's client: its built-in BuildKit works with dockerd 20.10 without buildx
[ -x "$DOCKER" ] || die "/usr/bin/docker (Debian docker.io) missing"
PGBIN=/usr/lib/postgresql/15/bin
S3RVER_DIR=${DBKEEP_S3RVER_DIR:-/opt/dbkeep-test/s3rver}
[ -f "$S3RVER_DIR/node_modules/@20minutes/s3rver/package.json" ] || die "s3rver missing: run scripts/install-deps.sh"

# --- the .deb, where the Dockerfile's DEB_FROM=context stage takes it from
copied_deb=
if [ -n "${DBKEEP_DEB:-}" ]; then
  [ -f "$DBKEEP_DEB" ] || die "DBKEEP_DEB=$DBKEEP_DEB does not exist"
  mkdir -p build/package
  if [ "$(realpath "$DBKEEP_DEB")" != "$(realpath -m "build/package/$(basename "$DBKEEP_DEB")")" ]; then
    cp "$DBKEEP_DEB" build/package/ && copied_deb=build/package/$(basename "$DBKEEP_DEB")
  fi
fi
debs=(build/package/dbkeep_*.deb)
[ -f "${debs[0]}" ] || die "no build/package/dbkeep_*.deb: cmake -S . -B build/package -G Ninja \
-DCMAKE_BUILD_TYPE=Release -DDBKEEP_BUILD_TESTS=OFF && cmake --build build/package && (cd build/package && cpack -G DEB)"
[ "${#debs[@]}" -eq 1 ] || die "several .deb in build/package: keep one (${debs[*]})"
say "package ${debs[0]}: $(dpkg-deb -f "${debs[0]}" Depends)"

# --- the base images: Debian 12 minbase, debootstrapped once, and a slim variant made the way the official
# debian:bookworm-slim is (dpkg path-excludes for docs, man pages and locales, and those files removed)
CACHE=${DBKEEP_TEST_CACHE:-/var/cache/dbkeep-test}
ROOT_TAR=$CACHE/bookworm-minbase.tar SLIM_TAR=$CACHE/bookworm-minbase-slim.tar
if [ ! -s "$ROOT_TAR" ]; then
  say "debootstrap --variant=minbase bookworm (once, cached in $ROOT_TAR)"
  mkdir -p "$CACHE"; rm -rf "$CACHE/rootfs.tmp"
  debootstrap --variant=minbase bookworm "$CACHE/rootfs.tmp" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 ||
    die "debootstrap failed: $CACHE/debootstrap.log"
  rm -rf "$CACHE/rootfs.tmp/var/cache/apt/archives/"*.deb "$CACHE/rootfs.tmp/var/lib/apt/lists/"*
  tar -C "$CACHE/rootfs.tmp" -cf "$ROOT_TAR.tmp" . && mv "$ROOT_TAR.tmp" "$ROOT_TAR" && rm -rf "$CACHE/rootfs.tmp"
fi
if [ ! -s "$SLIM_TAR" ]; then
  rm -rf "$CACHE/slim.tmp"; mkdir -p "$CACHE/slim.tmp"; tar -C "$CACHE/slim.tmp" -xf "$ROOT_TAR"
  cat >"$CACHE/slim.tmp/etc/dpkg/dpkg.cfg.d/docker" <<'EOF2'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF2
  find "$CACHE/slim.tmp/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$CACHE/slim.tmp/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$CACHE/slim.tmp/usr/share/"{man,groff,info,lintian,linda,locale}/*
  tar -C "$CACHE/slim.tmp" -cf "$SLIM_TAR.tmp" . && mv "$SLIM_TAR.tmp" "$SLIM_TAR" && rm -rf "$CACHE/slim.tmp"
fi

W=$(mktemp -d /tmp/dbkeep-image.XXXXXX)
chmod 755 "$W"
dockerd_pid= s3_pid= pg_up= redis_ports=()
cleanup() {
  set +e
  if [ -n "$dockerd_pid" ]; then
    ids=$($DOCKER ps -aq 2>/dev/null); [ -z "$ids" ] || $DOCKER rm -f $ids >/dev/null 2>&1
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$dockerd_pid" 2>/dev/null
  fi
  [ -n "$s3_pid" ] && kill "$s3_pid" 2>/dev/null
  for p in "${redis_ports[@]}"; do redis-cli -p "$p" -a "$REDIS_PASSWORD" --no-auth-warning shutdown nosave >/dev/null 2>&1; done
  [ -n "$pg_up" ] && runuser -u postgres -- $PGBIN/pg_ctl -D "$W/pg/data" -m fast -w stop >/dev/null 2>&1
  awk '{print $2}' /proc/self/mounts | grep "^$W/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$W"
  [ -n "$copied_deb" ] && rm -f "$copied_deb"
  true
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- dockerd, private to this run
dockerd --data-root "$W/data" --exec-root "$W/exec" -H "unix://$W/docker.sock" --pidfile "$W/docker.pid" \
  --bridge=none --iptables=false --ip6tables=false --shutdown-timeout 2 >"$W/dockerd.log" 2>&1 &
dockerd_pid=$!
export DOCKER_HOST=unix://$W/docker.sock
for _ in $(seq 200); do $DOCKER version >/dev/null 2>&1 && break; kill -0 "$dockerd_pid" || break; sleep 0.1; done
$DOCKER version >/dev/null 2>&1 || { cat "$W/dockerd.log" >&2; die "dockerd did not start"; }
$DOCKER import "$ROOT_TAR" debian:bookworm >/dev/null
$DOCKER import "$SLIM_TAR" debian:bookworm-slim >/dev/null

# --- the image, from the prebuilt .deb
say "docker build (DEB_FROM=context)"
tb=$(date +%s)
if ! DOCKER_BUILDKIT=1 $DOCKER build --network host --progress plain --build-arg DEB_FROM=context \
  --build-arg REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  ${DBKEEP_IMAGE_BUILD_ARGS:-} -t dbkeep:test . >"$W/build.log" 2>&1; then
  tail -40 "$W/build.log" >&2; die "docker build failed"
fi
say "built in $(($(date +%s) - tb)) s"
if grep -q -e 'cmake --build' -e 'build-essential' "$W/build.log"; then
  die "BuildKit ran the compile stage although DEB_FROM=context"
fi
size=$($DOCKER image inspect --format '{{.Size}}' dbkeep:test)
say "image dbkeep:test: $((size / 1000000)) MB ($size bytes)"
$DOCKER run --rm --network none --entrypoint sh dbkeep:test -c \
  "dpkg-query -Wf '\${Installed-Size} \${Package}\n' | sort -rn | head -8 | awk '{printf \"  %6.1f MB %s\\n\", \$1/1024, \$2}'" >&2
[ "$($DOCKER image inspect --format '{{.Config.User}}' dbkeep:test)" = "10001:10001" ] || die "image does not run as 10001"
labels=$($DOCKER image inspect --format '{{json .Config.Labels}}' dbkeep:test)
say "labels $labels"
for l in title version revision base.name; do
  echo "$labels" | grep -q "\"org.opencontainers.image.$l\":\"[^\"]" || die "OCI label org.opencontainers.image.$l missing or empty"
done
$DOCKER run --rm --network none dbkeep:test --version
$DOCKER run --rm --network none --entrypoint sh dbkeep:test -c 'pg_dump --version && redis-cli --version && test -e /usr/share/zoneinfo/Europe/Berlin && test -s /etc/ssl/certs/ca-certificates.crt' ||
  die "runtime tools missing in the image"

# --- services on the host's loopback
PG_PASSWORD=pg-$RANDOM$RANDOM REDIS_PASSWORD=rd-$RANDOM$RANDOM
PGP=$(free_port)
install -d -o postgres -g postgres "$W/pg" "$W/pgsock"
printf '%s\n' "$PG_PASSWORD" >"$W/pg/pw"; chown postgres "$W/pg/pw"
runuser -u postgres -- $PGBIN/initdb -D "$W/pg/data" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust \
  --auth-host=scram-sha-256 --pwfile="$W/pg/pw" --no-sync >/dev/null
runuser -u postgres -- $PGBIN/pg_ctl -D "$W/pg/data" -l "$W/pg/log" -w -t 60 \
  -o "-p $PGP -k $W/pgsock -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
pg_up=1
psql_() { psql -X -qAt -h "$W/pgsock" -p "$PGP" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql_ -c "create database orders"
psql_ -d orders -c "create table items as select g as id, md5(g::text) as note from generate_series(1, 5000) g;
                    create table empty_one (x int)"
redis_ports=("$(free_port)")
redis_start() {
  mkdir -p "$W/redis-$1"
  redis-server --port "$1" --bind 127.0.0.1 --dir "$W/redis-$1" --daemonize yes --pidfile "$W/redis-$1/pid" \
    --logfile "$W/redis-$1/log" --save '' --appendonly no --repl-diskless-sync-delay 0 --requirepass "$REDIS_PASSWORD"
  for _ in $(seq 200); do redis_ "$1" ping 2>/dev/null | grep -q PONG && return; sleep 0.05; done
  die "redis on $1 did not start"
}
redis_() { local p=$1; shift; REDISCLI_AUTH=$REDIS_PASSWORD redis-cli --no-auth-warning -p "$p" "$@"; }
redis_start "${redis_ports[0]}"
for i in $(seq 1 300); do echo "SET key:$i value-$i"; done | redis_ "${redis_ports[0]}" >/dev/null
redis_ "${redis_ports[0]}" -n 3 hset h field 42 >/dev/null

S3P=$(free_port)
mkdir -p "$W/s3"
cat >"$W/s3/run.js" <<'JS'
const S3rver = require('@20minutes/s3rver');
new S3rver({ address: '127.0.0.1', port: +process.argv[2], directory: process.argv[3], silent: true,
             vhostBuckets: false, configureBuckets: [{ name: 'backups' }] })
  .run().catch(e => { console.error(e); process.exit(1); });
JS
NODE_PATH=$S3RVER_DIR/node_modules node --openssl-legacy-provider "$W/s3/run.js" "$S3P" "$W/s3/data" >"$W/s3/log" 2>&1 &
s3_pid=$!
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$S3P/" && break; sleep 0.05; done

# --- the configuration, mounted read-only; secrets only in the environment
mkdir -p "$W/etc"
cat >"$W/etc/dbkeep.yaml" <<EOF
storages:
  s3:
    type: s3
    bucket: backups
    prefix: image-test
    region: us-east-1
    endpoint: http://127.0.0.1:$S3P
targets:
  orders:
    engine: postgres
    url: postgres://postgres@127.0.0.1:$PGP/orders
    password: \${PG_PASSWORD}
    schedule: "0 3 * * *"
  cache:
    engine: redis
    url: redis://127.0.0.1:${redis_ports[0]}
    password: \${REDIS_PASSWORD}
    schedule: "0 3 * * *"
daemon:
  shutdown_grace: 25
EOF
chmod 644 "$W/etc/dbkeep.yaml"
run_image() {
  $DOCKER run --network host -v "$W/etc:/etc/dbkeep:ro" -e PG_PASSWORD -e REDIS_PASSWORD \
    -e AWS_ACCESS_KEY_ID=S3RVER -e AWS_SECRET_ACCESS_KEY=S3RVER -e AWS_EC2_METADATA_DISABLED=true "$@"
}
export PG_PASSWORD REDIS_PASSWORD

say "backup from the image"
run_image --rm dbkeep:test backup orders cache || die "backup failed"
run_image --rm dbkeep:test list orders | tee "$W/list.txt"
grep -q . "$W/list.txt" || die "no backup listed"

say "restore from the image into fresh databases"
run_image --rm -e DBKEEP_RESTORE_PASSWORD="$PG_PASSWORD" dbkeep:test \
  restore orders --to "postgres://postgres@127.0.0.1:$PGP/orders_copy" || die "postgres restore failed"
src=$(psql_ -d orders -c 'select count(*) from items') dst=$(psql_ -d orders_copy -c 'select count(*) from items')
[ "$src" = 5000 ] && [ "$dst" = "$src" ] || die "items: $dst rows restored, $src in the source"
[ "$(psql_ -d orders_copy -c 'select note from items where id = 4242')" = "$(psql_ -d orders -c "select md5('4242')")" ] ||
  die "restored row differs"
redis_ports+=("$(free_port)")
redis_start "${redis_ports[1]}"
run_image --rm -e DBKEEP_RESTORE_PASSWORD="$REDIS_PASSWORD" dbkeep:test \
  restore cache --to "redis://127.0.0.1:${redis_ports[1]}" --flush --yes ||
  die "redis restore failed"
for db in 0 3; do
  a=$(redis_ "${redis_ports[0]}" -n $db dbsize) b=$(redis_ "${redis_ports[1]}" -n $db dbsize)
  [ "$a" = "$b" ] || die "redis db $db: $b keys restored, $a in the source"
done
[ "$(redis_ "${redis_ports[1]}" get key:123)" = value-123 ] || die "redis value differs after restore"
say "restored: items $dst rows = source; redis dbsize $(redis_ "${redis_ports[1]}" dbsize) + db3 = source"

say "daemon (default command) until HEALTHCHECK reports healthy"
LP=$(free_port)
run_image -d --name daemon --health-interval 1s --health-start-period 1s -e DBKEEP_LISTEN_PORT="$LP" dbkeep:test \
  daemon --listen "127.0.0.1:$LP" >/dev/null
status=
for _ in $(seq 60); do
  status=$($DOCKER inspect --format '{{.State.Status}} {{.State.Health.Status}}' daemon)
  [ "$status" = "running healthy" ] && break
  [ "${status%% *}" = running ] || break
  sleep 0.5
done
[ "$status" = "running healthy" ] || { $DOCKER logs daemon >&2; die "daemon: $status"; }
$DOCKER stop -t 30 daemon >/dev/null
code=$($DOCKER inspect --format '{{.State.ExitCode}}' daemon)
[ "$code" = 0 ] || { $DOCKER logs daemon >&2; die "daemon exited $code on SIGTERM"; }
$DOCKER rm daemon >/dev/null

say "OK in $(($(date +%s) - t0)) s; image $((size / 1000000)) MB"
