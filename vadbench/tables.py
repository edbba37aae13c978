"""Result tables made from run files, never typed: ``vadbench table`` writes ``leaderboards/``.

A table is read from the ``metrics.json`` files found under the given paths, so anyone who has
the run directories (metrics.json and frames.csv, kept beside the table) can regenerate it, and
``vadbench metrics`` can recompute any number from ``frames.csv``. Published numbers come from
their method cards and are always labelled as reported, never as ours.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from vadbench.protocols import describe
from vadbench.registry import card_of
from vadbench.rundir import finished_runs

METRICS = [("auc_micro", "micro AUC"), ("auc_macro", "macro AUC"), ("eer", "EER"), ("aupr", "AUPR"),
           ("auc_micro_raw", "raw micro AUC")]


def collect(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every finished run (a ``metrics.json``) under ``paths``, with its directory."""
    return [{**run.read_metrics(), "run_dir": str(run.path)} for run in finished_runs(list(paths))]


def _pct(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{100 * float(value):.1f}"


def _synthetic_banner(group: list[dict[str, Any]]) -> list[str]:
    if any(r.get("protocol", {}).get("synthetic") for r in group):
        return ["**SYNTHETIC data** (vadbench's generated scene): these numbers say nothing about real benchmarks.", ""]
    return []


def _reported(detector: str, dataset: str) -> tuple[dict[str, float], str] | None:
    """The published numbers of ``detector`` on ``dataset`` from its method card, if any."""
    reported = card_of(detector).reported
    numbers = reported.values.get(dataset) if reported else None
    return (dict(numbers), reported.source) if numbers and reported else None


def leaderboard(runs: list[dict[str, Any]], out: Path | None) -> str:
    """One markdown table per dataset: our runs, with the published numbers beside them."""
    lines = []
    for dataset in sorted({r["dataset"] for r in runs}):
        group = sorted((r for r in runs if r["dataset"] == dataset), key=lambda r: (r["detector"], r["run_dir"]))
        lines += [f"## {dataset}", ""] + _synthetic_banner(group)
        head = ["method", "source", "protocol", "input", "epochs", "seed"] + [n for _, n in METRICS] + \
               ["frames", "train s", "score fps", "run"]
        lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        seen = set()
        for r in group:
            spec = r["input"]
            note = "" if r.get("comparable", True) else " ⚠ partial copy, not comparable"
            if r.get("deviations"):
                note += " (deviates: " + ", ".join(f"{k}={v}" for k, v in r["deviations"].items()) + ")"
            run_dir = os.path.relpath(r["run_dir"], out.parent) if out else r["run_dir"]
            cells = [f"{r.get('label') or r['detector']}{note}", "vadbench", describe(r["protocol"]),
                     f"{spec['height']}×{spec['width']} {spec['color']}" + (f", profile {r['profile']}" if r.get("profile") else ""),
                     str(r.get("epochs_trained", r.get("epochs", ""))), str(r["seed"])]
            cells += [_pct(r.get(k)) for k, _ in METRICS]
            t = r.get("timings", {})
            cells += [str(r.get("frames_evaluated", "")), f"{t.get('train_seconds', 0):.0f}", f"{t.get('score_fps', 0):.1f}",
                      f"[{Path(run_dir).name}]({run_dir})"]
            lines.append("| " + " | ".join(cells) + " |")
            if r["detector"] not in seen:
                seen.add(r["detector"])
                rep = _reported(r["detector"], dataset)
                if rep:
                    numbers, source = rep
                    cells = [r["detector"], f"reported: {source}", "as published (micro AUC)", "", "", ""]
                    cells += [f"{numbers[k]:.1f}" if k in numbers else "" for k, _ in METRICS] + ["", "", "", ""]
                    lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("AUC, EER and AUPR in %. *micro AUC* is the protocol's headline number (all evaluated frames of all "
                 "videos in one ROC); *raw micro AUC* skips any normalisation (leak-free); *macro AUC* is the mean of "
                 "per-video AUCs, each video padded with one normal and one anomalous frame outside its score range; "
                 "AUPR is average precision of the anomaly class. Reported rows are the papers' numbers, not reruns.")
    return "\n".join(lines) + "\n"


def ablation(runs: list[dict[str, Any]], out: Path | None) -> str:
    """An ablation grid laid out like a paper's table: one row per grid row, ours beside the paper's."""
    lines = []
    for dataset in sorted({r["dataset"] for r in runs}):
        group = [r for r in runs if r["dataset"] == dataset]
        lines += [f"## {dataset}", ""] + _synthetic_banner(group)
        head = ["row", "detector", "input", "epochs", "seed", "micro AUC (ours)", "reported", "macro AUC", "EER", "run"]
        lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        grids = {row.label: row for r in group for row in card_of(r["detector"]).ablations}
        order = list(grids)
        for r in sorted(group, key=lambda r: order.index(r["label"]) if r.get("label") in order else len(order)):
            row = grids.get(r.get("label"))
            reported = None
            if row is not None:
                reported = row.reported.get(dataset)
                if reported is None and row.detector:
                    reported = card_of(row.detector).reported_auc(dataset)
            spec = r["input"]
            run_dir = os.path.relpath(r["run_dir"], out.parent) if out else r["run_dir"]
            cells = [str(r.get("label") or ""), r["detector"], f"{spec['height']}×{spec['width']}",
                     str(r.get("epochs_trained", "")), str(r["seed"]), _pct(r.get("auc_micro")),
                     f"{reported:.1f}" if reported is not None else "", _pct(r.get("auc_macro")), _pct(r.get("eer")),
                     f"[{Path(run_dir).name}]({run_dir})"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("micro AUC in % under each run's protocol (see its metrics.json); *reported* is the paper's number.")
    return "\n".join(lines) + "\n"


def render(paths: list[Path], layout: str = "leaderboard", out: Path | None = None, command: str = "") -> str:
    """The markdown of a table over the runs under ``paths``."""
    runs = collect(paths)
    body = ablation(runs, out) if layout == "ablation" else leaderboard(runs, out)
    header = (f"<!-- generated by `{command}`; do not edit: regenerate from the run files -->\n\n"
              if command else "")
    return header + body
