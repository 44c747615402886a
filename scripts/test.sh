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

echo "== release build and tests" >&2
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"

# The whole tree takes longer than a CI step should on 2 cores: lint what changed since the merge base
# with the previous commit (TIDY_BASE overrides it; scripts/tidy.sh --all lints everything).
echo "== clang-tidy (changed files)" >&2
scripts/tidy.sh
ctest --preset release -j "$jobs" --timeout 600

echo "== asan-ubsan build and tests" >&2
cmake --preset asan-ubsan >/dev/null
cmake --build --preset asan-ubsan -j "$jobs"
ctest --preset asan-ubsan -j "$jobs" --timeout 900

echo "== RDB parser fuzz smoke (libFuzzer, clang)" >&2
if command -v clang++ >/dev/null; then
  cmake -S tests/fuzz -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  cmake --build build/fuzz
  ctest --test-dir build/fuzz --output-on-failure
else
  echo "clang++ not installed: fuzz smoke skipped" >&2
fi
