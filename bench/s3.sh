#!/usr/bin/env bash
# S3 upload benchmark (not a test). Usage: bench/s3.sh [MiB] (default 2048)
# The same incompressible stream uploaded to the same local s3rver by dbkeep (as a backup whose "pg_dump"
# prints the stream, zstd level 1) and by `aws s3 cp -`; prints throughput, peak RSS and the ratio.
set -euo pipefail
export BENCH_S3_SECRET=S3RVER   # the local s3rver's secret, passed as ${ENV} like any secret
MIB=${1:-2048}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
bash scripts/install-deps.sh >/dev/null
cmake --preset release >/dev/null && cmake --build --preset release --target dbkeep >/dev/null
DBKEEP="$ROOT/build/release/dbkeep"
WORK=$(mktemp -d /tmp/dbkeep-s3bench-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/run.js" <<'JS'
const S3rver = require('@20minutes/s3rver');
new S3rver({ address: '127.0.0.1', port: +process.argv[2], directory: process.argv[3], silent: true, vhostBuckets: false,
  configureBuckets: [{ name: 'bench' }] }).run().catch(e => { console.error(e); process.exit(1); });
JS
mkdir -p "$WORK/data"
NODE_PATH=/opt/dbkeep-test/s3rver/node_modules node --openssl-legacy-provider "$WORK/run.js" "$PORT" "$WORK/data" >"$WORK/s3.log" 2>&1 &
S3PID=$!
trap 'kill $S3PID 2>/dev/null; rm -rf "$WORK"' EXIT
for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
head -c "$((MIB * 1048576))" /dev/urandom > "$WORK/stream.bin"
cat > "$WORK/fake_pg_dump" <<SH
#!/bin/sh
case "\$1" in --version) echo 'pg_dump (PostgreSQL) 99.0'; exit 0;; esac
cat "$WORK/stream.bin"
SH
chmod +x "$WORK/fake_pg_dump"
# A PostgreSQL target needs a server to count rows in; a throwaway one is started.
PGBIN=/usr/lib/postgresql/15/bin
install -d -o postgres -g postgres "$WORK/pg"; chmod 755 "$WORK"
runuser -u postgres -- $PGBIN/initdb -D "$WORK/pg/data" -A trust -U postgres >/dev/null
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
runuser -u postgres -- $PGBIN/pg_ctl -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
trap 'kill $S3PID 2>/dev/null; runuser -u postgres -- $PGBIN/pg_ctl -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1; rm -rf "$WORK"' EXIT
cat > "$WORK/dbkeep.yaml" <<YAML
storages: { s3: { type: s3, bucket: bench, endpoint: "http://127.0.0.1:$PORT", access_key_id: S3RVER, secret_access_key: "\${BENCH_S3_SECRET}" } }
targets: { blob: { engine: postgres, url: "postgres://postgres@127.0.0.1:$PGPORT/postgres", pg_dump_path: "$WORK/fake_pg_dump", compression: { level: 1 } } }
YAML
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
/usr/bin/time -f '%e %M' -o "$WORK/t.dbkeep" "$DBKEEP" --config "$WORK/dbkeep.yaml" --json backup blob >/dev/null 2>"$WORK/dbkeep.log"
/usr/bin/time -f '%e %M' -o "$WORK/t.aws" sh -c "/usr/bin/aws --endpoint-url http://127.0.0.1:$PORT s3 cp - s3://bench/aws.bin < $WORK/stream.bin"
read -r dw drss < "$WORK/t.dbkeep"; read -r aw arss < "$WORK/t.aws"
SELF=$(grep -o '"peak_rss_kib":"[0-9]*"' "$WORK/dbkeep.log" | grep -o '[0-9]*')
echo "S3 upload benchmark: $MIB MiB incompressible stream to a local s3rver, $(nproc) cores"
printf '%-8s %8s %10s %12s\n' case wall_s MiB/s peak_rss_MiB
printf '%-8s %8s %10s %12s\n' dbkeep "$dw" "$(echo "scale=1; $MIB / $dw" | bc)" "$((SELF / 1024))"
printf '%-8s %8s %10s %12s\n' aws-cli "$aw" "$(echo "scale=1; $MIB / $aw" | bc)" "$((arss / 1024))"
echo "throughput ratio dbkeep/aws-cli: $(echo "scale=2; $aw / $dw" | bc)"
