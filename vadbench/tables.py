"""Result tables made from run files, never typed: ``vadbench table`` writes ``leaderboards/``.

A table is read from the ``metrics.json`` (and ``config.json``) files found under the given
paths, so anyone who has the run directories (kept beside the table) can regenerate it, and
``vadbench metrics`` can recompute any number from ``frames.csv``. Published numbers come from
their method cards and are always labelled as reported, never as ours.

The table is built once as typed cells (:mod:`vadbench.render`) and rendered as Markdown, CSV,
LaTeX, HTML or JSON, so every format carries the same numbers.

**Seeds.** Runs that differ only in their seed are one row: each metric is shown as the mean ±
the sample std (ddof = 1) over the seeds, with n, the number of seeds that have a value. Two runs
are one group exactly when their :func:`group_key` is equal: the detector and its label, the
resolved detector config (``config.json``), the profile, the dataset and its options, the input,
the protocol record (its fields, canonicalised with :meth:`Protocol.from_record`, so an old and
a new record of one protocol are equal; the derived ``name``/``base``/``changed`` entries are
dropped, data-side entries such as ``gt_source`` kept), the region protocol of RBDC/TBDC where
a run has them (:func:`region_protocol`), the epochs, the videos missing from a partial copy, what was evaluated (a run, or an evaluation of which checkpoint) and, for scores
made elsewhere, their file. Anything else (device, timings, deviations reported while scoring)
is not compared; a run whose config cannot be found is a group of its own, never averaged.
``--per-seed`` shows every run as its own row.

**Pixel and region criteria.** Pixel AUC, pixel AUROC, RBDC and TBDC are columns only where some
run of the table has them (a run without is a blank cell, never 0), with the region protocol (α,
β, IoU, ``gt_source``, where the regions came from) beside them and in each section's caption.

**Intervals** (``--ci``) are the 95 % video-bootstrap intervals each run records in
``metrics.json["ci"]`` (older runs have none: shown without). For a group, the seeds' intervals
are not combined: a row shows the across-seed mean ± std and the mean of the seeds' bounds, and
``--per-seed`` shows each seed's own interval.

**Significance** (``--mark-best``): per dataset, the best micro AUC of ours is bolded only when
it beats the runner-up on the same frames (:func:`vadbench.stats.compare_runs`) by both tests:
DeLong's p < 0.05 **and** a paired video-bootstrap 95 % interval of ΔAUC that excludes 0. DeLong
alone treats frames as independent; frames of one video are not, and on Ped2 it gives p ~ 1e-7
where the video bootstrap's interval still spans 0. Groups of seeds are ranked by their mean and compared through their runs of the
lowest seed both have (usually seed 0); groups with no seed in common are not marked. Every
dataset's outcome (marked, or why not) is written below the table.

**Against the reference row** (``--layout ablation``): where a method card marks one row of its
grid as the reference (:class:`vadbench.card.AblationRow`'s ``reference``: the method unchanged),
every other row of that grid is compared with it seed by seed, through
:func:`vadbench.stats.compare_evaluated` (the checks and the rule of ``vadbench compare``): the
mean Δ micro AUC over the paired seeds, DeLong's p of each pair and a verdict that counts the
pairs that are lower and significant (:func:`reference_note` states the rule below the table).
Each run's frames are read once per table; the bootstrap is seeded, so pages stay byte-identical.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from vadbench.card import AblationRow
from vadbench.errors import ConfigError, RunError, VadbenchError
from vadbench.protocols import Protocol, describe
from vadbench.registry import card_of
from vadbench.render import ALL, DATA, DISPLAY, LATEX, MD, RENDERERS, SUFFIXES, WEB, Cell, Column, Links, Metric
from vadbench.render import Number, Row, Section, Table, Text
from vadbench.rundir import RunDir, finished_runs

METRICS = [("auc_micro", "micro AUC"), ("auc_macro", "macro AUC"), ("eer", "EER"), ("aupr", "AUPR"),
           ("auc_micro_raw", "raw micro AUC")]
# Shown only where some run of the table has them (``--pixel``, ``--regions``); a run without is a blank cell.
LOCALISATION = [("pixel_auc_ucsd", "pixel AUC"), ("pixel_auroc", "pixel AUROC"), ("rbdc", "RBDC"), ("tbdc", "TBDC")]
LOCALISATION_NOTE = ("*pixel AUC*: the UCSD frame-detection-with-localisation protocol (an anomalous frame counts when "
                     "40 % of its anomalous pixels are flagged); *pixel AUROC*: over all pixels; *RBDC*/*TBDC*: "
                     "region- and track-based detection criteria, the areas under RBDR and TBDR for false positives "
                     "per frame in [0, 1], under the region protocol named beside them (docs/protocols.md §5, §6). "
                     "A blank cell: the run did not compute it.")
LOWER_IS_BETTER = {"eer"}
SIGNIFICANCE = 0.05  # DeLong p below which --mark-best bolds the best micro AUC
LAYOUTS = ("leaderboard", "ablation")
FORMATS = tuple(dict.fromkeys(SUFFIXES.values()))
METRICS_NOTE = ("AUC, EER and AUPR in %. *micro AUC* is the protocol's headline number (all evaluated frames of all "
                "videos in one ROC); *raw micro AUC* skips any normalisation (leak-free); *macro AUC* is the mean of "
                "per-video AUCs, each video padded with one normal and one anomalous frame outside its score range; "
                "AUPR is average precision of the anomaly class. Reported rows are the papers' numbers, not reruns.")
SYNTHETIC_BANNER = "**SYNTHETIC data** (vadbench's generated scene): these numbers say nothing about real benchmarks."


# -- reading the runs ------------------------------------------------------------------------------
def _config_of(run: RunDir, metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The run's ``config.json`` (an evaluation folder has none: its run's), or None if absent."""
    if run.is_run:
        return run.read_config()
    source = metrics.get("evaluation_of")
    if source and RunDir(Path(source)).is_run:
        return RunDir(Path(source)).read_config()
    return None


def collect(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every finished run (a ``metrics.json``) under ``paths``, with its directory and its config."""
    found = []
    for run in finished_runs(list(paths)):
        metrics = run.read_metrics()
        found.append({**metrics, "run_dir": str(run.path), "run_config": _config_of(run, metrics)})
    return found


def _protocol_key(record: dict[str, Any]) -> dict[str, Any]:
    derived = {"name", "base", "changed"}
    return {**{k: v for k, v in record.items() if k not in derived},
            **dataclasses.asdict(Protocol.from_record(record))}


def region_protocol(run: dict[str, Any]) -> str | None:
    """The region protocol of a run's RBDC/TBDC in one line (its ``metrics.json`` ``regions``
    record), e.g. ``α=0.1, β=0.1, IoU inclusive, gt_source=masks, regions from maps (top 1 %)``;
    None for a run without region criteria."""
    record = run.get("regions")
    if not isinstance(record, dict):
        return None
    parts = [f"α={record.get('alpha')}", f"β={record.get('beta')}", f"IoU {record.get('iou')}",
             f"gt_source={record.get('gt_source')}"]
    if record.get("region_source", "maps") == "detector":
        parts.append("the detector's regions")
    else:  # records written before region_source existed came from maps
        rule = record.get("region_rule") or {}
        if rule.get("rule") == "absolute":
            how = f"map ≥ {rule.get('threshold'):g}"
        else:
            how = f"top {100 * float(rule.get('top_fraction', 0.01)):g} %"
        parts.append(f"regions from maps ({how}, {rule.get('score', 'max')} score)")
    return ", ".join(parts)


def group_key(run: dict[str, Any]) -> str:
    """What must be equal for two runs to be averaged as seeds of one entry (see the module doc)."""
    config = run.get("run_config")
    external = run.get("external") or (config or {}).get("external")
    key = {
        "detector": run["detector"], "label": run.get("label"),
        "config": config.get("config") if config and not external else None,
        "profile": run.get("profile"), "dataset": run["dataset"], "dataset_options": run.get("dataset_options") or {},
        "input": run["input"], "protocol": _protocol_key(run["protocol"]), "epochs": run.get("epochs"),
        "missing_videos": run.get("missing_videos") or {},
        "evaluated": Path(run["checkpoint"]).name if run.get("evaluation_of") and run.get("checkpoint") else
        ("evaluation" if run.get("evaluation_of") else "run"),
        "external": external,
    }
    regions = region_protocol(run)
    if regions is not None:  # runs with region criteria of another protocol, or none, are never averaged
        key["regions"] = regions
    if config is None and not external:
        key["unknown_config"] = run["run_dir"]  # nothing proves it equal to another run: a group of its own
    return json.dumps(key, sort_keys=True, default=str)


@dataclass
class Entry:
    """One row of ours: one run, or the runs of a seed group (sorted by seed)."""

    runs: list[dict[str, Any]]

    @property
    def first(self) -> dict[str, Any]:
        return self.runs[0]

    @property
    def group(self) -> bool:
        return len(self.runs) > 1

    def seeds(self) -> list[int]:
        return [r["seed"] for r in self.runs]


def entries(runs: list[dict[str, Any]], per_seed: bool) -> list[Entry]:
    """Seed groups (or, ``per_seed``, one entry per run), in the order of their first run."""
    if per_seed:
        return [Entry([r]) for r in runs]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault(group_key(r), []).append(r)
    return [Entry(sorted(g, key=lambda r: (r["seed"], r["run_dir"]))) for g in groups.values()]


def mean_std(values: Iterable[float | None]) -> tuple[float | None, float | None, int]:
    """Mean, sample std (ddof = 1; None below two values) and count of the finite ``values``."""
    import numpy as np

    finite = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    if not len(finite):
        return None, None, 0
    return float(finite.mean()), float(finite.std(ddof=1)) if len(finite) > 1 else None, len(finite)


# -- cells -----------------------------------------------------------------------------------------
def _pct(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else 100 * float(value)


def _ci(run: dict[str, Any], key: str) -> tuple[float, float] | None:
    bounds = (run.get("ci") or {}).get(key)
    if not isinstance(bounds, (list, tuple)) or len(bounds) != 2 or None in bounds:
        return None
    return 100 * float(bounds[0]), 100 * float(bounds[1])


def metric(entry: Entry, key: str, ci: bool) -> Metric:
    """A run's metric in %, or a group's mean ± std, n and mean interval."""
    if not entry.group:
        return Metric(_pct(entry.first.get(key)), ci=_ci(entry.first, key) if ci else None)
    mean, std, n = mean_std(_pct(r.get(key)) for r in entry.runs)
    intervals = [_ci(r, key) for r in entry.runs] if ci else []
    interval = None
    if intervals and all(i is not None for i in intervals):  # every seed has one: the mean of the bounds
        interval = (mean_std(i[0] for i in intervals)[0], mean_std(i[1] for i in intervals)[0])  # type: ignore[index]
    return Metric(mean, std, n, interval)  # type: ignore[arg-type]


def _number(entry: Entry, get: Any, digits: int) -> Number:
    return Number(mean_std(get(r) for r in entry.runs)[0], digits)


def _joined(values: Iterable[Any]) -> str:
    return ",".join(dict.fromkeys(str(v) for v in values))


def _one_or_all(values: Iterable[Any]) -> Cell:
    """One value as a number (the seed of a run), several as text (``0,1,2``: the seeds of a group)."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) == 1 and isinstance(distinct[0], int) and not isinstance(distinct[0], bool):
        return Number(distinct[0])
    return Text(_joined(distinct))


def _link(run_dir: str, out: Path | None) -> str:
    return os.path.relpath(run_dir, out.parent) if out else run_dir


def _run_links(entry: Entry, out: Path | None) -> Links:
    return Links(tuple((Path(r["run_dir"]).name, _link(r["run_dir"], out)) for r in entry.runs))


def _figure_links(entry: Entry, out: Path | None) -> Links:
    """The files of each run's ``figures/`` folder (``vadbench plot``), if any."""
    links = []
    for r in entry.runs:
        folder = Path(r["run_dir"]) / "figures"
        files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        prefix = f"s{r['seed']} " if entry.group else ""
        links += [(prefix + p.stem, _link(str(p), out)) for p in files]
    return Links(tuple(links))


def _method(entry: Entry) -> str:
    r = entry.first
    note = "" if all(x.get("comparable", True) for x in entry.runs) else " ⚠ partial copy, not comparable"
    deviations: dict[str, list[str]] = {}
    for x in entry.runs:
        for k, v in (x.get("deviations") or {}).items():
            if str(v) not in deviations.setdefault(k, []):
                deviations[k].append(str(v))
    if deviations:
        note += " (deviates: " + ", ".join(f"{k}={' / '.join(v)}" for k, v in deviations.items()) + ")"
    return f"{r.get('label') or r['detector']}{note}"


def _source(entry: Entry) -> str:
    r = entry.first
    external = r.get("external") or (r.get("run_config") or {}).get("external")
    if external:
        source = external.get("source") if isinstance(external, dict) else external
        return f"external: {Path(str(source)).name}" if source else "external"
    return "vadbench"


def _input_cells(entry: Entry, with_profile: bool) -> dict[str, Cell]:
    r = entry.first
    spec = r["input"]
    if spec.get("height") is None:  # scores made elsewhere (score-file): no input of ours
        return {"input": Text("scores from a file"), "height": Text(""), "width": Text(""), "color": Text(""),
                "profile": Text("")}
    text = f"{spec['height']}×{spec['width']}" + (f" {spec['color']}" if with_profile else "")
    if with_profile and r.get("profile"):
        text += f", profile {r['profile']}"
    return {"input": Text(text), "height": Number(spec["height"]), "width": Number(spec["width"]),
            "color": Text(str(spec["color"])), "profile": Text(str(r.get("profile") or ""))}


def _epochs(entry: Entry) -> Cell:
    return _one_or_all(r.get("epochs_trained", r.get("epochs", "")) for r in entry.runs)


INPUT_DATA = [Column("height", "height", DATA, numeric=True), Column("width", "width", DATA, numeric=True),
              Column("color", "color", DATA), Column("profile", "profile", DATA)]


def _metric_column(key: str, title: str, formats: frozenset[str] = ALL) -> Column:
    return Column(key, title, formats, better="lower" if key in LOWER_IS_BETTER else "higher", metric=True)


# -- layouts ---------------------------------------------------------------------------------------
@dataclass
class Options:
    """How a table is built: the output format and the command-line switches."""

    fmt: str = MD
    per_seed: bool = False
    ci: bool = False
    mark_best: bool = False
    out: Path | None = None
    command: str = ""  # the header line of formats that allow a comment
    note: tuple[str, ...] = ()  # paragraphs written right under the table (--note FILE): what it shows and not


def _columns(base: list[Column], runs: list[dict[str, Any]]) -> list[Column]:
    """``base`` plus a figures column where any run has a ``figures/`` folder."""
    if any((Path(r["run_dir"]) / "figures").is_dir() for r in runs):
        base = base + [Column("figures", "figures", WEB | DATA)]
    return base


def localisation(runs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The pixel and region metrics some run has (in :data:`LOCALISATION` order)."""
    return [(k, n) for k, n in LOCALISATION if any(_pct(r.get(k)) is not None for r in runs)]


def _localisation_columns(runs: list[dict[str, Any]]) -> list[Column]:
    """Pixel AUC, RBDC and TBDC columns where some run has them, with the region protocol beside them."""
    columns = [_metric_column(k, n) for k, n in localisation(runs)]
    if any(region_protocol(r) for r in runs):
        columns.append(Column("region_protocol", "region protocol", WEB | DATA))
    return columns


def _localisation_cells(entry: Entry, keys: list[tuple[str, str]], ci: bool) -> dict[str, Cell]:
    return {**{k: metric(entry, k, ci) for k, _ in keys},
            "region_protocol": Text(_joined(p for p in map(region_protocol, entry.runs) if p))}


def leaderboard_table(runs: list[dict[str, Any]], opts: Options) -> Table:
    """One section per dataset: our entries, each detector's published numbers after its first."""
    columns = _columns([
        Column("method", "method"), Column("detector", "detector", DATA), Column("label", "label", DATA),
        Column("source", "source"), Column("protocol", "protocol", WEB | DATA),
        Column("input", "input", DISPLAY), *INPUT_DATA,
        Column("epochs", "epochs"), Column("seed", "seed"),
        *[_metric_column(k, n) for k, n in METRICS], *_localisation_columns(runs),
        Column("frames", "frames", numeric=True), Column("train_s", "train s", WEB | DATA, numeric=True),
        Column("score_fps", "score fps", WEB | DATA, numeric=True), Column("run", "run", WEB | DATA)], runs)
    extra = localisation(runs)
    parts = []
    for dataset, group in _by_dataset(runs):
        rows, seen = [], set()
        for entry in sorted(entries(group, opts.per_seed), key=lambda e: (e.first["detector"], e.first["run_dir"])):
            r = entry.first
            cells: dict[str, Cell] = {
                "method": Text(_method(entry)), "detector": Text(r["detector"]), "label": Text(r.get("label") or ""),
                "source": Text(_source(entry)), "protocol": Text(_joined(describe(x["protocol"]) for x in entry.runs)),
                **_input_cells(entry, True), "epochs": _epochs(entry), "seed": _one_or_all(entry.seeds()),
                **{k: metric(entry, k, opts.ci) for k, _ in METRICS}, **_localisation_cells(entry, extra, opts.ci),
                "frames": _number(entry, lambda x: x.get("frames_evaluated"), 0),
                "train_s": _number(entry, lambda x: x.get("timings", {}).get("train_seconds", 0), 0),
                "score_fps": _number(entry, lambda x: x.get("timings", {}).get("score_fps", 0), 1),
                "run": _run_links(entry, opts.out), "figures": _figure_links(entry, opts.out)}
            rows.append((entry, Row(cells)))
            if r["detector"] not in seen:
                seen.add(r["detector"])
                rep = _reported(r["detector"], dataset)
                if rep:
                    numbers, source = rep
                    rows.append((None, Row({"method": Text(r["detector"]), "detector": Text(r["detector"]),
                                            "source": Text(f"reported: {source}"),
                                            "protocol": Text("as published (micro AUC)"),
                                            **{k: Metric(numbers.get(k)) for k, _ in METRICS + extra}},
                                           reported=True)))
        parts.append(_section(dataset, group, rows, columns, opts))
    return _table(columns, parts, [METRICS_NOTE] + ([LOCALISATION_NOTE] if extra else []), runs, opts)


def ablation_table(runs: list[dict[str, Any]], opts: Options) -> Table:
    """An ablation grid laid out like a paper's table: one row per grid row, ours beside the paper's,
    and, where the grid has a reference row, each row's difference from it (:func:`versus_reference`)."""
    sections = [(dataset, group, _grid_rows(group)) for dataset, group in _by_dataset(runs)]
    compared = any(row.reference for _, _, grids in sections for _, row in grids.values())
    columns = _columns([
        Column("row", "row"), Column("detector", "detector"), Column("input", "input", DISPLAY), *INPUT_DATA,
        Column("epochs", "epochs"), Column("seed", "seed"), _metric_column("auc_micro", "micro AUC (ours)"),
        Column("reported", "reported", numeric=True), _metric_column("auc_macro", "macro AUC"),
        _metric_column("eer", "EER"), *_localisation_columns(runs), *(REFERENCE_COLUMNS if compared else []),
        Column("run", "run", WEB | DATA)], runs)
    extra = localisation(runs)
    loaded: dict[str, Any] = {}  # run_dir -> its EvaluatedRun (or why it cannot be read): each run read once
    parts = []
    for dataset, group, grids in sections:
        order = list(dict.fromkeys(row.label for _, row in grids.values()))
        found = sorted(entries(group, opts.per_seed), key=lambda e: (
            order.index(e.first["label"]) if e.first.get("label") in order else len(order), e.first["run_dir"]))
        placed = [(entry, _grid_row(grids, entry)) for entry in found]
        rows = []
        for entry, (owner, row) in placed:
            r = entry.first
            reported = None
            if row is not None:
                reported = row.reported.get(dataset)
                if reported is None and row.detector:
                    reported = card_of(row.detector).reported_auc(dataset)
            cells: dict[str, Cell] = {
                "row": Text(str(r.get("label") or "")), "detector": Text(r["detector"]), **_input_cells(entry, False),
                "epochs": _epochs(entry), "seed": _one_or_all(entry.seeds()),
                **{k: metric(entry, k, opts.ci) for k in ("auc_micro", "auc_macro", "eer")},
                **_localisation_cells(entry, extra, opts.ci), "reported": Metric(reported), "run": _run_links(entry, opts.out), "figures": _figure_links(entry, opts.out)}
            if compared and row is not None:
                cells.update(_versus_cells(entry, owner, row, placed, loaded))
            rows.append((entry, Row(cells)))
        parts.append(_section(dataset, group, rows, columns, opts))
    note = "micro AUC in % under each run's protocol (see its metrics.json); *reported* is the paper's number."
    notes = [note] + ([reference_note()] if compared else []) + ([LOCALISATION_NOTE] if extra else [])
    return _table(columns, parts, notes, runs, opts)


# -- ablation rows against the grid's reference row ---------------------------------------------------
REFERENCE_COLUMNS = [
    Column("delta", "Δ vs reference", DISPLAY, metric=True), Column("delong_p", "DeLong p", DISPLAY),
    Column("verdict", "vs reference", DISPLAY),
    Column("vs_reference", "vs reference", DATA),
    Column("delta_auc_micro", "Δ micro AUC vs reference", DATA, metric=True),
    Column("paired_seeds", "paired seeds", DATA), Column("delong_p_values", "DeLong p", DATA),
    Column("pairs_lower", "pairs lower", DATA, numeric=True),
    Column("pairs_significant", "pairs significant", DATA, numeric=True)]


def reference_note() -> str:
    """The rule of the comparison columns, for the notes below an ablation table (the interval's settings
    read from :mod:`vadbench.metrics` only here: a table without a reference row never imports it)."""
    from vadbench.metrics import CI_LEVEL, CI_RESAMPLES, CI_SEED

    return ("*Δ vs reference*: the row's micro AUC minus that of its grid's reference row (the method unchanged, "
            "e.g. MNAD's \"7 full model\"), in points, paired by seed: each run of the row against the reference's "
            "run of the same seed, on the same test frames (the checks of `vadbench compare`); mean ± std over the "
            "pairs, with n, the number of pairs. A seed that only one of the two rows has is not paired (the verdict "
            "names it). *DeLong p*: the two-sided p of DeLong's test of each pair, in seed order. *vs reference*: in "
            "how many paired seeds the row is lower or higher, and in how many the difference is significant by the "
            "rule of `vadbench compare`: DeLong's p < 0.05 **and** a paired video-bootstrap "
            f"{100 * CI_LEVEL:g} % interval of ΔAUC ({CI_RESAMPLES} resamples, seed {CI_SEED}) that excludes 0 "
            "(DeLong alone takes frames as independent; *DeLong alone* gives its count where it differs). The verdict "
            "begins *significant* when every pair is significant in one direction, *not significant* when none is, "
            "*mixed* otherwise. Recompute a pair with `vadbench compare ROW_SEED_RUN REFERENCE_SEED_RUN`. CSV and "
            "JSON carry numbers: *vs_reference* (the reference row's label; *reference* on that row), "
            "*delta_auc_micro*, *paired_seeds*, *delong_p_values* (in the order of *paired_seeds*), *pairs_lower* "
            "and *pairs_significant*.")


GridRows = dict[tuple[str, str], tuple[str, AblationRow]]


def _grid_rows(group: list[dict[str, Any]]) -> GridRows:
    """The ablation rows of the cards of the detectors in ``group``, keyed by (the detector that runs
    the row, its label), each with its grid's owner: one method's rows never pass for another's
    (MNAD-P and MNAD-R share their labels; MNAD-P's row 1 runs ``mnad-p-nomem``)."""
    found: GridRows = {}
    for detector in sorted({r["detector"] for r in group}):
        for row in card_of(detector).ablations:
            found.setdefault((row.detector or detector, row.label), (detector, row))
    return found


def _grid_row(grids: GridRows, entry: Entry) -> tuple[str | None, AblationRow | None]:
    """The grid row of ``entry``: the one its detector runs under its label, else the first of that label."""
    label = entry.first.get("label")
    exact = grids.get((entry.first["detector"], label))  # type: ignore[arg-type]
    if exact is not None:
        return exact
    return next(((owner, row) for (_, lab), (owner, row) in grids.items() if lab == label), (None, None))


@dataclass
class Versus:
    """A grid row's runs against the reference row's runs of the same seeds.

    ``pairs`` are ``(seed, compare_evaluated result)`` with the row's run as A (Δ = row − reference),
    in seed order; ``unpaired`` says, per seed of either row that was not compared, why not."""

    pairs: list[tuple[int, dict[str, Any]]]
    unpaired: dict[int, str]


def versus_reference(entry: Entry, reference: list[dict[str, Any]], row_seeds: set[int],
                     loaded: dict[str, Any]) -> Versus:
    """Compare each run of ``entry`` with the ``reference`` run of its seed (:func:`~vadbench.stats.compare_evaluated`,
    so the frames are checked as ``vadbench compare`` checks them). ``row_seeds`` are the seeds of every run
    of the entry's grid row (with ``--per-seed``, more than the entry's): a reference seed outside them is
    named as unpaired. ``loaded`` caches each run's evaluated frames by directory, so a reference run is
    read once for all the rows it is compared with."""
    from vadbench import stats

    def load(run: dict[str, Any]) -> Any:
        key = run["run_dir"]
        if key not in loaded:
            try:
                loaded[key] = stats.EvaluatedRun.load(Path(key))
            except VadbenchError as exc:
                loaded[key] = exc
        return loaded[key]

    by_seed: dict[int, list[dict[str, Any]]] = {}
    for run in reference:
        by_seed.setdefault(run["seed"], []).append(run)
    pairs, unpaired = [], {}
    for run in entry.runs:
        seed, refs = run["seed"], by_seed.get(run["seed"], [])
        if len(refs) != 1:
            unpaired[seed] = "no reference run" if not refs else f"{len(refs)} reference runs"
            continue
        a, b = load(run), load(refs[0])
        failed = next((x for x in (a, b) if isinstance(x, VadbenchError)), None)
        if failed is None:
            try:
                pairs.append((seed, stats.compare_evaluated(a, b)))
            except VadbenchError as exc:
                failed = exc
        if failed is not None:
            unpaired[seed] = f"not comparable ({failed})"
    for seed in sorted(set(by_seed) - row_seeds):
        unpaired[seed] = "only the reference has it"
    return Versus(pairs, unpaired)


def verdict(versus: Versus) -> str:
    """The plain statement of a row against its reference (the rule is in :func:`reference_note`), e.g.
    ``significant: lower in 3/3 seeds, significant in 3/3``."""
    results = [r for _, r in versus.pairs]
    n = len(results)
    unpaired = "; ".join(f"seed {s}: {why}" for s, why in sorted(versus.unpaired.items()))
    if not n:
        return f"not compared ({unpaired})" if unpaired else "not compared"
    lower, higher = sum(r["delta"] < 0 for r in results), sum(r["delta"] > 0 for r in results)
    significant = [r for r in results if r["significant"]]
    directions = {r["delta"] > 0 for r in significant}
    lead = ("significant" if len(significant) == n and len(directions) == 1 else
            "not significant" if not significant else "mixed")
    moves = [f"{word} in {k}/{n}" for word, k in (("lower", lower), ("higher", higher), ("equal", n - lower - higher))
             if k]
    delong_alone = sum(r["p"] < SIGNIFICANCE for r in results)
    text = f"{lead}: {', '.join(moves)} seed{'s' if n > 1 else ''}, significant in {len(significant)}/{n}"
    if delong_alone != len(significant):
        text += f" (DeLong alone: {delong_alone}/{n})"
    return text + (f"; n={n} pair{'s' if n > 1 else ''}, {unpaired}" if unpaired else "")


def _p(value: float) -> str:
    return f"{value:.2g}"


def _versus_cells(entry: Entry, owner: str | None, row: AblationRow,
                  placed: list[tuple[Entry, tuple[str | None, AblationRow | None]]],
                  loaded: dict[str, Any]) -> dict[str, Cell]:
    """The comparison cells of one entry: ``reference`` on the reference row, its Δ, p values and verdict on
    the other rows of a grid that has one, nothing on the rows of a grid that has none."""
    if row.reference:
        return {"delta": Text("reference"), "delong_p": Text("reference"), "verdict": Text("reference"),
                "vs_reference": Text("reference")}
    reference = [(e, r) for e, (o, r) in placed if o == owner and r is not None and r.reference]
    if not reference:
        return {}
    row_seeds = {run["seed"] for e, (o, r) in placed if o == owner and r is row for run in e.runs}
    versus = versus_reference(entry, [run for e, _ in reference for run in e.runs], row_seeds, loaded)
    seeds = [s for s, _ in versus.pairs]
    deltas = [100 * r["delta"] for _, r in versus.pairs]
    mean, std, n = mean_std(deltas)
    delta = Metric(mean, std, n) if entry.group else Metric(mean)
    ps = [r["p"] for _, r in versus.pairs]
    shown = ", ".join(map(_p, ps)) if not versus.unpaired else ", ".join(f"s{s}: {_p(p)}" for s, p in zip(seeds, ps))
    return {"delta": delta, "delong_p": Text(shown), "verdict": Text(verdict(versus)),
            "vs_reference": Text(reference[0][1].label), "delta_auc_micro": delta,
            "paired_seeds": _one_or_all(seeds) if seeds else Text(""),
            "delong_p_values": Number(ps[0], 6) if len(ps) == 1 else Text(",".join(map(repr, ps))),
            "pairs_lower": Number(sum(d < 0 for d in deltas)) if seeds else Number(None),
            "pairs_significant": Number(sum(r["significant"] for _, r in versus.pairs)) if seeds else Number(None)}


def _by_dataset(runs: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(d, sorted((r for r in runs if r["dataset"] == d), key=lambda r: (r["detector"], r["run_dir"])))
            for d in sorted({r["dataset"] for r in runs})]


def _reported(detector: str, dataset: str) -> tuple[dict[str, float], str] | None:
    """The published numbers of ``detector`` on ``dataset`` from its method card, if any."""
    reported = card_of(detector).reported
    numbers = reported.values.get(dataset) if reported else None
    return (dict(numbers), reported.source) if numbers and reported else None


# -- bold: best per column (LaTeX), significance (--mark-best) ------------------------------------------
def _bold(rows: list[tuple[Entry | None, Row]], key: str, better: str) -> None:
    """Bold every one of our cells in column ``key`` that holds the column's best value."""
    values = [(row.cells[key], row) for e, row in rows if e is not None and isinstance(row.cells.get(key), Metric)]
    finite = [c.mean for c, _ in values if c.mean is not None]  # type: ignore[union-attr]
    if not finite:
        return
    best = max(finite) if better == "higher" else min(finite)
    for cell, row in values:
        if cell.mean == best:  # type: ignore[union-attr]
            row.cells[key] = dataclasses.replace(cell, bold=True)  # type: ignore[arg-type]


def _headline(entry: Entry) -> float | None:
    """The micro AUC (%) an entry is ranked by: its run's, or its seeds' mean."""
    return metric(entry, "auc_micro", ci=False).mean


def significance(ranked: list[Entry]) -> tuple[bool, str]:
    """Whether the first of ``ranked`` (ours, best micro AUC first) beats the second significantly,
    and the sentence that says so or why not (the rule is in the module doc)."""
    if len(ranked) < 2:
        return False, "not marked: only one entry"
    best, second = ranked[0], ranked[1]
    names = f"{_method(best)} vs {_method(second)}"
    if _headline(best) == _headline(second):
        return False, f"not marked: {names} tie"
    common = sorted(set(best.seeds()) & set(second.seeds()))
    if not common:
        return False, f"not marked: {names} share no seed to compare"
    seed = common[0]
    run_a = next(r for r in best.runs if r["seed"] == seed)
    run_b = next(r for r in second.runs if r["seed"] == seed)
    try:
        from vadbench import stats
    except ImportError:
        raise ConfigError("--mark-best needs vadbench.stats (DeLong's test), which this installation lacks") from None
    try:
        result = stats.compare_runs(Path(run_a["run_dir"]), Path(run_b["run_dir"]))
    except VadbenchError as exc:
        return False, f"not marked: {names} cannot be compared ({exc})"
    p = float(result["p"])
    lo, hi = (100 * float(v) for v in result["delta_ci"])
    tested = f"{names}" + (f" (seed {seed})" if best.group or second.group else "")
    evidence = f"DeLong p = {p:.2g}, video-bootstrap ΔAUC [{lo:+.1f}, {hi:+.1f}] points"
    if result["auc_a"] <= result["auc_b"]:
        return False, f"not marked: {tested}, {evidence}, and the tested seed's AUC is not higher"
    if p < SIGNIFICANCE and lo > 0:
        return True, f"marked: {tested}, {evidence}"
    return False, f"not marked: {tested}, {evidence}"


def _section(dataset: str, group: list[dict[str, Any]], rows: list[tuple[Entry | None, Row]],
             columns: list[Column], opts: Options) -> tuple[Section, list[str]]:
    """The section of ``dataset``, bolded as the format and ``--mark-best`` ask, and the marking notes."""
    notes = []
    if opts.fmt == LATEX:
        for c in columns:
            if c.better and (c.key != "auc_micro" or not opts.mark_best):
                _bold(rows, c.key, c.better)
    if opts.mark_best:
        ranked = sorted((e for e, _ in rows if e is not None and _headline(e) is not None),
                        key=lambda e: -_headline(e))  # type: ignore[operator]
        marked, sentence = significance(ranked)
        if marked:
            row = next(row for e, row in rows if e is ranked[0])
            row.cells["auc_micro"] = dataclasses.replace(row.cells["auc_micro"], bold=True)  # type: ignore[arg-type]
        notes.append(f"{dataset}: {sentence}.")
    synthetic = any(r.get("protocol", {}).get("synthetic") for r in group)
    protocols = sorted({describe(r["protocol"]) for r in group})
    caption = (f"{dataset}{' (SYNTHETIC data)' if synthetic else ''}. Protocol{'s' if len(protocols) > 1 else ''}: "
               + "; ".join(protocols) + ". AUC, EER and AUPR in %; reported rows are the papers' numbers, not reruns.")
    regions = sorted({p for p in map(region_protocol, group) if p})
    if regions:
        caption += (f" Region protocol{'s' if len(regions) > 1 else ''} of RBDC and TBDC (in %): "
                    + "; ".join(regions) + ".")
    if opts.fmt == LATEX:
        caption += (" Bold: the best of our rows per column" +
                    (", but micro AUC only where it beats the runner-up significantly (DeLong p < 0.05 and a "
                     "video-bootstrap ΔAUC interval above 0)." if opts.mark_best
                     else " (not a significance test)."))
    elif opts.mark_best:
        caption += (" Bold micro AUC: better than the runner-up by DeLong's test (p < 0.05) and a video-bootstrap "
                    "interval of the difference above 0.")
    if notes:
        caption += " " + " ".join(notes)
    return Section(dataset, [row for _, row in rows], [SYNTHETIC_BANNER, ""] if synthetic else [], caption), notes


def _table(columns: list[Column], parts: list[tuple[Section, list[str]]], notes: list[str],
           runs: list[dict[str, Any]], opts: Options) -> Table:
    """The table of the built sections, with the notes the options call for below the legend."""
    sections = [s for s, _ in parts]
    grouped = not opts.per_seed
    extra = []
    if grouped and _has_groups(runs):
        extra.append("Rows of several seeds show mean ± sample std (ddof = 1) over the seeds, with n, the number of "
                     "seeds that have the value; runs are averaged only when they differ in nothing but the seed "
                     "(detector, label, config, profile, dataset and options, input, protocol, epochs).")
    if opts.ci:
        levels = sorted({float(r["ci"].get("level", 0.95)) for r in runs if isinstance(r.get("ci"), dict)}) or [0.95]
        extra.append(f"[lo, hi]: the run's {' / '.join(f'{100 * v:g} %' for v in levels)} video-bootstrap interval "
                     "from its metrics.json (absent for older runs)"
                     + ("; for a group of seeds, the mean of the seeds' bounds, not a combined interval "
                        "(see each seed's with --per-seed)." if grouped else "."))
    if opts.mark_best:
        extra.append(f"Bold micro AUC: the best of a dataset, marked only where it beats the runner-up on the same "
                     f"frames by DeLong's test (p < {SIGNIFICANCE}) and by a paired video-bootstrap interval of ΔAUC "
                     "that excludes 0 (groups of seeds: their runs of the lowest common seed).")
        extra += [n for _, marking in parts for n in marking]
    own = _paragraphs(list(opts.note)) + [""] * bool(opts.note)
    return Table(columns, sections, own + notes + [""] * bool(extra) + _paragraphs(extra), opts.command,
                 grouped=grouped, ci=opts.ci)


def read_note(path: Path) -> tuple[str, ...]:
    """The paragraphs of a ``--note`` file, each joined into one line, or an error naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--note {path}: cannot read it ({exc.__class__.__name__}: {exc})") from None
    paragraphs = tuple(" ".join(p.split()) for p in re.split(r"\n[ \t]*\n", text) if p.strip())
    if not paragraphs:
        raise ConfigError(f"--note {path} is empty")
    return paragraphs


def _paragraphs(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out += [line, ""]
    return out[:-1]


def _has_groups(runs: list[dict[str, Any]]) -> bool:
    return any(e.group for e in entries(runs, per_seed=False))


# -- entry point -----------------------------------------------------------------------------------
def table_format(out: Path | None, fmt: str | None) -> str:
    """The format asked for: ``fmt``, else the one ``out``'s suffix names, else Markdown.

    A suffix that names another format than ``fmt`` is refused (``--out t.csv`` never holds
    Markdown); an unknown suffix needs an explicit ``fmt``.
    """
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"unknown table format {fmt!r}; use {', '.join(FORMATS)}")
    if out is None:
        return fmt or MD
    suffix = Path(out).suffix.lower()
    if suffix not in SUFFIXES:
        if fmt is not None:
            return fmt
        raise ConfigError(f"cannot tell the table format of --out {out} from its suffix {suffix or '(none)'!r}; use "
                          f"{' '.join(SUFFIXES)} or --format")
    if fmt is not None and fmt != SUFFIXES[suffix]:
        raise ConfigError(f"--format {fmt} does not match --out {out} (a {SUFFIXES[suffix]} suffix)")
    return SUFFIXES[suffix]


def build(paths: list[Path], layout: str = "leaderboard", opts: Options | None = None) -> Table:
    """The table of the runs under ``paths`` (not yet rendered)."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}; use {' or '.join(LAYOUTS)}")
    opts = opts or Options()
    runs = collect(paths)
    if not runs:
        raise RunError(f"no finished runs under {', '.join(map(str, paths))}")
    return (ablation_table if layout == "ablation" else leaderboard_table)(runs, opts)


def render(paths: list[Path], layout: str = "leaderboard", out: Path | None = None, command: str = "",
           fmt: str | None = None, *, per_seed: bool = False, ci: bool = False, mark_best: bool = False,
           note: Path | None = None) -> str:
    """The text of a table over the runs under ``paths``, in ``fmt`` (default: from ``out``'s suffix, else
    Markdown), headed by ``command`` where the format allows a comment (CSV does not). ``note``: a text
    file whose paragraphs (blank-line separated) go right under the table, so that a page's reading of
    its numbers is regenerated with it rather than typed into it."""
    opts = Options(table_format(out, fmt), per_seed, ci, mark_best, out, command, read_note(note) if note else ())
    return RENDERERS[opts.fmt](build(paths, layout, opts))
