#!/usr/bin/env bash
# ab.sh - interleaved A/B of two or more builds (or settings) on a noisy machine.
#
# For every round and cell, each arm runs once with fresh processes through the yardstick
# (yardstick/tunnel-bench.sh), the order of the arms reversed every other round, so slow drifts in
# other load hit every arm alike. Prints one line per run and, at the end, the medians per arm.
#
# Usage: bench/ab.sh OUT ROUNDS "WORKLOADS" "CONNS" NAME=PUBDIR[|ENV=VALUE ...[|EXTRA FLAGS]] ...
#   PUBDIR holds edge/teleport-edge and origin/teleport-origin (dotnet publish -c Release -o PUBDIR/edge ...)
#   e.g. bench/ab.sh /tmp/ab 3 "get-small rtb" "16 256" "main=/tmp/main" "new=/tmp/new" \
#          "nospin=/tmp/main|DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0"
#   W and D (environment) set warm-up and measured seconds per run (10 and 10).
# Columns: rps, p99 ms, edge+origin CPU us/req, tunnel packets/req, other processes' CPU (% of a core),
# steal % and the 1-minute load average: compare arms by their medians, and distrust rounds where
# "other" differs a lot between arms.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 5 ] || { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2; }
out=$1 rounds=$2 wls=$3 conns=$4; shift 4
arms=("$@")
mkdir -p "$out"
W=${W:-10} D=${D:-10}
for r in $(seq 1 "$rounds"); do
  order=("${arms[@]}")
  if [ $((r % 2)) = 0 ]; then order=(); for ((i = ${#arms[@]} - 1; i >= 0; i--)); do order+=("${arms[$i]}"); done; fi
  for wl in $wls; do for c in $conns; do for arm in "${order[@]}"; do
    name=${arm%%=*} rest=${arm#*=}
    IFS='|' read -r pub envs extra <<<"$rest"
    d="$out/$name-$wl-$c-$r"; rm -rf "$d"
    QUIET_WAIT=3 QUIET_RETRIES=0 WORKLOADS=$wl CONNS=$c DURATION=$D WARMUP=$W REPEAT=1 REP_START=$r \
      bash "$here/yardstick/tunnel-bench.sh" -o "$d" pair "$name" \
      "env $envs $pub/edge/teleport-edge --listen 127.0.0.1:{EDGE_PORT} --origin http://127.0.0.1:{TUNNEL_PORT} $extra" \
      "env $envs $pub/origin/teleport-origin --listen 127.0.0.1:{TUNNEL_PORT} --upstream {UPSTREAM_URL} $extra" >"$d.log" 2>&1
    tail -n +2 "$d/results.tsv" 2>/dev/null | awk -F'\t' -v OFS='\t' -v la="$(cut -d' ' -f1 /proc/loadavg)" \
      '{ print $2, $3, $4, $5, $7, $10, $27 + $28, $24, $34, $35, la }' | tee -a "$out/runs.tsv"
  done; done; done
done

echo "medians (arm workload conns: req/s, p99 ms, CPU us/req edge+origin, runs):"
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
cut -f1-3 "$out/runs.tsv" | sort -u -k2,2 -k3,3n -k1,1 | while IFS=$'\t' read -r arm wl c; do
  rows=$(awk -F'\t' -v a="$arm" -v w="$wl" -v c="$c" '$1 == a && $2 == w && $3 == c' "$out/runs.tsv")
  printf '%-10s %-9s %4s  %8.0f %8.1f %7.1f  n=%d\n' "$arm" "$wl" "$c" \
    "$(cut -f5 <<<"$rows" | median)" "$(cut -f6 <<<"$rows" | median)" "$(cut -f7 <<<"$rows" | median)" "$(wc -l <<<"$rows")"
done
