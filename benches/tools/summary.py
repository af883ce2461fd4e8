#!/usr/bin/env python3
"""Summarises scripts/bench's per-run results (TSV) as Markdown tables: per scenario and K, the
median of each figure over the runs and how far the runs spread around it, then the marginal cost
of one execution (the difference between K rules and 1 rule, divided by K-1, which removes
start-up: loading rules, connecting, installing templates). Standard library only."""

import csv
import statistics
import sys


def spread(values):
    """(max - min) / median, as a percentage."""
    middle = statistics.median(values)
    return 0.0 if middle == 0 else 100.0 * (max(values) - min(values)) / middle


def rate(count, seconds):
    return count / seconds if seconds > 0 else float("nan")


def main():
    path, events, concurrency = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(path, encoding="utf-8") as tsv:
        rows = list(csv.DictReader(tsv, delimiter="\t"))
    groups = {}
    for row in rows:
        groups.setdefault((row["scenario"], int(row["k"])), []).append(row)
    print(f"{events:,} events over a day, `lookout run --once`, concurrency {concurrency}; "
          "each figure is the median of the runs, ± is (max - min) / median.\n")
    print("| scenario | K | runs | wall s | lookout CPU s (user+sys) | peak RSS MB | executions/s "
          "| hits/s | alerts/s | failed | server CPU s | lookout CPU per execution ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    medians = {}
    order = {"mixed": 0, "quiet": 1, "loud": 2}
    base = lambda scenario: scenario.split("@")[0]
    for (scenario, k), runs in sorted(groups.items(),
                                      key=lambda i: (order.get(base(i[0][0]), 9), i[0][0], i[0][1])):
        col = lambda name: [float(r[name]) for r in runs]
        wall, cpu, rss = col("wall_s"), col("cpu_s"), col("rss_kb")
        server = [v for v in col("server_cpu_s") if v == v]
        hits, alerts = statistics.median(col("hits")), statistics.median(col("alerts"))
        failed = int(max(col("failed")))
        m = {"wall": statistics.median(wall), "cpu": statistics.median(cpu),
             "server": statistics.median(server) if server else float("nan"),
             "hits": hits, "alerts": alerts}
        medians[(scenario, k)] = m
        print(f"| {scenario} | {k:,} | {len(runs)} | {m['wall']:.2f} ±{spread(wall):.0f}% "
              f"| {m['cpu']:.2f} ±{spread(cpu):.0f}% | {statistics.median(rss) / 1024:.1f} "
              f"±{spread(rss):.0f}% | {rate(k, m['wall']):.0f} | {rate(hits, m['wall']):.0f} "
              f"| {rate(alerts, m['wall']):.0f} | {failed} "
              f"| {m['server']:.2f}" + (f" ±{spread(server):.0f}%" if server else "")
              + f" | {1000 * m['cpu'] / k:.2f} |")
    marginal(medians)


def marginal(medians):
    print("\nMarginal cost per execution (K rules minus 1 rule, over K-1 executions):\n")
    print("| scenario | executions | alerts per execution | lookout CPU ms per execution "
          "| server CPU ms per execution | lookout CPU ms per 100 alerts "
          "| alerts/s lookout's CPU allows | alerts/s the server's CPU allows |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    scenarios = sorted({s for s, _ in medians if s.split("@")[0] in ("quiet", "loud")})
    for scenario in scenarios:
        ks = sorted(k for s, k in medians if s == scenario)
        if len(ks) < 2:
            continue
        low, high = medians[(scenario, ks[0])], medians[(scenario, ks[-1])]
        n = ks[-1] - ks[0]
        cpu = 1000 * (high["cpu"] - low["cpu"]) / n
        server = 1000 * (high["server"] - low["server"]) / n
        alerts = (high["alerts"] - low["alerts"]) / n
        per100 = f"{100 * cpu / alerts:.2f}" if alerts > 0 else "-"
        lookout_rate = f"{1000 * alerts / cpu:,.0f}" if alerts > 0 and cpu > 0 else "-"
        server_rate = f"{1000 * alerts / server:,.0f}" if alerts > 0 and server > 0 else "-"
        print(f"| {scenario} | {n:,} | {alerts:.0f} | {cpu:.2f} | {server:.2f} | {per100} "
              f"| {lookout_rate} | {server_rate} |")


if __name__ == "__main__":
    main()
