#!/usr/bin/env bash
# Two builds of Tentacle (or Tentacle and the nginx proxy), side by side: both serve the
# benchmark's endpoints beside the same nginx backend, on the same CPU, and each sample loads
# both at the same time (two wrk processes on the load CPU). The CPU time each proxy spent per
# request in the same seconds is compared: a drift of the machine's speed over minutes, which
# moves two samples taken one after the other by 10-30 % on a virtual machine, moves both
# sides of a sample alike. The spread of the ratio between samples is about 1-2 %, where
# `bench/run.sh`'s paired ratios spread by 10-20 %: the measure for one change.
#
# Usage: bench/ab.sh BIN_A BIN_B      (BIN_A or BIN_B may be `nginx`: the nginx proxy)
#   env: SAMPLES=10 DURATION=3 CONNS=200 URL_PATH=/api/small
# Prints each sample's ratio B/A of CPU per request (schedstat run time of every thread of
# the process, nginx: master + worker), the median, and the median ratio of requests served.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
SAMPLES=${SAMPLES:-10}
DURATION=${DURATION:-3}
CONNS=${CONNS:-200}
URL_PATH=${URL_PATH:-/api/small}
BACKEND_PORT=18080 PORT_A=18087 PORT_B=18088
if [ $# -ne 2 ]; then
  echo "usage: bench/ab.sh BIN_A BIN_B   (either may be nginx)" >&2
  exit 2
fi
for tool in nginx wrk python3; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || {
    echo "$tool is missing: bench/run.sh installs it" >&2
    exit 1
  }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
refuse_taken $BACKEND_PORT $PORT_A $PORT_B
scratch
cpus

backend_files
taskset -c "$SERVER_CPUS" "$NGINX" -c "$work/backend.conf" -p "$work" >/dev/null 2>&1 &
pids+=($!)

# start NAME BIN PORT: $started becomes the pid of the proxy started
start() {
  local name=$1 bin=$2 port=$3
  if [ "$bin" = nginx ]; then
    nginx_proxy_conf "$name" "$port"
    taskset -c "$SERVER_CPUS" "$NGINX" -c "$work/$name.conf" -p "$work" >/dev/null 2>&1 &
  else
    taskset -c "$SERVER_CPUS" "$bin" run -c "$here/krakend-bench.json" -p "$port" \
      >"$work/logs/$name.log" 2>&1 &
  fi
  started=$!
  pids+=("$started")
}
start a "$1" $PORT_A
pid_a=$started
start b "$2" $PORT_B
pid_b=$started
wait_ports $BACKEND_PORT $PORT_A $PORT_B
procs() { echo "$1 $(pgrep -P "$1" | tr '\n' ' ')"; }
run_ns() { # the CPU time of every thread of the processes, in nanoseconds
  local t=0 p s
  for p in $1; do
    for s in /proc/"$p"/task/*/schedstat; do t=$((t + $(cut -d' ' -f1 "$s"))); done
  done
  echo $t
}
for port in $PORT_A $PORT_B; do
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$port$URL_PATH" >/dev/null
done
echo "A: $1"
echo "B: $2"
echo "$SAMPLES samples of ${DURATION}s, both loaded at once, wrk -t1 -c$CONNS $URL_PATH each"
for _ in $(seq 1 "$SAMPLES"); do
  pa=$(procs "$pid_a") pb=$(procs "$pid_b")
  a0=$(run_ns "$pa") b0=$(run_ns "$pb")
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PORT_A$URL_PATH" >"$work/wrk.a" &
  wa=$!
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PORT_B$URL_PATH" >"$work/wrk.b" &
  wb=$!
  wait $wa $wb
  a1=$(run_ns "$pa") b1=$(run_ns "$pb")
  if grep -q "Non-2xx\|Socket errors" "$work/wrk.a" "$work/wrk.b"; then
    echo "errors in a sample:" >&2
    cat "$work/wrk.a" "$work/wrk.b" >&2
    exit 1
  fi
  echo "$(awk '/requests in/ {print $1}' "$work/wrk.a") $((a1 - a0)) $(awk '/requests in/ {print $1}' "$work/wrk.b") $((b1 - b0))"
done | python3 -c '
import statistics as st, sys
rows = [[int(x) for x in line.split()] for line in sys.stdin]
cpu = [(bt / bn) / (at / an) for an, at, bn, bt in rows]
rps = [bn / an for an, at, bn, bt in rows]
print("cpu us/request: A %.2f, B %.2f (medians)" % (
    st.median(at / an / 1000 for an, at, _, _ in rows),
    st.median(bt / bn / 1000 for _, _, bn, bt in rows)))
print("B/A cpu per request by sample: " + " ".join("%.3f" % x for x in cpu))
print("B/A cpu per request: median %.3f (spread %.3f)" % (st.median(cpu), st.pstdev(cpu)))
print("B/A requests served: median %.3f" % st.median(rps))
'
