"""What the leaderboards cost: CPU seconds of every run under each root, read from its run files.

    python benchmarks/leaderboard_cost.py leaderboards/ped2/cpu-track leaderboards/ped2/table2 leaderboards/synthetic

A run that recorded ``train_cpu_seconds`` and ``score_cpu_seconds`` (process and DataLoader-worker CPU
time) counts those. A run made before they were recorded counts its wall seconds times its torch
threads (``env.json``): an upper bound for such runs, which compute in one process (the Trainer's
default of no DataLoader workers) on at most that many threads, and wait part of their wall time on
a shared machine.
The cache builds are not counted (one per dataset and input size, shared by every run that uses it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def run_cost(run: Path) -> tuple[float, bool]:
    """The CPU seconds of one finished run, and whether they were measured (else bounded)."""
    timings = json.loads((run / "metrics.json").read_text())["timings"]
    if "train_cpu_seconds" in timings and "score_cpu_seconds" in timings:
        return timings["train_cpu_seconds"] + timings["score_cpu_seconds"], True
    threads = json.loads((run / "env.json").read_text()).get("torch_threads", 1)
    return (timings.get("train_seconds", 0.0) + timings["score_seconds"]) * threads, False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="+", type=Path)
    args = parser.parse_args()
    total = 0.0
    for root in args.roots:
        runs = sorted(p.parent for p in root.glob("*/metrics.json"))
        costs = [run_cost(r) for r in runs]
        seconds = sum(c for c, _ in costs)
        measured = sum(m for _, m in costs)
        total += seconds
        print(f"{root}: {len(runs)} runs, {seconds / 3600:.2f} CPU-hours "
              f"({measured} measured, {len(runs) - measured} bounded by wall x threads)")
    print(f"total: {total / 3600:.2f} CPU-hours")


if __name__ == "__main__":
    main()
