#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs dependencies, builds release and ASan/UBSan, runs every unit
# and integration test against real services (PostgreSQL, Redis, s3rver, sshd, dockerd) on loopback.
set -euo pipefail
# Tests never reach the real EC2 metadata address; the IMDS tests point it at loopback themselves.
export AWS_EC2_METADATA_DISABLED=true
cd "$(dirname "$0")/.."
# Each stage's start time and the seconds since the start, so a slow CI run shows where its time went.
stage() { echo "== [$(date -u +%T), ${SECONDS}s] $*" >&2; }
# The slowest tests of a finished ctest run (ctest's own cost data: name, runs, seconds).
slowest() { sort -k3 -g -r "$1/Testing/Temporary/CTestCostData.txt" 2>/dev/null | head -n 12 | awk '{printf "   %6.1fs %s\n", $3, $1}' >&2 || true; }
bash scripts/install-deps.sh
jobs=$(nproc)
# One test more than cores, longest first (tests/ctest_costs.cmake): the servers the tests start keep the cores
# busy, so more at once only slows each test (measured: -j4 took 539 s against 587 s at -j2 on 2 cores).
test_jobs=$((jobs + 1))

stage "format check"
if command -v clang-format >/dev/null; then
  git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp' 'bench/*.cpp' | xargs -r clang-format --dry-run --Werror
fi

stage "layering (DESIGN.md: a folder of src/ includes only folders below it)"
bash scripts/check-layers.sh

stage "deploy files (systemd-analyze, docker-compose config, Kubernetes API schema, HCL + references)"
bash scripts/check-deploy.sh

stage "release build (-O3, as packaged) and tests"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"

# The whole tree takes longer than a CI step should on 2 cores: lint what changed since the merge base
# with the previous commit (TIDY_BASE overrides it; scripts/tidy.sh --all lints everything).
stage "man page and bash completion cover the command line"
bash scripts/check-docs.sh build/release/dbkeep

stage "clang-tidy (changed files)"
scripts/tidy.sh
ctest --preset release -j "$test_jobs" --timeout 600
slowest build/release

# The sanitized build runs the unit tests (parsers, streams, crypto, SigV4, retention, the runners' framing): the
# integration tests spend their time in the servers, not in dbkeep, and ran above on the build that ships; under
# ASan they doubled CI's time. `ctest --preset asan-ubsan` after a full build of the preset runs them sanitized.
stage "asan-ubsan build (-O1) and unit tests"
cmake --preset asan-ubsan >/dev/null
cmake --build --preset asan-ubsan -j "$jobs" --target dbkeep_unit_tests
ctest --preset asan-ubsan -L unit -j "$jobs" --timeout 900 # sanitized processes are CPU-bound: one per core
slowest build/asan-ubsan

stage "RDB parser and pg_dump archive reader fuzz smoke (libFuzzer, clang)"
if command -v clang++ >/dev/null; then
  cmake -S tests/fuzz -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  cmake --build build/fuzz
  ctest --test-dir build/fuzz --output-on-failure
else
  echo "clang++ not installed: fuzz smoke skipped" >&2
fi

# The package is made from the release build, which has a packager's flags (-O3, -DNDEBUG; the tests' own code
# is not installed), so it is not compiled a second time: a packager's tree without tests is only configured.
# Its .deb must install with apt and back up and restore (the demo, run with the installed binary). Installing
# needs root and apt.
stage ".deb from the release build, and the demo with the installed package"
cmake -S . -B build/package -G Ninja -DCMAKE_BUILD_TYPE=Release -DDBKEEP_BUILD_TESTS=OFF -DDBKEEP_WERROR=ON >/dev/null
(cd build/release && rm -f dbkeep_*.deb && cpack -G DEB >/dev/null)
deb=$(ls build/release/dbkeep_*.deb)
dpkg-deb --field "$deb" Depends Recommends >&2
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "./$deb" >/dev/null
  dbkeep --version
  man -w dbkeep >/dev/null
  DBKEEP_BIN=/usr/bin/dbkeep bash scripts/demo.sh
  stage "container image from that .deb: backup and restore of PostgreSQL and Redis through the image"
  rm -f build/package/dbkeep_*.deb # test-image.sh takes the one .deb there: ours, not an older one
  DBKEEP_DEB="$deb" bash scripts/test-image.sh
else
  echo "not root: the .deb was built but not installed" >&2
fi
stage "done"
