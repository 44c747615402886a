#!/usr/bin/env bash
# Redis backup and restore benchmark (not a test). Usage: bench/redis.sh [KEYS] (default 5000000)
# Loads KEYS keys of mixed types (60% strings, 15% hashes, 10% lists, 10% sets, 5% sorted sets) and compares
# in one run:
#   redis-cli   redis-cli --rdb FILE; zstd -3 -T2 FILE        (the path dbkeep replaces)
#   dbkeep      dbkeep backup                                 (PSYNC, RDB parsed + CRC-checked, zstd, SHA-256)
#   restart     a fresh redis-server loading the RDB file     (cold restore)
#   restore     dbkeep restore --to redis://... --flush --yes (the server loads the RDB as a full synchronisation)
# and prints wall time, CPU time, peak RSS, output size and ratios.
set -euo pipefail
KEYS=${1:-5000000}
source "$(dirname "$0")/lib.sh"
bench_init dbkeep-bench-redis
PORT=$(free_port)
PORT2=$(free_port)
start_redis "$WORK/source" "$PORT"

echo "loading $KEYS keys..." >&2
python3 - "$KEYS" <<'PY' | redis-cli -p "$PORT" --pipe >/dev/null
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)
buf = []
for i in range(n):
    k = i % 20
    if k < 12:
        buf.append(cmd("SET", "string:%d" % i, "value-%d-%s" % (i, "x" * (i % 64))))
    elif k < 15:
        buf.append(cmd("HSET", "hash:%d" % i, "name", "user%d" % i, "email", "u%d@example.com" % i, "visits", i % 1000))
    elif k < 17:
        buf.append(cmd("RPUSH", "list:%d" % i, "a%d" % i, "b", "c", i))
    elif k < 19:
        buf.append(cmd("SADD", "set:%d" % i, i, i + 1, i + 2, "m%d" % i))
    else:
        buf.append(cmd("ZADD", "zset:%d" % i, 1, "a", 2.5, "b%d" % i, i, "c"))
    if len(buf) >= 10000:
        out.write(b"".join(buf)); buf = []
out.write(b"".join(buf))
PY
echo "loaded: $(redis-cli -p "$PORT" dbsize) keys, used_memory $(redis-cli -p "$PORT" info memory | grep '^used_memory_human' | cut -d: -f2 | tr -d '\r')" >&2

mkdir -p "$WORK/storage"
cat > "$WORK/dbkeep.yaml" <<YAML
storages: { default: { type: local, path: $WORK/storage/dbkeep } }
targets: { cache: { engine: redis, url: "redis://127.0.0.1:$PORT" } }
YAML

measure redis-cli sh -c "redis-cli -p $PORT --rdb $WORK/cli.rdb && zstd -q -3 -T2 --rm $WORK/cli.rdb -o $WORK/cli.rdb.zst"
SIZE[redis-cli]=$(du -b "$WORK/cli.rdb.zst" | cut -f1)
measure dbkeep "$DBKEEP" --config "$WORK/dbkeep.yaml" --json backup cache
SIZE[dbkeep]=$(find "$WORK/storage/dbkeep" -name '*.rdb.zst' -printf '%s\n')
SELF_RSS=$(grep -o '"peak_rss_kib":"[0-9]*"' "$WORK/err.dbkeep" | grep -o '[0-9]*' || echo 0)
OBJECT=$(find "$WORK/storage/dbkeep" -name '*.rdb.zst')
zstd -q -d "$OBJECT" -o "$WORK/check.rdb" && redis-check-rdb "$WORK/check.rdb" >/dev/null || { echo "redis-check-rdb failed on the backup" >&2; exit 1; }
rm -f "$WORK/check.rdb"

mkdir -p "$WORK/restart"
zstd -q -d "$WORK/cli.rdb.zst" -o "$WORK/restart/dump.rdb"
SIZE[restart]=$(du -b "$WORK/restart/dump.rdb" | cut -f1)
RESTART_PORT=$(free_port)
bench_on_exit "stop_redis '$WORK/restart'"
measure restart sh -c "redis-server --port $RESTART_PORT --bind 127.0.0.1 --dir $WORK/restart --dbfilename dump.rdb \
  --daemonize yes --pidfile $WORK/restart/pid --logfile $WORK/restart/log --save '' --appendonly no &&
  until redis-cli -p $RESTART_PORT info persistence 2>/dev/null | grep -q '^loading:0'; do sleep 0.05; done"
start_redis "$WORK/restore" "$PORT2"
# Where restore's time goes: the destination server's own CPU seconds during it (utime + stime from /proc),
# beside dbkeep's (client) CPU from measure.
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$(cat "$WORK/restore/pid")/stat"; }
SERVER_CPU_BEFORE=$(server_cpu)
measure restore "$DBKEEP" --config "$WORK/dbkeep.yaml" --json restore cache --to "redis://127.0.0.1:$PORT2" --flush --yes
SIZE[restore]=0
SERVER_CPU_RESTORE=$(echo "$(server_cpu) - $SERVER_CPU_BEFORE" | bc)
RESTORE_RSS=$(( RSS[restore] ))
[ "$(redis-cli -p "$PORT2" dbsize)" = "$(redis-cli -p "$PORT" dbsize)" ] || { echo "restore: key count differs" >&2; exit 1; }

echo
echo "Redis benchmark: $KEYS keys of mixed types, $(nproc) cores, redis $(redis-server --version | grep -o 'v=[0-9.]*')"
printf '%-10s %9s %9s %12s %12s\n' case wall_s cpu_s peak_rss_MiB output_MiB
for n in redis-cli dbkeep restart restore; do
  printf '%-10s %9s %9s %12s %12s\n' "$n" "${WALL[$n]}" "${CPU[$n]}" "$(( ${RSS[$n]} / 1024 ))" "$(echo "scale=1; ${SIZE[$n]} / 1048576" | bc)"
done
echo "(restart output column: the uncompressed RDB; restart peak RSS is the redis-server being started)"
echo "restore profile: wall ${WALL[restore]} s; dbkeep (client) CPU ${CPU[restore]} s; destination redis-server CPU $SERVER_CPU_RESTORE s" \
     "(a server CPU close to the wall time: the server's own loading of the payload is the bound, not dbkeep)"
echo "dbkeep backup's own peak RSS: $(( SELF_RSS / 1024 )) MiB; dbkeep restore's peak RSS: $(( RESTORE_RSS / 1024 )) MiB"
echo "ratios: backup dbkeep/redis-cli wall $(echo "scale=2; ${WALL[dbkeep]} / ${WALL[redis-cli]}" | bc) (target <= 1.0)," \
     "size $(echo "scale=2; ${SIZE[dbkeep]} / ${SIZE[redis-cli]}" | bc);" \
     "restore dbkeep/restart wall $(echo "scale=2; ${WALL[restore]} / ${WALL[restart]}" | bc)"
