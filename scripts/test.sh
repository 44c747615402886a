#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs dependencies, builds release and ASan/UBSan, runs every unit
# and integration test against real services (PostgreSQL, Redis, s3rver, sshd, dockerd) on loopback.
set -euo pipefail
# Tests never reach the real EC2 metadata address; the IMDS tests point it at loopback themselves.
export AWS_EC2_METADATA_DISABLED=true
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)

echo "== format check" >&2
if command -v clang-format >/dev/null; then
  git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp' 'bench/*.cpp' | xargs -r clang-format --dry-run --Werror
fi

echo "== layering (DESIGN.md: a folder of src/ includes only folders below it)" >&2
bash scripts/check-layers.sh

echo "== deploy files (systemd-analyze, docker-compose config, Kubernetes API schema, HCL + references)" >&2
bash scripts/check-deploy.sh

echo "== release build and tests" >&2
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"

# The whole tree takes longer than a CI step should on 2 cores: lint what changed since the merge base
# with the previous commit (TIDY_BASE overrides it; scripts/tidy.sh --all lints everything).
echo "== man page and bash completion cover the command line" >&2
bash scripts/check-docs.sh build/release/dbkeep

echo "== clang-tidy (changed files)" >&2
scripts/tidy.sh
ctest --preset release -j "$jobs" --timeout 600

echo "== asan-ubsan build and tests" >&2
cmake --preset asan-ubsan >/dev/null
cmake --build --preset asan-ubsan -j "$jobs"
ctest --preset asan-ubsan -j "$jobs" --timeout 900

echo "== RDB parser and pg_dump archive reader fuzz smoke (libFuzzer, clang)" >&2
if command -v clang++ >/dev/null; then
  cmake -S tests/fuzz -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  cmake --build build/fuzz
  ctest --test-dir build/fuzz --output-on-failure
else
  echo "clang++ not installed: fuzz smoke skipped" >&2
fi

# A packager's plain Release build (-O3, no preset) must compile warning-free; its .deb must install with apt
# and back up and restore (the demo, run with the installed binary). Installing needs root and apt.
echo "== plain Release build, .deb, and the demo with the installed package" >&2
cmake -S . -B build/package -G Ninja -DCMAKE_BUILD_TYPE=Release -DDBKEEP_BUILD_TESTS=OFF -DDBKEEP_WERROR=ON >/dev/null
cmake --build build/package -j "$jobs"
(cd build/package && rm -f dbkeep_*.deb && cpack -G DEB >/dev/null)
deb=$(ls build/package/dbkeep_*.deb)
dpkg-deb --field "$deb" Depends Recommends >&2
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "./$deb" >/dev/null
  dbkeep --version
  man -w dbkeep >/dev/null
  DBKEEP_BIN=/usr/bin/dbkeep bash scripts/demo.sh
  echo "== container image from that .deb: backup and restore of PostgreSQL and Redis through the image" >&2
  bash scripts/test-image.sh
else
  echo "not root: the .deb was built but not installed" >&2
fi
