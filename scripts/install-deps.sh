#!/usr/bin/env bash
# Installs everything dbkeep needs to build, test and benchmark on Debian 12. Idempotent: packages already
# present are skipped, so a second run takes seconds.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

build_pkgs=(build-essential cmake ninja-build pkg-config git clang-format clang-tidy-16 clang libclang-rt-14-dev
  libcurl4-openssl-dev libssl-dev libsodium-dev libzstd-dev zlib1g-dev libpq-dev libsqlite3-dev
  libyaml-cpp-dev libcli11-dev libfmt-dev nlohmann-json3-dev
  libhowardhinnant-date-dev tzdata libgtest-dev libgmock-dev dpkg-dev man-db)
service_pkgs=(postgresql-15 postgresql-client-15 redis-server redis-tools sqlite3 mariadb-server mariadb-client zstd age awscli
  openssh-server openssh-client curl jq ca-certificates procps util-linux time bc nodejs npm python3
  docker.io debootstrap docker-compose systemd prometheus prometheus-pushgateway python3-aiosmtpd python3-botocore)

missing=()
for p in "${build_pkgs[@]}" "${service_pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# nodejs from other sources ships npm inside it: do not ask apt for npm then.
if command -v npm >/dev/null 2>&1; then
  filtered=(); for p in "${missing[@]}"; do [ "$p" = npm ] || [ "$p" = nodejs ] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The SigV4-checking S3 server for the tests, installed once into a cache folder.
S3RVER_DIR=${DBKEEP_S3RVER_DIR:-/opt/dbkeep-test/s3rver}
if [ ! -f "$S3RVER_DIR/node_modules/@20minutes/s3rver/package.json" ]; then
  mkdir -p "$S3RVER_DIR"
  (cd "$S3RVER_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install -s --no-audit --no-fund @20minutes/s3rver@5.0.0 >/dev/null 2>&1) ||
    echo "install-deps: could not install @20minutes/s3rver (S3 tests will skip)" >&2
fi
# The validators of scripts/check-deploy.sh (Kubernetes API schema, HCL parser), installed once into a cache folder.
DEPLOY_TOOLS_DIR=${DBKEEP_DEPLOY_TOOLS_DIR:-/opt/dbkeep-test/deploy-validators}
if [ ! -f "$DEPLOY_TOOLS_DIR/node_modules/typescript/package.json" ]; then
  mkdir -p "$DEPLOY_TOOLS_DIR"
  (cd "$DEPLOY_TOOLS_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install -s --no-audit --no-fund kubernetes-models@5.1.0 @cdktf/hcl2json@0.21.0 yaml@2.9.1 typescript@5.9.3 >/dev/null 2>&1) ||
    echo "install-deps: could not install the deploy validators (check-deploy.sh installs them itself)" >&2
fi
echo "install-deps: done" >&2
