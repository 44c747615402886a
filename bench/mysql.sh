#!/usr/bin/env bash
# MySQL / MariaDB backup benchmark (not a test). Usage: bench/mysql.sh [ROWS] (default 5000000)
# Compares on the same InnoDB table in one run:
#   floor     mariadb-dump (dbkeep's flags) > /dev/null       (what reading the database costs)
#   gzip      mariadb-dump (same flags) | gzip > FILE          (what users do today)
#   dbkeep    dbkeep backup                                    (row counting + zstd + SHA-256 into local storage)
# and prints wall time, CPU time (children included), peak RSS, output size, and ratios.
set -euo pipefail
ROWS=${1:-5000000}
source "$(dirname "$0")/lib.sh"
bench_init dbkeep-bench-mysql

# A throwaway MariaDB on a loopback port, binary log on, as the mysql user when run as root.
DATA="$WORK/mariadb"
mkdir -p "$DATA"
USER_ARGS=()
if [ "$(id -u)" = 0 ]; then chown mysql:mysql "$DATA"; USER_ARGS=(--user=mysql); fi
mariadb-install-db --no-defaults --datadir="$DATA/data" --auth-root-authentication-method=normal --skip-test-db \
  "${USER_ARGS[@]}" >/dev/null
PORT=$(free_port)
/usr/sbin/mariadbd --no-defaults --datadir="$DATA/data" --port="$PORT" --bind-address=127.0.0.1 \
  --socket="$DATA/sock" --pid-file="$DATA/pid" --log-error="$DATA/error.log" --log-bin="$DATA/data/binlog" \
  --server-id=1 --skip-name-resolve --innodb-buffer-pool-size=1G --innodb-flush-log-at-trx-commit=0 \
  --sync-binlog=0 "${USER_ARGS[@]}" &
bench_on_exit "kill $! 2>/dev/null; wait $! 2>/dev/null || true"
wait_for mariadb --no-defaults --socket="$DATA/sock" -uroot -e 'SELECT 1'
export BENCH_MYSQL_PASSWORD=bench-pw
mariadb --no-defaults --socket="$DATA/sock" -uroot -e "
  CREATE USER 'bench'@'127.0.0.1' IDENTIFIED BY '$BENCH_MYSQL_PASSWORD';
  GRANT ALL PRIVILEGES ON *.* TO 'bench'@'127.0.0.1';
  CREATE DATABASE app CHARACTER SET utf8mb4;
  CREATE TABLE app.events (id BIGINT PRIMARY KEY, created DATETIME(6) NOT NULL, user_id INT NOT NULL,
    kind VARCHAR(20) NOT NULL, amount DECIMAL(12,2), payload VARCHAR(200), data VARBINARY(32)) ENGINE=InnoDB;
  SET SESSION sql_log_bin = 0;
  USE app;
  INSERT INTO app.events SELECT seq, DATE_ADD('2026-01-01', INTERVAL seq SECOND), seq MOD 100000,
    ELT(1 + seq MOD 4, 'click', 'view', 'purchase', 'signup'), (seq MOD 100000) / 100,
    CONCAT('{\"session\": \"', MD5(seq), '\", \"n\": ', seq, ', \"note\": \"it''s \\\\ fine\"}'),
    UNHEX(SHA2(seq, 256)) FROM seq_1_to_$ROWS;"

export MYSQL_PWD=$BENCH_MYSQL_PASSWORD
DUMP=(mariadb-dump -h127.0.0.1 -P"$PORT" -ubench --single-transaction --quick --routines --triggers --events
      --hex-blob --default-character-set=utf8mb4 --comments --dump-date --master-data=2 app)
mkdir -p "$WORK/storage"
cat > "$WORK/dbkeep.yaml" <<YAML
storages: { default: { type: local, path: $WORK/storage/dbkeep } }
targets: { app: { engine: mysql, url: "mysql://bench@127.0.0.1:$PORT/app", password: "\${BENCH_MYSQL_PASSWORD}" } }
YAML

measure floor sh -c "${DUMP[*]} > /dev/null"
measure gzip sh -c "${DUMP[*]} | gzip > $WORK/storage/app.sql.gz"
SIZE[gzip]=$(du -b "$WORK/storage/app.sql.gz" | cut -f1)
measure dbkeep "$DBKEEP" --config "$WORK/dbkeep.yaml" --json backup app
SIZE[dbkeep]=$(find "$WORK/storage/dbkeep" -name '*.sql.zst' -printf '%s\n')
SELF_RSS=$(grep -o '"peak_rss_kib":"[0-9]*"' "$WORK/err.dbkeep" | grep -o '[0-9]*')
SIZE[floor]=$(grep -o '"raw_bytes":"[0-9]*"' "$WORK/err.dbkeep" | grep -o '[0-9]*')

echo
echo "MySQL (MariaDB $(mariadb --version | grep -o 'Distrib [0-9.]*' | cut -d' ' -f2)) backup benchmark: $ROWS rows, $(nproc) cores"
printf '%-10s %9s %9s %12s %14s\n' case wall_s cpu_s peak_rss_MiB output_MiB
for n in floor gzip dbkeep; do
  printf '%-10s %9s %9s %12s %14s\n' "$n" "${WALL[$n]}" "${CPU[$n]}" "$(( ${RSS[$n]} / 1024 ))" "$(echo "scale=1; ${SIZE[$n]} / 1048576" | bc)"
done
echo "(floor output column: the uncompressed dump)"
echo "dbkeep's own peak RSS: $(( SELF_RSS / 1024 )) MiB"
echo "ratios: dbkeep/floor wall $(echo "scale=2; ${WALL[dbkeep]} / ${WALL[floor]}" | bc) (target <= 1.10)," \
     "dbkeep/gzip wall $(echo "scale=2; ${WALL[dbkeep]} / ${WALL[gzip]}" | bc)," \
     "dbkeep/gzip size $(echo "scale=2; ${SIZE[dbkeep]} / ${SIZE[gzip]}" | bc) (target < 1.0)"
