#!/usr/bin/env bash
# S3 upload benchmark (not a test). Usage: bench/s3.sh [MiB] (default 2048)
# The same incompressible stream uploaded to the same local s3rver by dbkeep (as a backup whose "pg_dump"
# prints the stream, zstd level 1) and by `aws s3 cp -`; prints throughput, peak RSS and the ratio.
set -euo pipefail
export BENCH_S3_SECRET=S3RVER   # the local s3rver's secret, passed as ${ENV} like any secret
MIB=${1:-2048}
source "$(dirname "$0")/lib.sh"
bench_init dbkeep-s3bench
start_s3rver bench || { echo "s3rver not installed (scripts/install-deps.sh installs it)" >&2; exit 1; }
PORT=$S3PORT
head -c "$((MIB * 1048576))" /dev/urandom > "$WORK/stream.bin"
cat > "$WORK/fake_pg_dump" <<SH
#!/bin/sh
case "\$1" in --version) echo 'pg_dump (PostgreSQL) 99.0'; exit 0;; esac
cat "$WORK/stream.bin"
SH
chmod +x "$WORK/fake_pg_dump"
# A PostgreSQL target needs a server to count rows in; a throwaway one is started.
start_postgres
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
