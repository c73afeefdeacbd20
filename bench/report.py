#!/usr/bin/env python3
"""Prints bench/run.sh's table: medians per scenario and ratios against nginx from the same run.

Each scenario's ratios pair every sample with the sample of its nginx anchor measured just
before it (bench/run.sh runs the anchor again before each Tentacle scenario), and the table
shows the median of those paired ratios: the machine's speed drifts over minutes, and a ratio
of two samples taken seconds apart is not moved by it the way a ratio of two medians is."""
import statistics
import sys
from collections import defaultdict

path, nginx_rss, tentacle_rss, ncpu, duration, rounds, build = sys.argv[1:8]
rows = defaultdict(list)
samples = []  # in the order measured
for line in open(path):
    name, conns, rps, p50, p99, cpu, errs = line.rstrip("\n").split("\t")
    sample = (float(rps), float(p50), float(p99), float(cpu), int(errs))
    rows[(name, int(conns))].append(sample)
    samples.append((name, int(conns), sample))


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
# every sample next to the last one of its anchor (same c) measured before it
pairs = defaultdict(list)
last = {}
for name, c, sample in samples:
    if anchor.get(name) != name and (anchor.get(name), c) in last:
        pairs[(name, c)].append((sample, last[(anchor[name], c)]))
    last[(name, c)] = sample


def paired(name, conns, i):
    if anchor[name] == name:
        return 1.0
    vals = [s[i] / a[i] for s, a in pairs.get((name, conns), []) if a[i]]
    return statistics.median(vals) if vals else float("nan")


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
        rps, p50, p99, cpu = (med(name, c, i) for i in range(4))
        cpu_ratio = f"{paired(name, c, 3):.2f}" if cpu and name != "direct-small" else "-"
        print(f"{name:<22}{c:>5}{rps:>11.0f}{p50:>9.2f}{p99:>9.2f}{cpu:>12.1f}{errs(name, c):>8}"
              f"{paired(name, c, 0):>11.2f}{paired(name, c, 2):>11.2f}{cpu_ratio:>11}")
print()
n, t = int(nginx_rss), int(tentacle_rss)
print(f"peak RSS after load: nginx proxy {n / 1024:.1f} MiB, tentacle {t / 1024:.1f} MiB, ratio {t / n:.2f}")
ratios = [paired("tentacle-small", c, 0) for c in conns_list]
print(f"tentacle/nginx no-op throughput ratio: {statistics.median(ratios):.2f}")
