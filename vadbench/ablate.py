"""Ablation grids: every row of a method card's grid (MNAD: the paper's Table 2) as one run.

Each row is a single run (:func:`vadbench.runner.run`) of the method, or of another registered
detector the row names, with the row's settings on top of the user's options, into
``<grid>/<row>``; ``vadbench table --layout ablation`` lays the grid out with the paper's numbers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from vadbench.card import AblationRow
from vadbench.console import console
from vadbench.errors import ConfigError
from vadbench.registry import card_of
from vadbench.rundir import RunDir
from vadbench.runner import RunRequest, run


def rows(detector: str) -> tuple[AblationRow, ...]:
    """The ablation grid of ``detector``'s card, or an error if it has none."""
    grid = card_of(detector).ablations
    if not grid:
        raise ConfigError(f"{detector} defines no ablation grid (its method card has none)")
    return grid


def slug(label: str) -> str:
    """A row label as a folder name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label).strip("_")


def row_request(req: RunRequest, row: AblationRow, out: Path | None) -> RunRequest:
    """The run of one grid row: the row's detector (or the method's), the row's settings under the
    user's own, the row's label (which names it in tables)."""
    return dataclasses.replace(req, detector=row.detector or req.detector, label=row.label,
                               overrides={**row.settings, **req.overrides}, out=out)


def ablate(req: RunRequest) -> list[dict[str, Any]]:
    """Run every row into ``<out>/<row>``; with ``--resume`` finished rows are read, not rerun."""
    base = Path(req.out) if req.out else Path("runs") / req.dataset / f"{req.detector}-ablation"
    results = []
    for row in rows(req.detector):
        sub = row_request(req, row, base / slug(row.label))
        if sub.resume and RunDir(sub.out).finished:
            results.append(RunDir(sub.out).read_metrics())
            continue
        console.rule(f"ablation row: {row.label}")
        results.append(run(sub))
    return results
