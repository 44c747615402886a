#!/usr/bin/env bash
# Keeps the man page and the bash completion in step with the command line: every command and every long
# option that `dbkeep --help` and `dbkeep COMMAND --help` print must appear in docs/dbkeep.1 and in
# docs/dbkeep.bash-completion. Usage: scripts/check-docs.sh PATH/TO/dbkeep
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: scripts/check-docs.sh PATH/TO/dbkeep}
man=docs/dbkeep.1
completion=docs/dbkeep.bash-completion
bad=0
# The man page escapes '-' as '\-'; compare with the escapes removed.
man_text=$(sed 's/\\-/-/g; s/\\fR//g; s/\\fI//g; s/\\fB//g' "$man")
long_options() { sed -nE 's/^  +(-[A-Za-z],)?(--[a-z][a-z-]*).*/\2/p' | grep -vx -- '--help' || true; }
commands=$("$bin" --help | sed -n '/^Subcommands:/,$p' | sed -nE 's/^  ([a-z]+) .*/\1/p')
for option in $("$bin" --help | long_options); do
  grep -qF -- "$option" <<<"$man_text" || { echo "check-docs: $man lacks $option" >&2; bad=1; }
  grep -qF -- "$option" "$completion" || { echo "check-docs: $completion lacks $option" >&2; bad=1; }
done
for command in $commands; do
  grep -qE "^\.(B|BR) $command( |$)" "$man" || { echo "check-docs: $man lacks command $command" >&2; bad=1; }
  grep -qE "(^|[ \"])$command([ \"]|$)" "$completion" || { echo "check-docs: $completion lacks $command" >&2; bad=1; }
  help=$("$bin" "$command" --help)
  subcommands=$(sed -n '/^Subcommands:/,$p' <<<"$help" | sed -nE 's/^  ([a-z]+) .*/\1/p')
  for sub in $subcommands; do
    grep -qE "$command $sub" "$man" || { echo "check-docs: $man lacks $command $sub" >&2; bad=1; }
  done
  for option in $(long_options <<<"$help"); do
    grep -qF -- "$option" <<<"$man_text" || { echo "check-docs: $man lacks $command $option" >&2; bad=1; }
    grep -qF -- "$option" "$completion" || { echo "check-docs: $completion lacks $command $option" >&2; bad=1; }
  done
done
# The page must render without warnings in Debian's man.
if command -v man >/dev/null; then
  warnings=$(MANWIDTH=100 man --warnings -l "$man" 2>&1 >/dev/null || true)
  [ -z "$warnings" ] || { echo "check-docs: $man renders with warnings:" >&2; echo "$warnings" >&2; bad=1; }
fi
[ "$bad" -eq 0 ] && echo "check-docs: the man page and the completion cover every command and option" >&2
exit "$bad"
