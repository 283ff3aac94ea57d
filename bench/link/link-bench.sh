#!/usr/bin/env bash
# link-bench.sh - HTTP across a real, rate-limited and delayed link: plain vs. through the tunnel.
#
# Builds two hosts on this machine, each in its own network namespace, joined by a veth pair shaped with
# tc tbf (both directions) and a round-trip delay:
#
#   edge host (ns tlink-e-N)                          origin host (ns tlink-o-N)
#   wrk / curl -> teleport-edge 127.0.0.1:8000 ==link==> delay-relay :9000 -> teleport-origin 127.0.0.1:9090 -+
#   wrk / curl ----------------------------------link==> delay-relay :80   -> nginx 127.0.0.1:8080 <-----------+
#
# The delay: this kernel has no netem, so bench/link/DelayRelay (delay-relay) sits at the origin end of the link
# and holds every chunk RTT/2 in each direction before passing it on; plain HTTP and the tunnel cross the same
# relay, so both see the same round trip. TCP between the edge host and the relay sees the shaped link but not
# the delay: what the delay exposes is the application's own flow control (HTTP/2 windows), and the time every
# request/response exchange waits.
#
# Measures, per link delay and workload (the yardstick's rtb and get-small, same Lua scripts and bodies):
#   plain (wrk -> link -> nginx) and tunnel (wrk -> edge -> link -> origin -> nginx): req/s, p50/p99,
#   bytes on the link each way and the link's utilisation, the machine's CPU use; then large transfers
#   (download and upload of one random, incompressible file) on a faster link: throughput as a share of the rate.
#
# Usage: bench/link/link-bench.sh [-o DIR] [-R MBIT] [-D "0 20 80"] [-w "rtb get-small"] [-c "256 1024"]
#                                 [-d SECONDS] [-W SECONDS] [-F SECONDS] [-T MBIT] [-L "80"] [-M MB] [-n REPEATS]
#                                 [-x "EXTRA FLAGS FOR BOTH SERVICES"] [-s "rps large"] [-P PUBLISH_DIR]
#   -o DIR   output (default /tmp/teleport-bench/link-DATE): results.tsv, large.tsv, summary.md, logs/
#   -R MBIT  link rate for the request runs (default 20), each direction
#   -D MS    round-trip delays for the request runs (default "0 20 80")
#   -w, -c   workloads and wrk connection counts (default "rtb get-small", "256 1024"; the summary takes the best)
#   -d, -W   measured and warm-up seconds per wrk run (default 10 and 5); before the first run the tunnel is
#            warmed up for -F seconds per workload (default 15)
#   -T MBIT  link rate for the large transfers (default 200)
#   -L MS    round-trip delays for the large transfers (default "80")
#   -M MB    size of the large transfer (default 100)
#   -n N     repeats of each large transfer (default 3; the summary gives the median)
#   -x       extra flags for both services (e.g. "--http2-window 256KiB")
#   -s       steps to run (default "rps large")
#   -P DIR   use teleport-edge/-origin and delay-relay already published in DIR/{edge,origin,relay}
#
# Needs root (namespaces, tc), iproute2, nginx (with the dav module, for uploads), wrk, curl, the .NET SDK;
# gnuplot for the chart. Everything it creates (namespaces, veth, processes) is removed on exit, also on
# Ctrl-C or an error.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
yardstick=$repo/bench/yardstick/tunnel-bench.sh
out=/tmp/teleport-bench/link-$(date +%Y%m%d-%H%M%S)
rate=20 delays="0 20 80" workloads="rtb get-small" conns="256 1024" duration=10 warmup=5 first_warmup=15
large_rate=200 large_delays="80" large_mb=100 repeats=3 extra="" steps="rps large" published=""

while getopts "o:R:D:w:c:d:W:F:T:L:M:n:x:s:P:h" opt; do
  case $opt in
    o) out=$OPTARG ;; R) rate=$OPTARG ;; D) delays=$OPTARG ;; w) workloads=$OPTARG ;; c) conns=$OPTARG ;;
    d) duration=$OPTARG ;; W) warmup=$OPTARG ;; F) first_warmup=$OPTARG ;; T) large_rate=$OPTARG ;; L) large_delays=$OPTARG ;;
    M) large_mb=$OPTARG ;; n) repeats=$OPTARG ;; x) extra=$OPTARG ;; s) steps=$OPTARG ;; P) published=$OPTARG ;;
    h) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
  esac
done

die() { echo "link-bench: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root: it creates network namespaces, a veth pair and tc qdiscs (run: sudo $0 $*)"
for tool in ip tc nginx wrk curl setsid awk; do command -v "$tool" >/dev/null || die "missing $tool (Debian: apt-get install iproute2 nginx wrk curl)"; done

# ---------------------------------------------------------------- cleanup, armed before anything exists
n=$$
ns_e=tlink-e-$n ns_o=tlink-o-$n ve=tle$n vo=tlo$n
ip_e=10.99.0.1 ip_o=10.99.0.2
started=()
stop_group() { # PID: a session leader we started; TERM its group, then KILL
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local p ns
  trap - EXIT INT TERM
  for p in "${started[@]+"${started[@]}"}"; do stop_group "$p"; done
  # Anything still inside our namespaces was started by us.
  for ns in "$ns_e" "$ns_o"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  ip link del "$ve" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_in() { # NS NAME CMD -> LAST_PID (own session, so its whole group can be stopped)
  ip netns exec "$1" setsid bash -c "exec $3" </dev/null >"$out/logs/$2.log" 2>&1 &
  LAST_PID=$!
  started+=("$LAST_PID")
}
stop_pid() { # PID: stop and forget it
  local keep=() p
  stop_group "$1"
  for p in "${started[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  started=("${keep[@]+"${keep[@]}"}")
}

# Long commands run in the background and are waited for: a shell runs a signal's trap only once its foreground
# command ends, so Ctrl-C or a TERM would otherwise wait for wrk's whole run before cleaning up.
fg_wait() { "$@" & wait $!; }

wait_http() { # NS URL SECONDS: until URL answers 2xx
  local i
  for i in $(seq 1 $(($3 * 5))); do
    ip netns exec "$1" curl -fs -o /dev/null --max-time 2 -H 'Host: foobar' "$2" && return 0
    sleep 0.2
  done
  return 1
}

# ---------------------------------------------------------------- build
mkdir -p "$out/logs" "$out/www" "$out/put/upload" "$out/lua"
# nginx workers run as nobody; they store uploads here.
chmod 777 "$out/put/upload"
out=$(cd "$out" && pwd)
pub=${published:-$out/publish}
if [ -z "$published" ]; then
  log "publishing to $pub"
  dotnet publish "$repo/src/Teleport.Edge" -c Release -o "$pub/edge" -v q --nologo >"$out/logs/publish.log"
  dotnet publish "$repo/src/Teleport.Origin" -c Release -o "$pub/origin" -v q --nologo >>"$out/logs/publish.log"
  dotnet publish "$here/DelayRelay" -c Release -o "$pub/relay" -v q --nologo >>"$out/logs/publish.log"
fi

# The yardstick's bodies and Lua scripts, taken from it unchanged so both benchmarks send the same requests.
OUTDIR=$out RTB_BODIES=500
eval "$(sed -n '/^SMALL_BODY=/p; /^BID_BODY=/p' "$yardstick")"
eval "$(sed -n '/^write_lua() {/,/^# -* run one cell/p' "$yardstick" | sed '$d')"
write_lua
head -c "$((large_mb * 1000 * 1000))" /dev/urandom >"$out/www/big.bin"

small=${SMALL_BODY//\"/\\\"} bid=${BID_BODY//\"/\\\"}
cat >"$out/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $out/nginx.pid;
error_log $out/logs/nginx-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  server_tokens off;
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  client_body_temp_path $out/put/tmp;
  proxy_temp_path $out/put/tmp;
  fastcgi_temp_path $out/put/tmp;
  uwsgi_temp_path $out/put/tmp;
  scgi_temp_path $out/put/tmp;
  server {
    listen 127.0.0.1:8080 backlog=4096;
    location = /foo/bar { default_type text/plain; return 200 "$small"; }
    location = /bid { default_type application/json; return 200 "$bid"; }
    location = /big.bin { root $out/www; }
    # PUT stores the whole body before answering, so an upload is timed to its last byte.
    location /upload/ { root $out/put; dav_methods PUT; client_max_body_size 0; create_full_put_path on; }
    location / { return 404; }
  }
}
EOF

# ---------------------------------------------------------------- the two hosts and the link
shape() { # MBIT: tbf on both ends; burst = 10 ms at the rate (at least 32 KB), queue = 25 ms at the rate
  local burst=$(($1 * 1000 * 1000 / 8 / 100)); [ "$burst" -ge 32768 ] || burst=32768
  ip netns exec "$ns_e" tc qdisc replace dev "$ve" root tbf rate "${1}mbit" burst "$burst" latency 25ms
  ip netns exec "$ns_o" tc qdisc replace dev "$vo" root tbf rate "${1}mbit" burst "$burst" latency 25ms
}
ip netns add "$ns_e" || die "ip netns add failed (no network namespace support?)"
ip netns add "$ns_o"
ip link add "$ve" type veth peer name "$vo"
ip link set "$ve" netns "$ns_e"
ip link set "$vo" netns "$ns_o"
ip -n "$ns_e" addr add "$ip_e/30" dev "$ve"; ip -n "$ns_o" addr add "$ip_o/30" dev "$vo"
for ns in "$ns_e" "$ns_o"; do ip -n "$ns" link set lo up; done
ip -n "$ns_e" link set "$ve" up; ip -n "$ns_o" link set "$vo" up
shape "$rate"

flags="--max-request-body-size $((large_mb + 28))MiB --max-response-body-size $((large_mb + 28))MiB $extra"
start_in "$ns_o" nginx "nginx -p '$out' -c '$out/nginx.conf' -e '$out/logs/nginx-error.log'"
start_in "$ns_o" origin "'$pub/origin/teleport-origin' --listen 127.0.0.1:9090 --upstream http://127.0.0.1:8080 $flags"
start_in "$ns_e" edge "'$pub/edge/teleport-edge' --listen 127.0.0.1:8000 --origin http://$ip_o:9000 $flags"
relay_pids=()
set_delay() { # RTT_MS: (re)start both relays with RTT/2 each way, wait for both paths
  local p
  for p in "${relay_pids[@]+"${relay_pids[@]}"}"; do stop_pid "$p"; done
  relay_pids=()
  start_in "$ns_o" relay-plain "'$pub/relay/delay-relay' $ip_o:80 127.0.0.1:8080 $(($1 / 2))"; relay_pids+=("$LAST_PID")
  start_in "$ns_o" relay-tunnel "'$pub/relay/delay-relay' $ip_o:9000 127.0.0.1:9090 $(($1 / 2))"; relay_pids+=("$LAST_PID")
  wait_http "$ns_e" "http://$ip_o/foo/bar" 20 || die "plain path not answering (logs/relay-plain.log, logs/nginx-error.log)"
  wait_http "$ns_e" "http://127.0.0.1:8000/foo/bar" 60 || die "tunnel path not answering (logs/edge.log, logs/origin.log)"
}

link_bytes() { # -> "tx rx" of the edge end (tx = edge -> origin)
  echo "$(ip netns exec "$ns_e" cat "/sys/class/net/$ve/statistics/tx_bytes") $(ip netns exec "$ns_e" cat "/sys/class/net/$ve/statistics/rx_bytes")"
}
cpu_ticks() { awk '/^cpu /{ printf "%.0f %.0f\n", $2+$3+$4+$7+$8, $9 }' /proc/stat; }

{
  echo "date: $(date -Is)"; echo "kernel: $(uname -r)"; echo "cpus: $(nproc) ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo))"
  echo "wrk: $(wrk -v 2>&1 | head -1)"; echo "nginx: $(nginx -v 2>&1)"; echo "flags: $flags"
  echo "rate=$rate delays=$delays workloads=$workloads conns=$conns duration=$duration warmup=$warmup"
  echo "large: rate=$large_rate delays=$large_delays size=${large_mb}MB repeats=$repeats"
} >"$out/env.txt"

# ---------------------------------------------------------------- request runs
hz=$(getconf CLK_TCK) cores=$(nproc)
rps_tsv=$out/results.tsv
echo -e "ts\trate_mbit\trtt_ms\tpath\tworkload\tconns\trps\tp50_ms\tp99_ms\terrors\tnon2xx\tup_mbit\tdown_mbit\tutil_pct\tlink_B_per_req\tbusy_pct\tsteal_pct\tload1" >"$rps_tsv"
run_wrk() { # RTT PATH WORKLOAD CONNS
  local rtt=$1 path=$2 wl=$3 c=$4 url tag l0 l1 c0 c1 res
  [ "$path" = plain ] && url=http://$ip_o/ || url=http://127.0.0.1:8000/
  tag=r$rate.d$rtt.$path.$wl.c$c
  fg_wait ip netns exec "$ns_e" wrk -t2 -c"$c" -d"${warmup}s" --timeout 5s -s "$out/lua/$wl.lua" "$url" >"$out/logs/$tag.warmup.txt" 2>&1 || true
  l0=$(link_bytes); c0=$(cpu_ticks)
  fg_wait ip netns exec "$ns_e" wrk -t2 -c"$c" -d"${duration}s" --timeout 5s --latency -s "$out/lua/$wl.lua" "$url" >"$out/logs/$tag.txt" 2>&1 || true
  l1=$(link_bytes); c1=$(cpu_ticks)
  res=$(grep '^TB_RESULT' "$out/logs/$tag.txt" || true)
  [ -n "$res" ] || { log "$tag: wrk gave no result (logs/$tag.txt)"; return 0; }
  awk -v res="$res" -v l0="$l0" -v l1="$l1" -v c0="$c0" -v c1="$c1" -v hz="$hz" -v cores="$cores" -v rate="$rate" \
      -v rtt="$rtt" -v path="$path" -v wl="$wl" -v c="$c" -v ts="$(date +%H:%M:%S)" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
    n = split(res, kv, " "); for (i = 2; i <= n; i++) { split(kv[i], a, "="); R[a[1]] = a[2] }
    dur = R["duration_us"] / 1e6; req = R["requests"] > 0 ? R["requests"] : 1
    split(l0, a, " "); split(l1, b, " "); up = b[1] - a[1]; dn = b[2] - a[2]
    split(c0, x, " "); split(c1, y, " ")
    upm = up * 8 / dur / 1e6; dnm = dn * 8 / dur / 1e6; util = 100 * (upm > dnm ? upm : dnm) / rate
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.2f\t%.2f\t%d\t%d\t%.2f\t%.2f\t%.0f\t%.0f\t%.0f\t%.1f\t%s\n",
      ts, rate, rtt, path, wl, c, R["requests"] / dur, R["p50_us"] / 1000, R["p99_us"] / 1000,
      R["err_connect"] + R["err_read"] + R["err_write"] + R["err_timeout"], R["non2xx"],
      upm, dnm, util, (up + dn) / req, 100 * (y[1] - x[1]) / hz / dur / cores, 100 * (y[2] - x[2]) / hz / dur / cores, load }' | tee -a "$rps_tsv" >&2
}

if [[ " $steps " == *" rps "* ]]; then
  warmed=""
  for d in $delays; do
    log "link ${rate} Mbit/s, RTT ${d} ms"
    set_delay "$d"
    if [ -z "$warmed" ]; then
      # Once, before the first measured run: .NET compiles the hot code again, with better optimisation, during the
      # first seconds under load (see e2e.sh's -W); a 5 s warm-up per cell is not enough for the first tunnel cell.
      log "warming the tunnel up (${first_warmup}s per workload)"
      for wl in $workloads; do
        fg_wait ip netns exec "$ns_e" wrk -t2 -c256 -d"${first_warmup}s" --timeout 5s -s "$out/lua/$wl.lua" http://127.0.0.1:8000/ >"$out/logs/first-warmup.$wl.txt" 2>&1 || true
      done
      warmed=1
    fi
    for wl in $workloads; do for c in $conns; do for path in plain tunnel; do
      run_wrk "$d" "$path" "$wl" "$c"
    done; done; done
  done
fi

# ---------------------------------------------------------------- large transfers
large_tsv=$out/large.tsv
echo -e "ts\trate_mbit\trtt_ms\tpath\tdirection\tbytes\tseconds\tmbit\tshare_pct\thttp\tload1" >"$large_tsv"
transfer() { # RTT PATH DIRECTION
  local base r
  rm -f "$out/logs/transfer.txt"
  [ "$2" = plain ] && base=http://$ip_o || base=http://127.0.0.1:8000
  if [ "$3" = download ]; then
    fg_wait ip netns exec "$ns_e" curl -s -o /dev/null --max-time 300 -w '%{size_download} %{time_total} %{http_code}' "$base/big.bin" >"$out/logs/transfer.txt" || true
  else
    fg_wait ip netns exec "$ns_e" curl -s -o /dev/null --max-time 300 -H 'Expect:' -T "$out/www/big.bin" -w '%{size_upload} %{time_total} %{http_code}' "$base/upload/big.bin" >"$out/logs/transfer.txt" || true
    rm -f "$out/put/upload/big.bin"
  fi
  r=$(cat "$out/logs/transfer.txt")
  echo "$r" | awk -v rate="$large_rate" -v rtt="$1" -v path="$2" -v dir="$3" -v ts="$(date +%H:%M:%S)" -v load="$(cut -d' ' -f1 /proc/loadavg)" '{
    mbit = $2 > 0 ? $1 * 8 / $2 / 1e6 : 0
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.1f\t%.0f\t%s\t%s\n", ts, rate, rtt, path, dir, $1, $2, mbit, 100 * mbit / rate, $3, load }' | tee -a "$large_tsv" >&2
}
if [[ " $steps " == *" large "* ]]; then
  shape "$large_rate"
  for d in $large_delays; do
    log "link ${large_rate} Mbit/s, RTT ${d} ms: ${large_mb} MB transfers"
    set_delay "$d"
    for i in $(seq 1 "$repeats"); do for dir in download upload; do for path in plain tunnel; do
      transfer "$d" "$path" "$dir"
    done; done; done
  done
fi

# ---------------------------------------------------------------- summary
awk -F'\t' -f "$here/summary.awk" "$rps_tsv" "$large_tsv" | tee "$out/summary.md"
if command -v gnuplot >/dev/null && [ "$(wc -l <"$rps_tsv")" -gt 1 ]; then
  awk -F'\t' -f "$here/chart-data.awk" "$rps_tsv" >"$out/chart.dat"
  gnuplot -e "data='$out/chart.dat'; output='$out/chart.png'" "$here/chart.gp" && echo "chart: $out/chart.png" >&2
fi
echo "raw: $rps_tsv, $large_tsv; logs: $out/logs" >&2
