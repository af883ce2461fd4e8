#!/usr/bin/env python3
"""Prints the side-by-side table of scripts/bench's comparison with ElastAlert 2 from its TSV
(side, k, run, wall_s, cpu_s, rss_kb, alerts, server_cpu_s, status): per K and side the median
of the runs of wall time, CPU (user+sys), peak RSS, the server's CPU and the alerts, then the
ratios ElastAlert / lookout. Exits 1 when a run failed or the two sides' alerts differ.
Standard library only.
"""

import csv
import statistics
import sys
from collections import defaultdict

SIDES = ["lookout", "elastalert", "lookout@before"]


def median(rows, key):
    values = [float(row[key]) for row in rows if row[key] != "nan"]
    return statistics.median(values) if values else float("nan")


def main(path):
    runs = defaultdict(list)
    with open(path, encoding="utf-8") as results:
        for row in csv.DictReader(results, delimiter="\t"):
            runs[(int(row["k"]), row["side"])].append(row)
    problems = []
    print("| K | side | runs | wall s | CPU s (user+sys) | peak RSS MB | server CPU s | alerts |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for k in sorted({k for k, _ in runs}):
        for side in SIDES:
            rows = runs.get((k, side))
            if not rows:
                continue
            failed = [row["run"] for row in rows if row["status"] != "0"]
            if failed:
                problems.append(f"K={k} {side}: runs {', '.join(failed)} failed")
            alerts = sorted({int(row["alerts"]) for row in rows})
            print(f"| {k} | {side} | {len(rows)} | {median(rows, 'wall_s'):.2f} | "
                  f"{median(rows, 'cpu_s'):.2f} | {median(rows, 'rss_kb') / 1024:.1f} | "
                  f"{median(rows, 'server_cpu_s'):.2f} | {'/'.join(map(str, alerts))} |")
        ours, theirs = runs.get((k, "lookout")), runs.get((k, "elastalert"))
        if ours and theirs:
            ours_alerts = {int(row["alerts"]) for row in ours}
            theirs_alerts = {int(row["alerts"]) for row in theirs}
            if ours_alerts != theirs_alerts or len(ours_alerts) != 1:
                problems.append(f"K={k}: lookout wrote {sorted(ours_alerts)} alerts, "
                                f"ElastAlert {sorted(theirs_alerts)}")
    print()
    print("ElastAlert / lookout (medians; above 1: lookout uses less):")
    print()
    print("| K | wall | CPU | peak RSS | server CPU |")
    print("|---:|---:|---:|---:|---:|")
    for k in sorted({k for k, _ in runs}):
        ours, theirs = runs.get((k, "lookout")), runs.get((k, "elastalert"))
        if not ours or not theirs:
            continue
        cells = []
        for key in ["wall_s", "cpu_s", "rss_kb", "server_cpu_s"]:
            mine = median(ours, key)
            cells.append(f"{median(theirs, key) / mine:.2f}" if mine > 0 else "-")
        print(f"| {k} | {' | '.join(cells)} |")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
