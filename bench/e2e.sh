#!/usr/bin/env bash
# e2e.sh - end-to-end load benchmark of teleport-edge + teleport-origin against a direct baseline.
#
# Publishes both services (Release) outside the repository, then runs the yardstick
# (bench/yardstick/tunnel-bench.sh: nginx upstream, wrk load, exact TCP bytes per leg, CPU per
# request) for `direct` and one edge/origin pair per compression mode, in the same run, and
# prints the medians of the repeats with each process's peak RSS.
#
# Usage: bench/e2e.sh [-o DIR] [-r REPEAT] [-d SECONDS] [-W SECONDS] [-w "rtb get-small"] [-c "16 256"]
#                     [-m "auto gzip none"] [-x "EXTRA FLAGS FOR BOTH SERVICES"] [-S MAX_STEAL_PCT]
#   -o DIR   output (default /tmp/teleport-bench/DATE): publish/, yardstick output, summary.md,
#            summary.tsv and, when gnuplot is installed, chart.png
#   -r N     repeats of every cell (default 3; the summary gives medians)
#   -d S     measured seconds per cell (default 10)
#   -W S     warm-up seconds before each cell (default 10: .NET re-compiles hot code during the
#            first seconds under load; the yardstick's own default of 2 s measures part of that)
#   -w, -c   workloads and wrk connection counts (yardstick's)
#   -m       --compression modes to run (default "auto gzip none")
#   -x       extra flags passed to both edge and origin, e.g. "--compression-level smallest"
#   -S PCT   leave out of the medians runs during which the hypervisor stole more than PCT % of
#            the CPU (default 10; every run stays in yardstick/results.tsv)
#
# Needs: the .NET SDK; nginx, wrk, curl (Debian packages nginx wrk curl); nftables for exact byte
# counts (needs root; otherwise the yardstick falls back to ss and counts the tunnel leg only);
# gnuplot-nox for the chart. As root on Debian/Ubuntu the missing packages are installed with apt-get.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=/tmp/teleport-bench/$(date +%Y%m%d-%H%M%S)
repeat=3 duration=10 warmup=10 workloads="rtb get-small" conns="16 256" modes="auto gzip none" extra="" maxsteal=10

while getopts "o:r:d:W:w:c:m:x:S:h" opt; do
  case $opt in
    o) out=$OPTARG ;; r) repeat=$OPTARG ;; d) duration=$OPTARG ;; W) warmup=$OPTARG ;; w) workloads=$OPTARG ;;
    c) conns=$OPTARG ;; m) modes=$OPTARG ;; x) extra=$OPTARG ;; S) maxsteal=$OPTARG ;;
    h) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
  esac
done

need=()
for pair in nginx:nginx wrk:wrk curl:curl nft:nftables gnuplot:gnuplot-nox; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "e2e: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
  else
    echo "e2e: missing ${need[*]} (Debian: sudo apt-get install ${need[*]})" >&2
    for tool in nginx wrk curl; do command -v "$tool" >/dev/null || exit 1; done
  fi
fi

mkdir -p "$out/rss"
out=$(cd "$out" && pwd)
echo "e2e: publishing to $out/publish" >&2
dotnet publish "$repo/src/Teleport.Edge" -c Release -o "$out/publish/edge" -v q --nologo >"$out/publish.log"
dotnet publish "$repo/src/Teleport.Origin" -c Release -o "$out/publish/origin" -v q --nologo >>"$out/publish.log"

specs=(direct)
for mode in $modes; do
  specs+=(pair "$mode"
    "$here/peak-rss.sh $out/rss/$mode.edge $out/publish/edge/teleport-edge --listen 127.0.0.1:{EDGE_PORT} --origin http://127.0.0.1:{TUNNEL_PORT} --compression $mode $extra"
    "$here/peak-rss.sh $out/rss/$mode.origin $out/publish/origin/teleport-origin --listen 127.0.0.1:{TUNNEL_PORT} --upstream {UPSTREAM_URL} --compression $mode $extra")
done

WORKLOADS=$workloads CONNS=$conns DURATION=$duration WARMUP=$warmup REPEAT=$repeat \
  bash "$here/yardstick/tunnel-bench.sh" -o "$out/yardstick" "${specs[@]}" >"$out/yardstick.log" 2>&1 \
  || { tail -20 "$out/yardstick.log" >&2; exit 1; }

awk -F'\t' -v rss="$out/rss" -v maxsteal="$maxsteal" -f "$here/summarize.awk" "$out/yardstick/results.tsv" >"$out/summary.tsv"
awk -F'\t' -f "$here/summary-md.awk" "$out/summary.tsv" | tee "$out/summary.md"
if command -v gnuplot >/dev/null; then
  top=$(echo $conns | tr ' ' '\n' | sort -n | tail -1)
  awk -F'\t' -v conns="$top" -f "$here/chart-data.awk" "$out/summary.tsv" >"$out/chart.dat"
  gnuplot -e "data='$out/chart.dat'; output='$out/chart.png'; conns=$top" "$here/chart.gp" && echo "chart: $out/chart.png"
fi
echo "raw results: $out/yardstick/results.tsv; summary: $out/summary.md"
