#!/usr/bin/env bash
# peak-rss.sh FILE CMD [ARG...]
# Runs CMD and keeps FILE holding the child's peak resident set (VmHWM, KiB), read once a
# second with bash builtins only, so the wrapper adds no forks to the CPU the bench charges
# to the process group. The bench stops the whole group with SIGTERM; the last value written
# is the peak up to at most a second before the end of the final measured run.
set -u
out=$1; shift
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
exec {tick}<> <(:)
while kill -0 "$child" 2>/dev/null; do
  if [ -r "/proc/$child/status" ]; then
    while read -r key value _; do
      if [ "$key" = "VmHWM:" ]; then echo "$value" >"$out"; break; fi
    done <"/proc/$child/status"
  fi
  read -r -t 1 -u "$tick" _ || true
done
wait "$child"
