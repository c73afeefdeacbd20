#!/usr/bin/env python3
"""Prints bench/run.sh's table: medians per scenario and ratios against nginx from the same run."""
import statistics
import sys
from collections import defaultdict

path, nginx_rss, tentacle_rss, ncpu, duration, rounds, build = sys.argv[1:8]
rows = defaultdict(list)
for line in open(path):
    name, conns, rps, p50, p99, cpu, errs = line.rstrip("\n").split("\t")
    rows[(name, int(conns))].append((float(rps), float(p50), float(p99), float(cpu), int(errs)))


def med(name, conns, i):
    vals = [r[i] for r in rows.get((name, conns), [])]
    return statistics.median(vals) if vals else float("nan")


def errs(name, conns):
    return sum(r[4] for r in rows.get((name, conns), []))


# which nginx scenario each one is compared with
anchor = {
    "direct-small": "nginx-small",
    "nginx-small": "nginx-small",
    "tentacle-small": "nginx-small",
    "nginx-large": "nginx-large",
    "tentacle-large": "nginx-large",
    "tentacle-small-json": "nginx-small",
    "tentacle-large-json": "nginx-large",
    "tentacle-merge": "nginx-small",
}
conns_list = sorted({c for _, c in rows})
print()
print(f"medians of {rounds} rounds x {duration}s, wrk -t1, {ncpu} cores (load generator pinned apart)")
print(f"tentacle: {build}")
hdr = f"{'scenario':<22}{'c':>5}{'req/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'cpu us/req':>12}{'errors':>8}{'rps/nginx':>11}{'p99/nginx':>11}{'cpu/nginx':>11}"
print(hdr)
print("-" * len(hdr))
for c in conns_list:
    for name in anchor:
        if (name, c) not in rows:
            continue
        a = anchor[name]
        rps, p50, p99, cpu = (med(name, c, i) for i in range(4))
        ar, ap99, acpu = med(a, c, 0), med(a, c, 2), med(a, c, 3)
        cpu_ratio = f"{cpu / acpu:.2f}" if cpu and acpu and name != "direct-small" else "-"
        print(f"{name:<22}{c:>5}{rps:>11.0f}{p50:>9.2f}{p99:>9.2f}{cpu:>12.1f}{errs(name, c):>8}"
              f"{rps / ar:>11.2f}{p99 / ap99:>11.2f}{cpu_ratio:>11}")
print()
n, t = int(nginx_rss), int(tentacle_rss)
print(f"peak RSS after load: nginx proxy {n / 1024:.1f} MiB, tentacle {t / 1024:.1f} MiB, ratio {t / n:.2f}")
ratios = [med("tentacle-small", c, 0) / med("nginx-small", c, 0) for c in conns_list]
print(f"tentacle/nginx no-op throughput ratio: {statistics.median(ratios):.2f}")
