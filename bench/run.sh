#!/usr/bin/env bash
# Side-by-side load benchmark: nginx as a reverse proxy vs Tentacle, same backend, same run.
# Everything listens on 127.0.0.1. Usage: bench/run.sh   (env: DURATION=10 ROUNDS=3 CONNS="50 200";
# PGO=0 measures the plain release build instead of the profile-guided one, see bench/pgo.sh)
# INSTRUCTIONS=1 bench/run.sh instead counts the user-space instructions per no-op request of both
# proxies under callgrind: repeatable, whatever else the machine is doing; CACHESIM=1 with it
# also counts the simulated first-level cache misses of both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-"50 200"}
WARMUP=${WARMUP:-3}
BACKEND_PORT=18080 NGINX_PORT=18081 TENTACLE_PORT=18082

need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ "${INSTRUCTIONS:-0}" = 1 ]; then command -v valgrind >/dev/null 2>&1 || need+=(valgrind); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

ports="$BACKEND_PORT $NGINX_PORT $TENTACLE_PORT"
if [ "${INSTRUCTIONS:-0}" = 1 ]; then ports="$ports $((NGINX_PORT + 10)) $((TENTACLE_PORT + 10))"; fi
refuse_taken $ports

# the binary measured: the profile-guided release build (bench/pgo.sh, trained on a load of
# its own, not this one), or with PGO=0 (or no llvm-profdata) the plain release build
BIN="$root/target/release/tentacle"
BUILD="plain release build (cargo build --release)"
if [ "${PGO:-1}" = 1 ]; then
  if pgo_bin=$(bash "$here/pgo.sh" | tail -1) && [ -x "$pgo_bin" ]; then
    BIN=$pgo_bin
    BUILD="profile-guided release build (bench/pgo.sh)"
  else
    echo "no PGO build: measuring the plain release build" >&2
  fi
fi
if [ "$BIN" = "$root/target/release/tentacle" ]; then (cd "$root" && cargo build --release --quiet); fi
echo "tentacle: $BUILD"

scratch

ncpu=$(nproc)
cpus

# --- payloads and the backend (bench/lib.sh) -----------------------------------------------
backend_files

nginx_proxy_conf proxy $NGINX_PORT

taskset -c "$SERVER_CPUS" "$NGINX" -c "$work/backend.conf" -p "$work" >/dev/null 2>&1 &
pids+=($!)
taskset -c "$SERVER_CPUS" "$NGINX" -c "$work/proxy.conf" -p "$work" >/dev/null 2>&1 &
NGINX_PROXY_PID=$!
pids+=($NGINX_PROXY_PID)
taskset -c "$SERVER_CPUS" "$BIN" run -c "$here/krakend-bench.json" -p $TENTACLE_PORT >"$work/logs/tentacle.log" 2>&1 &
TENTACLE_PID=$!
pids+=($TENTACLE_PID)

wait_ports $BACKEND_PORT $NGINX_PORT $TENTACLE_PORT
for u in "http://127.0.0.1:$BACKEND_PORT/small" "http://127.0.0.1:$NGINX_PORT/api/small" \
         "http://127.0.0.1:$TENTACLE_PORT/api/small" "http://127.0.0.1:$TENTACLE_PORT/api/merge"; do
  code=$(python3 -c "import urllib.request,urllib.error,sys
try: print(urllib.request.urlopen(sys.argv[1]).status)
except urllib.error.HTTPError as e: print(e.code)" "$u")
  [ "$code" = 200 ] || { echo "$u answered $code" >&2; exit 1; }
done

# the processes whose CPU time and memory are measured: nginx proxy = master + its worker
proxy_pids() { echo "$NGINX_PROXY_PID $(pgrep -P "$NGINX_PROXY_PID" | tr '\n' ' ')"; }
cpu_ticks() { local t=0; for p in $1; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
rss_kb() { local t=0; for p in $1; do t=$((t + $(awk '/VmHWM/ {print $2}' "/proc/$p/status"))); done; echo $t; }
HZ=$(getconf CLK_TCK)

results="$work/results.tsv"
: > "$results"
run_one() { # name conns url pids
  local name=$1 conns=$2 url=$3 procs=$4 before after out
  before=$( [ -n "$procs" ] && cpu_ticks "$procs" || echo 0)
  out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${DURATION}s" --latency "$url" 2>&1)
  after=$( [ -n "$procs" ] && cpu_ticks "$procs" || echo 0)
  WRK_OUT="$out" python3 - "$name" "$conns" "$((after - before))" "$HZ" "$results" <<'PY'
import os, re, sys
name, conns, ticks, hz, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
out = os.environ["WRK_OUT"]
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    n, u = float(m.group(1)), m.group(2)
    return n / 1000 if u == "us" else n * 1000 if u == "s" else n
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
reqs = int(re.search(r"(\d+) requests in", out).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))
p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))
errs = 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
if m: errs += sum(int(x) for x in m.groups())
m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
if m: errs += int(m.group(1))
cpu_us = ticks * 1e6 / hz / reqs if reqs and ticks else 0.0
open(path, "a").write(f"{name}\t{conns}\t{rps:.1f}\t{p50:.3f}\t{p99:.3f}\t{cpu_us:.2f}\t{errs}\n")
PY
}

# instructions per request: each proxy again under callgrind on its own port, counted over a
# wrk run at c=20 after a warm-up (the count covers every thread of the process)
count_instructions() { # name port command...
  local name=$1 port=$2 vpid n total out
  shift 2
  local sim=()
  if [ "${CACHESIM:-0}" = 1 ]; then sim=(--cache-sim=yes); fi
  taskset -c "$SERVER_CPUS" valgrind --tool=callgrind --instr-atstart=no "${sim[@]}" \
    --callgrind-out-file="$work/cg.$name.%p" "$@" >"$work/logs/cg-$name.log" 2>&1 &
  vpid=$!
  pids+=($vpid)
  for _ in $(seq 1 300); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
  done
  taskset -c "$LOAD_CPU" wrk -t1 -c20 -d2s "http://127.0.0.1:$port/api/small" >/dev/null 2>&1
  callgrind_control -i on "$vpid" >/dev/null 2>&1
  taskset -c "$LOAD_CPU" wrk -t1 -c20 -d2s "http://127.0.0.1:$port/api/small" >/dev/null 2>&1
  callgrind_control -z "$vpid" >/dev/null 2>&1
  out=$(taskset -c "$LOAD_CPU" wrk -t1 -c20 -d"${DURATION}s" "http://127.0.0.1:$port/api/small" 2>&1)
  callgrind_control -d "$vpid" >/dev/null 2>&1
  sleep 0.5
  kill "$vpid" 2>/dev/null || true
  wait "$vpid" 2>/dev/null || true
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  if echo "$out" | grep -q "Non-2xx"; then echo "$name answered errors" >&2; exit 1; fi
  # per request: instructions, then (CACHESIM=1) first-level instruction and data misses
  python3 - "$n" "$work"/cg."$name".*.1 <<'PY'
import sys
n, events, summary = int(sys.argv[1]), [], []
for line in open(sys.argv[2]):
    if line.startswith("events:"):
        events = line.split()[1:]
    elif line.startswith("summary:"):
        summary = [int(x) for x in line.split()[1:]]
per = dict(zip(events, (x / n for x in summary)))
out = [per["Ir"]]
if "I1mr" in per:
    out += [per["I1mr"], per["D1mr"] + per["D1mw"]]
print(" ".join(str(round(x)) for x in out))
PY
}
if [ "${INSTRUCTIONS:-0}" = 1 ]; then
  nginx_proxy_conf proxy-cg $((NGINX_PORT + 10))
  sed -i "s|daemon off;|daemon off; master_process off;|" "$work/proxy-cg.conf"
  read -r ngx ngx_i1 ngx_d1 < <(count_instructions nginx $((NGINX_PORT + 10)) "$NGINX" -c "$work/proxy-cg.conf" -p "$work")
  read -r tnt tnt_i1 tnt_d1 < <(count_instructions tentacle $((TENTACLE_PORT + 10)) "$BIN" run -c "$here/krakend-bench.json" -p $((TENTACLE_PORT + 10)))
  if [ -z "${ngx:-}" ] || [ -z "${tnt:-}" ]; then echo "no count came out" >&2; exit 1; fi
  ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
  echo "user-space instructions per no-op request (callgrind, wrk -c20, ${DURATION}s):"
  echo "  nginx proxy $ngx, tentacle $tnt, ratio $(ratio "$tnt" "$ngx")"
  if [ -n "${tnt_i1:-}" ]; then
    echo "simulated first-level cache misses per no-op request (callgrind --cache-sim=yes):"
    echo "  instructions: nginx proxy $ngx_i1, tentacle $tnt_i1, ratio $(ratio "$tnt_i1" "$ngx_i1")"
    echo "  data (reads + writes): nginx proxy $ngx_d1, tentacle $tnt_d1, ratio $(ratio "$tnt_d1" "$ngx_d1")"
  fi
  exit 0
fi

echo "warming up (${WARMUP}s each)..."
for u in "http://127.0.0.1:$NGINX_PORT/api/small" "http://127.0.0.1:$TENTACLE_PORT/api/small" \
         "http://127.0.0.1:$TENTACLE_PORT/api/small-json" "http://127.0.0.1:$TENTACLE_PORT/api/merge"; do
  taskset -c "$LOAD_CPU" wrk -t1 -c50 -d"${WARMUP}s" "$u" >/dev/null 2>&1
done

for round in $(seq 1 "$ROUNDS"); do
  for c in $CONNS; do
    echo "round $round, c=$c"
    # each Tentacle scenario right after its nginx anchor: the ratios pair the two
    # (bench/report.py), so a drift of the machine's speed over minutes does not enter them
    run_one nginx-small "$c" "http://127.0.0.1:$NGINX_PORT/api/small" "$(proxy_pids)"
    run_one tentacle-small "$c" "http://127.0.0.1:$TENTACLE_PORT/api/small" "$TENTACLE_PID"
    run_one direct-small "$c" "http://127.0.0.1:$BACKEND_PORT/small" ""
    run_one nginx-large "$c" "http://127.0.0.1:$NGINX_PORT/api/large" "$(proxy_pids)"
    run_one tentacle-large "$c" "http://127.0.0.1:$TENTACLE_PORT/api/large" "$TENTACLE_PID"
    run_one nginx-small "$c" "http://127.0.0.1:$NGINX_PORT/api/small" "$(proxy_pids)"
    run_one tentacle-small-json "$c" "http://127.0.0.1:$TENTACLE_PORT/api/small-json" "$TENTACLE_PID"
    run_one nginx-large "$c" "http://127.0.0.1:$NGINX_PORT/api/large" "$(proxy_pids)"
    run_one tentacle-large-json "$c" "http://127.0.0.1:$TENTACLE_PORT/api/large-json" "$TENTACLE_PID"
    run_one nginx-small "$c" "http://127.0.0.1:$NGINX_PORT/api/small" "$(proxy_pids)"
    run_one tentacle-merge "$c" "http://127.0.0.1:$TENTACLE_PORT/api/merge" "$TENTACLE_PID"
  done
done

NGINX_RSS=$(rss_kb "$(proxy_pids)")
TENTACLE_RSS=$(rss_kb "$TENTACLE_PID")
python3 "$here/report.py" "$results" "$NGINX_RSS" "$TENTACLE_RSS" "$ncpu" "$DURATION" "$ROUNDS" "$BUILD"
