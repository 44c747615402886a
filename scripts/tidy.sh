#!/usr/bin/env bash
# clang-tidy with the root .clang-tidy over the C++ files of src/ and tests/, from the compile database of
# build/release (configure it first: cmake --preset release).
# Usage: scripts/tidy.sh            files changed since the merge base with ${TIDY_BASE:-HEAD~1}, plus
#                                   uncommitted changes: what CI runs
#        scripts/tidy.sh --all      every file: 10-20 s of CPU per file (gtest, nlohmann-json), so the ~105
#                                   files take 15-20 CPU-minutes, over 10 minutes on 2 cores
# A changed header lints the .cpp of the same name. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
db=build/release
[ -f "$db/compile_commands.json" ] || { echo "no $db/compile_commands.json: run cmake --preset release" >&2; exit 2; }
# clang-tidy 16 (Debian clang-tidy-16): 14 cannot compile libstdc++ 12's std::expected of non-trivial types
# (conditionally trivial destructors came in clang 16) and crashes in readability-braces-around-statements.
tidy=$(command -v run-clang-tidy-16) || { echo "run-clang-tidy-16 not installed (Debian clang-tidy-16)" >&2; exit 2; }
# The database holds GCC 12's flags; clang 16 knows -std=c++2b, not c++23, and announces concepts as
# 201907, so libstdc++ 12 would hide <expected>: it gets the C++20 value that GCC announces.
# GCC-only flags of the database (-Wno-restrict on GCC 12) are unknown to clang: not an error.
extra=(-extra-arg=-std=c++2b -extra-arg=-U__cpp_concepts -extra-arg=-D__cpp_concepts=202002L
  -extra-arg=-Wno-unknown-warning-option)

if [ "${1:-}" = --all ]; then
  files=$(git ls-files 'src/*.cpp' 'tests/*.cpp' | grep -v '^tests/fuzz/')
else
  base=$(git merge-base "${TIDY_BASE:-HEAD~1}" HEAD)
  files=$( { git diff --name-only --diff-filter=d "$base"; git ls-files --others --exclude-standard; } |
    grep -E '^(src|tests)/.*\.(cpp|hpp)$' | grep -v '^tests/fuzz/' | sed 's/\.hpp$/.cpp/' | sort -u |
    while read -r f; do [ -f "$f" ] && echo "$f"; done || true)
fi
if [ -z "$files" ]; then
  echo "clang-tidy: no C++ file to lint" >&2
  exit 0
fi
echo "clang-tidy: $(echo "$files" | wc -l) files" >&2
# run-clang-tidy takes regular expressions: anchor each path.
regexes=$(echo "$files" | sed "s|^|$(pwd)/|; s|\\.|\\\\.|g; s|$|\$|")
# shellcheck disable=SC2086
"$tidy" -p "$db" -quiet -j "$(nproc)" "${extra[@]}" $regexes
