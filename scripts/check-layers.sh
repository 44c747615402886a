#!/usr/bin/env bash
# The layering rule of DESIGN.md: a folder of src/ includes only folders below it (or itself).
#   core <- stream, observe <- storage, runner <- engine <- catalog, schedule <- config <- check <- job <- cli
# Prints every include that points up or sideways across a layer and exits 1 if there is one.
set -euo pipefail
cd "$(dirname "$0")/../src"
declare -A rank=([core]=0 [stream]=1 [observe]=1 [storage]=2 [runner]=2 [engine]=3 [catalog]=4 [schedule]=4
  [config]=5 [check]=6 [job]=7 [cli]=8)
bad=0
while IFS= read -r line; do
  file=${line%%:*}
  inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"${line#*:}")
  from=${file%%/*}
  to=${inc%%/*}
  [ "$file" = main.cpp ] && from=cli
  if [ -z "${rank[$from]+x}" ]; then
    echo "check-layers: $file: folder '$from' has no layer in DESIGN.md" >&2; bad=1; continue
  fi
  [ -z "${rank[$to]+x}" ] && continue # not one of ours (a system or library header in quotes)
  if [ "$from" != "$to" ] && [ "${rank[$to]}" -ge "${rank[$from]}" ]; then
    echo "check-layers: $file includes $inc: '$from' may include only folders below it" >&2
    bad=1
  fi
done < <(grep -rn --include='*.cpp' --include='*.hpp' -E '^#include "' . | sed -E 's|^\./||; s|:[0-9]+:|:|')
if [ "$bad" -eq 0 ]; then echo "check-layers: every include follows the layering rule" >&2; fi
exit "$bad"
