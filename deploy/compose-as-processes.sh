#!/usr/bin/env bash
# Runs the configuration of docker-compose.yml as three local processes, for machines without Docker:
# the same programs with the same TELEPORT_* variables, 127.0.0.1 in place of the service names and each
# admin listener on its own port (the compose file publishes them as 9100 and 9101). Builds them (Release),
# starts upstream, origin and edge, each after the one it depends on passes the compose health check
# (--probe), sends requests through the edge, checks the answers and the edge's /metrics, and stops all
# three whatever happens. Exits 0 when every check passed. (FunctionalTests/ComposeTests.cs does the same
# from the compose file itself, on free ports.)
#
#   deploy/compose-as-processes.sh
#   UPSTREAM_PORT=18081 ORIGIN_PORT=19090 EDGE_PORT=18080 EDGE_ADMIN_PORT=19100 ORIGIN_ADMIN_PORT=19101 \
#     deploy/compose-as-processes.sh   # ports taken
#   KEEP_RUNNING=1 deploy/compose-as-processes.sh   # after the checks, serve until Ctrl+C
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
upstream_port="${UPSTREAM_PORT:-8081}"
origin_port="${ORIGIN_PORT:-9090}"
edge_port="${EDGE_PORT:-8080}"
edge_admin_port="${EDGE_ADMIN_PORT:-9100}"
origin_admin_port="${ORIGIN_ADMIN_PORT:-9101}"
edge="http://127.0.0.1:$edge_port"
logs="$(mktemp -d)"
pids=()
failures=0
interrupted=

cleanup() {
  local status=$?
  # Stop what this script started, by process id, edge first (as `docker compose down` would in any order).
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -z $interrupted && ( $status -ne 0 || $failures -ne 0 ) ]]; then
    for name in upstream origin edge; do
      [[ -s "$logs/$name.log" ]] && { echo "--- $name log (last 20 lines)"; tail -n 20 "$logs/$name.log"; }
    done
  fi
  rm -rf "$logs"
}
trap cleanup EXIT
trap 'interrupted=1; exit 130' INT TERM

say() { printf '%s\n' "$*"; }
fail() { say "FAIL: $*"; failures=$((failures + 1)); }
pass() { say "ok:   $*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for port in "$upstream_port" "$origin_port" "$edge_port" "$edge_admin_port" "$origin_admin_port"; do
  if port_open "$port"; then
    say "port $port on 127.0.0.1 is already in use; set UPSTREAM_PORT, ORIGIN_PORT, EDGE_PORT, EDGE_ADMIN_PORT and ORIGIN_ADMIN_PORT to free ones" >&2
    exit 2
  fi
done

say "building (Release) ..."
dotnet build "$repo/src/Teleport.Demo/Teleport.Demo.csproj" -c Release -nologo -v quiet > "$logs/build.log" 2>&1 \
  || { cat "$logs/build.log"; exit 1; }
target() { dotnet msbuild "$repo/src/$1/$1.csproj" -p:Configuration=Release -getProperty:TargetPath | tail -n 1; }
demo_dll="$(target Teleport.Demo)"
origin_dll="$(target Teleport.Origin)"
edge_dll="$(target Teleport.Edge)"

# Only the variables the compose file sets, as in a container.
while read -r variable; do unset "$variable"; done < <(compgen -e | grep '^TELEPORT_' || true)

# start NAME HEALTH-URL DLL ARGS... (with the service's VAR=VALUE pairs in the array `vars`): runs
# `env VARS dotnet DLL ARGS` and waits until `dotnet DLL --probe HEALTH-URL` passes, as compose's healthcheck
# must before a service that depends on it (condition: service_healthy) starts.
start() {
  local name=$1 health=$2 dll=$3; shift 3
  env "${vars[@]}" dotnet "$dll" "$@" > "$logs/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do
    dotnet "$dll" --probe "$health" > /dev/null 2>&1 && { say "started $name (pid ${pids[-1]}), healthy: $health"; return 0; }
    kill -0 "${pids[-1]}" 2>/dev/null || { say "$name exited at start:"; cat "$logs/$name.log"; exit 1; }
    sleep 0.2
  done
  say "$name was not healthy ($health) within 30 s"; exit 1
}

# The services of docker-compose.yml with its environment: service names replaced by 127.0.0.1, ports by the above.
vars=(TELEPORT_LISTEN="0.0.0.0:$upstream_port")
start upstream "http://127.0.0.1:$upstream_port/healthz" "$demo_dll" upstream
vars=(TELEPORT_LISTEN="0.0.0.0:$origin_port" TELEPORT_UPSTREAM="http://127.0.0.1:$upstream_port" TELEPORT_ADMIN="0.0.0.0:$origin_admin_port")
start origin "http://127.0.0.1:$origin_admin_port/readyz" "$origin_dll"
vars=(TELEPORT_LISTEN="0.0.0.0:$edge_port" TELEPORT_ORIGIN="http://127.0.0.1:$origin_port" TELEPORT_ADMIN="0.0.0.0:$edge_admin_port")
start edge "http://127.0.0.1:$edge_admin_port/readyz" "$edge_dll"

# request NAME CURL-ARGS...: sets status, headers and body of one request through the edge.
request() {
  local out="$logs/$1"; shift
  status="$(curl -sS -o "$out.body" -D "$out.headers" -w '%{http_code}' --max-time 20 "$@")" || status=000
  headers="$(tr -d '\r' < "$out.headers" 2>/dev/null || true)"
  body="$(cat "$out.body" 2>/dev/null || true)"   # curl writes no file for an empty body
}
has_header() { grep -qi "^$1:" <<< "$headers"; }

# The edge opens its tunnel in the background; a first request waits for it (--tunnel-wait, 5 s).
request item "$edge/api/items/42"
if [[ $status == 200 && $body == *'"id":42,'* ]] && has_header ETag && has_header Set-Cookie && has_header Cache-Control; then
  pass "GET /api/items/42 through the edge: 200, the item's JSON, ETag, Cache-Control and Set-Cookie"
else
  fail "GET /api/items/42: status $status, body: ${body:0:200}"
fi

etag="$(grep -i '^etag:' <<< "$headers" | cut -d' ' -f2- || true)"
request item304 "$edge/api/items/42" -H "If-None-Match: $etag"
[[ $status == 304 ]] && pass "GET /api/items/42 with If-None-Match: 304" || fail "If-None-Match gave $status, not 304"

request bid "$edge/bid" -H 'Content-Type: application/json' -H 'X-Request-Id: compose-check-1' \
  -d '{"id":"compose-check-1","imp":[{"id":"1","banner":{"w":300,"h":250},"bidfloor":0.5}]}'
if [[ $status == 200 && $body == *'"id":"compose-check-1"'* ]] && grep -qi '^x-request-id: compose-check-1$' <<< "$headers"; then
  pass "POST /bid through the edge: 200, a bid response for the request's id"
else
  fail "POST /bid: status $status, body: ${body:0:200}"
fi

request h2 --http2-prior-knowledge "$edge/healthz"
[[ $status == 200 && $body == ok* ]] && pass "GET /healthz over cleartext HTTP/2: 200" || fail "GET /healthz over h2c: status $status"

request metrics "http://127.0.0.1:$edge_admin_port/metrics"
if [[ $status == 200 ]] && grep -q '^teleport_edge_requests_total{.*outcome="success".*} [1-9]' <<< "$body"; then
  pass "edge /metrics on the admin port: teleport_edge_requests_total counts the successes"
else
  fail "edge /metrics: status $status, $(grep '^teleport_edge_requests_total' <<< "$body" | head -3)"
fi

request readyz "http://127.0.0.1:$origin_admin_port/readyz"
[[ $status == 200 && $body == *'"ready":true'* ]] && pass "origin /readyz: 200 $body" || fail "origin /readyz: status $status $body"

if [[ -n "${KEEP_RUNNING:-}" ]]; then
  say "serving: curl -i $edge/api/items/42   (Ctrl+C stops all three)"
  wait "${pids[0]}" || true
  exit 0
fi

# With the upstream gone, the origin answers the failure stage and the edge maps it to 502.
kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
request down "$edge/api/items/42"
if [[ $status == 502 ]] && grep -qi '^x-teleport-error: upstream-connect$' <<< "$headers"; then
  pass "upstream stopped: 502 with X-Teleport-Error: upstream-connect ($body)"
else
  fail "upstream stopped: status $status, headers: $(tr '\n' ' ' <<< "$headers")"
fi

if [[ $failures -ne 0 ]]; then
  say "$failures check(s) failed"
  exit 1
fi
say "all checks passed"
