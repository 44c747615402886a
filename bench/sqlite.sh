#!/usr/bin/env bash
# SQLite backup benchmark (not a test). Usage: bench/sqlite.sh [MIB] (default 1000, at most 1000)
# Builds a database of about MIB MiB (an `events` table of mixed columns with an index, and a blob table),
# then compares in one run:
#   sqlite3   sqlite3 DB ".backup FILE"; zstd -3 -T2 FILE   (what users script today)
#   dbkeep    dbkeep backup   (online backup API copy, integrity_check, row counts, zstd, SHA-256)
#   restore   dbkeep restore --to FILE   (temp file, fsync, integrity_check, rename)
# and prints wall time, CPU time, peak RSS, output size and ratios.
set -euo pipefail
MIB=${1:-1000}
((MIB <= 1000)) || { echo "at most 1000 MiB" >&2; exit 2; }
source "$(dirname "$0")/lib.sh"
bench_init dbkeep-bench-sqlite
DB="$WORK/app.db"

# Three quarters in rows that compress like application data, a quarter in incompressible blobs.
ROWS=$((MIB * 1024 * 3 / 4 * 1024 / 200))
BLOBS=$((MIB / 4 * 16))
echo "generating about $MIB MiB ($ROWS rows, $BLOBS blobs of 64 KiB)..." >&2
sqlite3 "$DB" <<SQL >/dev/null
PRAGMA journal_mode=WAL;
CREATE TABLE events (id INTEGER PRIMARY KEY, account_id INT, created_at TEXT, kind TEXT, amount REAL, email TEXT,
                     payload TEXT);
WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < $ROWS)
INSERT INTO events SELECT x, x % 100000, datetime(1735689600 + x, 'unixepoch'),
  CASE x % 5 WHEN 0 THEN 'signup' WHEN 1 THEN 'login' WHEN 2 THEN 'purchase' WHEN 3 THEN 'refund' ELSE 'logout' END,
  (x % 100000) / 100.0, 'user' || (x % 100000) || '@example.com',
  json_object('ip', '10.0.' || (x % 250) || '.' || (x % 200), 'agent', 'Mozilla/5.0', 'items', x % 7,
              'note', CASE WHEN x % 10 = 0 THEN hex(randomblob(16)) END)
FROM g;
CREATE INDEX events_account ON events(account_id, created_at);
CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB);
WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < $BLOBS)
INSERT INTO blobs SELECT x, randomblob(65536) FROM g;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
echo "database: $(( $(stat -c %s "$DB") / 1048576 )) MiB" >&2

mkdir -p "$WORK/storage"
cat > "$WORK/dbkeep.yaml" <<YAML
storages: { default: { type: local, path: $WORK/storage/dbkeep } }
targets: { app: { engine: sqlite, path: "$DB", temp_dir: "$WORK" } }
YAML

measure sqlite3 sh -c "sqlite3 '$DB' \".backup '$WORK/copy.db'\" && zstd -q -3 -T2 --rm '$WORK/copy.db' -o '$WORK/copy.db.zst'"
SIZE[sqlite3]=$(stat -c %s "$WORK/copy.db.zst")
measure dbkeep "$DBKEEP" --config "$WORK/dbkeep.yaml" --json backup app
SIZE[dbkeep]=$(find "$WORK/storage/dbkeep" -name '*.sqlite.zst' -printf '%s\n')
SELF_RSS=$(grep -o '"peak_rss_kib":"[0-9]*"' "$WORK/err.dbkeep" | grep -o '[0-9]*' || echo 0)
measure restore "$DBKEEP" --config "$WORK/dbkeep.yaml" --json restore app --to "$WORK/restored.db"
SIZE[restore]=$(stat -c %s "$WORK/restored.db")
[ "$(sqlite3 "$WORK/restored.db" 'SELECT count(*) FROM events')" = "$ROWS" ] || { echo "restore: row count differs" >&2; exit 1; }

echo
echo "SQLite benchmark: $(( $(stat -c %s "$DB") / 1048576 )) MiB database ($ROWS rows, $BLOBS blobs), $(nproc) cores, sqlite $(sqlite3 -version | cut -d' ' -f1)"
printf '%-10s %9s %9s %12s %12s\n' case wall_s cpu_s peak_rss_MiB output_MiB
for n in sqlite3 dbkeep restore; do
  printf '%-10s %9s %9s %12s %12s\n' "$n" "${WALL[$n]}" "${CPU[$n]}" "$(( ${RSS[$n]} / 1024 ))" "$(echo "scale=1; ${SIZE[$n]} / 1048576" | bc)"
done
echo "(restore output column: the restored database file)"
echo "dbkeep backup's own peak RSS: $(( SELF_RSS / 1024 )) MiB"
echo "ratios: backup dbkeep/sqlite3+zstd wall $(echo "scale=2; ${WALL[dbkeep]} / ${WALL[sqlite3]}" | bc)," \
     "cpu $(echo "scale=2; ${CPU[dbkeep]} / ${CPU[sqlite3]}" | bc)," \
     "size $(echo "scale=2; ${SIZE[dbkeep]} / ${SIZE[sqlite3]}" | bc)"
