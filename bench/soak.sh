#!/usr/bin/env bash
# Bounded soak of the release binary under a mixed load, on 127.0.0.1 only: no-op and JSON
# endpoints, a two-backend merge, a JWT-protected endpoint (valid and refused tokens), backend
# 500s, unknown routes, a backend slower than the endpoint's timeout, backends that refuse or
# reset connections, and clients that go away half-way. It reports the requests of each kind,
# the errors provoked on purpose apart from the others, and the gateway's RSS and open fds
# (/proc/PID) at the warm start, every minute, at the end of the load and once its connections
# have idled out, then a verdict against the targets (0 unexpected errors, RSS growth < 5 %
# from the warm start to the end, fds back to the idle baseline); it exits 1 when one is missed.
# Usage: bash bench/soak.sh   (env: DURATION=600 seconds of load after WARMUP=20; a sample every
# SAMPLE_EVERY=60 seconds; IDLE_WAIT=40 seconds at most for the fds to come back; TENTACLE=path
# to a binary instead of target/release/tentacle, which is built when missing)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
DURATION=${DURATION:-600}
WARMUP=${WARMUP:-20}
IDLE_WAIT=${IDLE_WAIT:-40}
SAMPLE_EVERY=${SAMPLE_EVERY:-60}
# the backends' keep-alive: they close the gateway's pooled connections after this many idle
# seconds (the gateway's own idle_connection_timeout in bench/soak.json is 5 s)
BACKEND_KEEPALIVE=10
BACKEND_PORT=18180 SPECIAL_PORT=18181 TENTACLE_PORT=18182 REFUSED_PORT=18183
LOAD=$((WARMUP + DURATION))

need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# the refused backend's port must be free too: nothing may answer there
refuse_taken $BACKEND_PORT $SPECIAL_PORT $TENTACLE_PORT $REFUSED_PORT

BIN=${TENTACLE:-$root/target/release/tentacle}
if [ -z "${TENTACLE:-}" ] && [ ! -x "$BIN" ]; then (cd "$root" && cargo build --release --quiet); fi
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
echo "tentacle: $BIN ($("$BIN" version 2>/dev/null | head -1))"

scratch
# a signal ends the script at once: its sleeps run in the background, waited for (the wait
# builtin returns when a trapped signal arrives)
sleeper=""
trap '[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; cleanup; exit 130' INT TERM

# --- the backends ----------------------------------------------------------------------------
backend_files
python3 -c 'import sys; open(sys.argv[1], "w").write("{\"blob\":\"" + "x" * (4 << 20) + "\"}")' \
  "$work/www/huge"
nginx_conf backend "keepalive_timeout ${BACKEND_KEEPALIVE}s;
  server {
    listen 127.0.0.1:$BACKEND_PORT reuseport;
    root $work/www;
    default_type application/json;
    location = /error { return 500 '{\"error\":\"backend\"}'; }
    location / { try_files \$uri =404; }
  }"
"$NGINX" -c "$work/backend.conf" -p "$work" >/dev/null 2>&1 &
pids+=($!)
# /slow answers after 3 s (the endpoint's timeout is 1 s), /reset resets, /sink reads bodies
python3 "$here/soak.py" backend $SPECIAL_PORT 3 $BACKEND_KEEPALIVE >"$work/logs/special.log" 2>&1 &
pids+=($!)

# the JWK set (a random HS256 key) next to where the gateway runs, and three tokens: valid,
# signed with another key, expired
mapfile -t tok < <(python3 "$here/soak.py" jwt "$work")

(cd "$work" && exec "$BIN" run -c "$here/soak.json") >"$work/logs/tentacle.log" 2>&1 &
TPID=$!
pids+=($TPID)
wait_ports $BACKEND_PORT $SPECIAL_PORT $TENTACLE_PORT

status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true; }

# --- the gateway process (/proc/PID) ---------------------------------------------------------
t0=$(date +%s.%N)
sample() { # LABEL: one line of samples.tsv (label, seconds since the load started, RSS KiB,
           # fds, sockets among them, threads), printed too
  local t rss fds socks thr
  t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", b - a }')
  if ! kill -0 "$TPID" 2>/dev/null; then
    echo "  $1: t=${t}s the gateway is gone" >&2
    return 1
  fi
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$TPID/status")
  thr=$(awk '/^Threads/ {print $2}' "/proc/$TPID/status")
  fds=$(find "/proc/$TPID/fd" -mindepth 1 2>/dev/null | wc -l)
  socks=$(find "/proc/$TPID/fd" -mindepth 1 -lname 'socket:*' 2>/dev/null | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$t" "$rss" "$fds" "$socks" "$thr" >>"$work/samples.tsv"
  printf '  %-20s t=%4ss  RSS %7s KiB  %4s fds (%s sockets)  %s threads\n' \
    "$1" "$t" "$rss" "$fds" "$socks" "$thr"
}
sleep_until() { # SECONDS since t0
  local d
  d=$(awk -v a="$t0" -v s="$1" -v b="$(date +%s.%N)" 'BEGIN { d = a + s - b; printf "%.2f", (d > 0 ? d : 0) }')
  sleep "$d" &
  sleeper=$!
  wait "$sleeper"
  sleeper=""
}

# the baseline: the gateway idle, before any proxied request (only /__health asked)
[ "$(status "http://127.0.0.1:$TENTACLE_PORT/__health")" = 200 ] || {
  echo "the gateway does not answer /__health" >&2; cat "$work/logs/tentacle.log" >&2; exit 1; }
sleep 1
: >"$work/samples.tsv"
echo "gateway pid $TPID"
sample "baseline (idle)"

# every endpoint answers as the load expects it to before the load starts
gw="http://127.0.0.1:$TENTACLE_PORT"
for check in "/api/small 200" "/api/small-json 200" "/api/merge 200" "/api/error 500" "/nope 404" \
             "/api/refused 500" "/api/reset 500"; do
  set -- $check
  got=$(status "$gw$1")
  [ "$got" = "$2" ] || { echo "$1 answered $got, not $2" >&2; exit 1; }
done
[ "$(status -H "Authorization: Bearer ${tok[0]}" "$gw/api/private")" = 200 ] || {
  echo "/api/private refused the valid token" >&2; exit 1; }
[ "$(status -H "Authorization: Bearer ${tok[1]}" "$gw/api/private")" = 401 ] || {
  echo "/api/private did not refuse a badly signed token" >&2; exit 1; }

# --- the load --------------------------------------------------------------------------------
# one wrk (one thread) per kind of request; its Lua script takes the requests of the kind in
# turn, counts the answers by status and the 200s whose body lacks the expected text, and
# writes them as JSON at the end
cat >"$work/soak.lua" <<'LUA'
local threads = {}
local pause = tonumber(os.getenv("SOAK_PAUSE") or "0")
function setup(thread) table.insert(threads, thread) end
if pause > 0 then function delay() return pause end end

function init(args)
  check = args[1]
  reqs = {}
  for i = 2, #args do
    local parts = {}
    for p in string.gmatch(args[i], "[^|]+") do table.insert(parts, p) end
    local method, path = parts[1]:match("^(%S+)%s+(%S+)$")
    local headers = {}
    for j = 2, #parts do
      local k, v = parts[j]:match("^([^:]+):%s*(.*)$")
      headers[k] = v
    end
    table.insert(reqs, wrk.format(method, path, headers))
  end
  n, statuses, bad = 0, {}, 0
end

function request()
  n = n + 1
  return reqs[(n - 1) % #reqs + 1]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 and check ~= "-" and not string.find(body, check, 1, true) then bad = bad + 1 end
end

function done(summary, latency, requests)
  local total, bad_all, parts = {}, 0, {}
  for _, t in ipairs(threads) do
    for s, v in pairs(t:get("statuses")) do total[s] = (total[s] or 0) + v end
    bad_all = bad_all + t:get("bad")
  end
  for s, v in pairs(total) do parts[#parts + 1] = string.format('"%d": %d', s, v) end
  local e = summary.errors
  local f = assert(io.open(os.getenv("SOAK_OUT"), "w"))
  f:write(string.format('{"kind": "%s", "requests": %d, "bad_body": %d, "statuses": {%s}, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d, "p50_ms": %.3f, "p99_ms": %.3f}\n',
    os.getenv("SOAK_KIND"), summary.requests, bad_all, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
  f:close()
end
LUA

load_pids=()
kinds_json=""
# kind NAME CONNECTIONS PAUSE_MS EXPECTED_STATUSES TEXT_IN_200 REQUEST...
# (REQUEST: "METHOD PATH" then "|Name: value" for each header)
kind() {
  local name=$1 conns=$2 pause=$3 expect=$4 check=$5
  shift 5
  kinds_json+="${kinds_json:+, }{\"kind\": \"$name\", \"expect\": \"$expect\", \"check\": \"${check//\"/\\\"}\"}"
  SOAK_KIND=$name SOAK_OUT="$work/wrk-$name.json" SOAK_PAUSE=$pause \
    timeout -k 5 $((LOAD + 30)) wrk -t1 -c"$conns" -d"${LOAD}s" --timeout 5s -s "$work/soak.lua" \
    "$gw" -- "$check" "$@" >"$work/logs/wrk-$name.txt" 2>&1 &
  load_pids+=($!)
  pids+=($!)
}
auth="|Authorization: Bearer"
echo "load: ${WARMUP}s warm-up, then ${DURATION}s"
t0=$(date +%s.%N)
kind noop          8 0 200 tentacle "GET /api/small"
kind json          6 0 200 '"name":' "GET /api/small-json" "GET /api/large-json"
kind merge         6 0 200 second   "GET /api/merge"
kind merge-partial 2 5 200 first    "GET /api/merge-partial"
kind jwt           4 0 200 tentacle "GET /api/private$auth ${tok[0]}"
kind jwt-refused   2 5 401 -        "GET /api/private$auth ${tok[1]}" "GET /api/private$auth ${tok[2]}" \
                                    "GET /api/private" "GET /api/private$auth not.a.token"
kind backend-500   2 5 500 -        "GET /api/error" "GET /api/error-noop"
kind not-found     2 5 404 -        "GET /nope" "GET /api/small/deeper" "GET /api"
kind slow          6 0 500 -        "GET /api/slow"
kind refused       2 5 500 -        "GET /api/refused"
kind reset         2 5 500 -        "GET /api/reset"
python3 "$here/soak.py" clients $TENTACLE_PORT "$LOAD" 8 "$work/clients.json" \
  >"$work/logs/clients.log" 2>&1 &
load_pids+=($!)
pids+=($!)

alive=1
sleep_until "$WARMUP"
sample "warm start" || alive=0
m=1
while [ $alive = 1 ] && [ $((m * SAMPLE_EVERY)) -lt $((DURATION - 5)) ]; do
  sleep_until $((WARMUP + m * SAMPLE_EVERY))
  sample "load +$((m * SAMPLE_EVERY))s" || alive=0
  m=$((m + 1))
done
if [ $alive = 1 ]; then
  sleep_until $((LOAD - 2))
  sample "end of load" || alive=0
fi
for p in "${load_pids[@]}"; do wait "$p" || true; done
echo "load stopped; waiting up to ${IDLE_WAIT}s for the connections to idle out"

# --- idle: the fds back to the baseline? -----------------------------------------------------
base_fds=$(awk -F'\t' 'NR == 1 {print $4}' "$work/samples.tsv")
end_wait=$(awk -v a="$(date +%s.%N)" -v s="$IDLE_WAIT" 'BEGIN { printf "%d", a + s }')
while [ $alive = 1 ] && [ "$(date +%s)" -lt "$end_wait" ]; do
  kill -0 "$TPID" 2>/dev/null || { alive=0; break; }
  [ "$(find "/proc/$TPID/fd" -mindepth 1 2>/dev/null | wc -l)" -le "$base_fds" ] && break
  sleep 1
done
if [ $alive = 1 ]; then
  sample "after idle" || alive=0
fi
if [ $alive = 1 ]; then
  # the gateway's own sockets (those of ss -tanp that name its pid) by state and peer
  ss -tanpH 2>/dev/null | grep "pid=$TPID," | awk '$1 != "LISTEN" {print $1, "to", $5}' \
    | sort | uniq -c | sort -rn >"$work/sockets-after-idle.txt" || true
  # still serving after all that; the fds once more after these two requests, for the report
  # (not a target): what the gateway held because nothing used it, and what it lost
  if [ "$(status "$gw/__health")" != 200 ] || [ "$(status "$gw/api/small")" != 200 ]; then alive=0; fi
  sleep 0.5
  sample "after 1 request" || alive=0
fi
panics=$(grep -c "panicked" "$work/logs/tentacle.log" || true)
cat >"$work/settings.json" <<JSON
{"kinds": [$kinds_json], "load_seconds": $LOAD, "warmup": $WARMUP,
 "alive_after": $([ $alive = 1 ] && echo true || echo false), "panics": ${panics:-0}}
JSON

rc=0
python3 "$here/soak.py" report "$work" || rc=$?
if [ $alive = 0 ] || [ "${panics:-0}" != 0 ]; then
  echo "--- the gateway's log, last 20 of $(wc -l <"$work/logs/tentacle.log") lines:"
  tail -20 "$work/logs/tentacle.log"
fi
exit $rc
