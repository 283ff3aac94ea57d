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
#   W and D (environment) set warm-up and measured seconds per run (10 and 10); S the most CPU steal (%) a run
#   may have to count in the medians (10).
#   Any other pair can be an arm: put two scripts at PUBDIR/edge/teleport-edge and PUBDIR/origin/teleport-origin
#   that turn `--listen ADDR --origin URL` and `--listen ADDR --upstream URL` into its own flags and exec it.
# Columns per run: rps, p99 ms, edge+origin CPU us/req, tunnel packets/req, other processes' CPU (% of a core),
# steal % and the 1-minute load average: distrust rounds where "other" differs a lot between arms.
# The medians: req/s, p99, CPU us/req, "norm" (the pair's CPU over nginx's + wrk's in the same run, which cancels
# the host's speed), tunnel/plain bytes and tunnel packets per request, over the runs with steal <= S.
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

echo "medians over runs with steal <= ${S:-10} % (arm workload conns: req/s, p99 ms, CPU us/req edge+origin, norm, tunnel/plain, tunnel pkts/req, runs kept/all):"
# The yardstick's results.tsv of every run: 2 impl, 3 workload, 4 conns, 7 rps, 10 p99, 22 ratio, 24 tunnel pkts,
# 29 nginx CPU, 31 edge+origin CPU, 32 wrk CPU, 35 steal.
for f in "$out"/*/results.tsv; do tail -n +2 "$f"; done | awk -F'\t' -v max="${S:-10}" '
  { k = $2 "\t" $3 "\t" $4; all[k]++ }
  $35 <= max { n[k]++; i = n[k]; rps[k, i] = $7; p99[k, i] = $10; cpu[k, i] = $31; d = $29 + $32; norm[k, i] = d > 0 ? $31 / d : 0
               ratio[k, i] = $22; pkts[k, i] = $24 }
  # The median of the numeric values only, formatted; "NA" (e.g. byte counts without nftables) when there are none.
  function med(a, k, c, fmt,   i, j, m, t, v) {
    for (i = 1; i <= c; i++) if (a[k, i] ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) v[++m] = a[k, i] + 0
    if (m == 0) return sprintf("%" length(sprintf(fmt, 0)) "s", "NA")
    for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return sprintf(fmt, m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2)
  }
  END {
    for (k in all) {
      c = n[k] + 0; split(k, f, "\t")
      if (c == 0) { printf "%-10s %-9s %4s  (all %d runs had more steal)\n", f[1], f[2], f[3], all[k]; continue }
      printf "%-10s %-9s %4s  %s %s %s %s %s %s  n=%d/%d\n", f[1], f[2], f[3], med(rps, k, c, "%8.0f"),
        med(p99, k, c, "%8.1f"), med(cpu, k, c, "%7.1f"), med(norm, k, c, "%6.2f"), med(ratio, k, c, "%7.3f"),
        med(pkts, k, c, "%6.2f"), c, all[k]
    }
  }' | sort -b -k2,2 -k3,3n -k1,1
