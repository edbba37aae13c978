"""The ``vadbench`` command line (typer + rich).

User errors (a :class:`VadbenchError`) end the command with one red line and exit code 2, never
a traceback; an interrupted run says how to resume it.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, Optional

import typer
from rich.table import Table

from vadbench._version import __version__
from vadbench.cli_datasets import CompressionOpt, DataSetOpt, PluginOpt, RootOpt, dataset_options
from vadbench.cli_datasets import app as datasets_app
from vadbench.cli_datasets import load_plugins as _load_plugins
from vadbench.config import parse_assignments, parse_seeds
from vadbench.console import console
from vadbench.errors import ConfigError, VadbenchError
from vadbench.errors import one_line as _one_line
from vadbench.protocols import PROTOCOLS, describe
from vadbench.registry import cards, datasets, detectors

if TYPE_CHECKING:
    from vadbench.runner import RunRequest

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="vadbench: video anomaly detection benchmarks whose numbers compare.")

app.add_typer(datasets_app, name="datasets", help="Prepare, inspect and verify datasets.")


def _print_version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="Print the vadbench version and exit.")) -> None:
    """vadbench: video anomaly detection benchmarks whose numbers compare."""


SetOpt = typer.Option(None, "--set", help="Detector setting key=value (repeatable; validated).")
ProtocolSetOpt = typer.Option(None, "--protocol-set", help="Protocol field key=value, e.g. drop_first=0 (repeatable).")
NAMED_PROTOCOLS = "; ".join(f"{name}: {describe(p.record()).partition(', ')[2]}" for name, p in PROTOCOLS.items())
RunProtocolOpt = typer.Option(None, "--protocol", help=f"Named protocol ({NAMED_PROTOCOLS}). Default: mnad with the "
                              "detector's own defaults, recorded as mnad* with the fields that differ.")


def _request(detector: str | None, plugin: list[Path] | None, sets: list[str] | None,
             protocol_sets: list[str] | None, data_sets: list[str] | None, detector_opt: str | None = None,
             **fields: Any) -> RunRequest:
    """The :class:`RunRequest` of a ``run`` or ``ablate`` command line, given its parameters by name.

    ``fields`` are the parameters that are request fields as they are. The plugins are loaded
    first (they may register the detector or dataset named), and the dataset options are
    checked by the dataset's ``Options`` here, before the runner creates the run directory or
    ``--overwrite`` empties it.
    """
    from vadbench.runner import RunRequest

    _load_plugins(plugin)
    name = detector_opt or detector
    if not name:
        raise ConfigError("name a detector: vadbench run DETECTOR (see `vadbench list`) or --detector module:Class")
    options = dataset_options(data_sets)
    if options:
        datasets.get(fields["dataset"]).parse_options(options)
    return RunRequest(detector=name, overrides=parse_assignments(sets),
                      protocol_overrides=parse_assignments(protocol_sets, "--protocol-set"), dataset_options=options,
                      **fields)


def _seeded_requests(seed: int | None, seeds: str | None, out: Path | None, grid: bool = False,
                     **params: Any) -> list[RunRequest]:
    """One request per seed of ``--seeds`` (or the one of ``--seed``, default 0), all checked before any run.

    Each seed gets its own run directory, named as ``--seed`` names it (``run``'s default name ends
    in ``-s<seed>``); an ``--out`` for several seeds (and an ablation ``grid``'s, which has no seed in
    its default name) must say where the seed goes, ``{seed}``, so that two seeds never meet in one
    directory, where the second would be refused, or with ``--overwrite`` replace the first.
    """
    import dataclasses

    if seed is not None and seeds is not None:
        raise ConfigError("--seed and --seeds are exclusive: one seed with --seed, several with --seeds")
    if seed is not None and seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    chosen = parse_seeds(seeds) if seeds is not None else [0 if seed is None else seed]
    if out is not None and "{seed}" in str(out):
        outs: list[Path | None] = [Path(str(out).replace("{seed}", str(s))) for s in chosen]
    elif len(chosen) > 1 and (out is not None or grid):
        example = f"{out}-s{{seed}}" if out is not None else f"runs/{params.get('dataset')}/{params.get('detector')}-ablation-s{{seed}}"
        raise ConfigError(f"--seeds {seeds} makes one run directory per seed: give --out with {{seed}} in it, e.g. "
                          f"--out {example}")
    else:
        outs = [out] * len(chosen)
    base = _request(seed=chosen[0], out=outs[0], **params)
    return [dataclasses.replace(base, seed=s, out=o) for s, o in zip(chosen, outs)]


def _print_seed_summary(results: list[dict[str, Any]]) -> None:
    """After several seeds: their micro AUC as mean ± sample std, as `vadbench table` shows it."""
    if len(results) < 2:
        return
    from vadbench.tables import mean_std

    mean, std, n = mean_std(100 * r["auc_micro"] for r in results)
    console.print(f"micro AUC over seeds {','.join(str(r['seed']) for r in results)}: {mean:.2f} ± {std:.2f} % "
                  f"(mean ± sample std, n={n})")


@app.command()
def run(
    detector: Optional[str] = typer.Argument(None, help="Registered name (see `vadbench list`) or module:Class."),
    detector_opt: Optional[str] = typer.Option(None, "--detector", help="module:Class of an unpublished detector."),
    dataset: str = typer.Option("synthetic", "--dataset", "-d", help="Registered dataset."),
    root: Optional[str] = RootOpt,
    data_sets: Optional[List[str]] = DataSetOpt,
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of Python, NumPy, torch and the loaders (default 0)."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Several seeds, one run directory each: 0,1,2 or 0-4 "
                                        "(not with --seed). An --out for several seeds must hold {seed}, e.g. "
                                        "--out runs/convae-s{seed}; `vadbench table` shows their mean ± std."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Override the detector's epoch count."),
    sets: Optional[List[str]] = SetOpt,
    profile: Optional[str] = typer.Option(None, "--profile", help="Named config profile (default: chosen by size)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default runs/<dataset>/<detector>...)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory."),
    protocol: Optional[str] = RunProtocolOpt,
    protocol_sets: Optional[List[str]] = ProtocolSetOpt,
    partial: bool = typer.Option(False, "--partial", help="Build from an incomplete copy (results marked)."),
    compression: str = CompressionOpt,
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes."),
    pixel: bool = typer.Option(False, "--pixel", help="Also compute pixel-level metrics (needs maps and masks)."),
    regions: bool = typer.Option(False, "--regions", help="Also compute RBDC/TBDC of the detector's regions (or "
                                 "of regions from its maps) against the published tracks of --data-set tracks=PATH, "
                                 "else tracks derived from the masks; keeps regions.csv (docs/protocols.md §6)."),
    keep_checkpoint: bool = typer.Option(False, "--keep-checkpoint",
                                         help="Keep the resume checkpoint of a finished run (model.pt suffices to score)."),
    plugin: Optional[List[Path]] = PluginOpt,
) -> None:
    """Prepare the cache, train, score and evaluate one detector; write a run directory (one per seed)."""
    reqs = _seeded_requests(**locals())  # first, while the locals are exactly the parameters
    from vadbench.runner import run as do_run

    results = []
    for req in reqs:
        results.append(do_run(req))
        _print_metrics(results[-1])
    _print_seed_summary(results)


def _with_run_options(*dropped: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A decorator: ``command`` takes every option of :func:`run` but ``dropped``; its own parameters
    replace ``run``'s of the same name, and those ``run`` lacks come after (context first).

    An ablation row is a run, so ``ablate`` takes what ``run`` takes (but ``--detector``: the grid
    names its detectors), and a sweep's jobs are runs too. typer reads the signature built here, so
    each option has one definition, in ``run``'s signature, and one that ``run`` gains is theirs as well.
    """
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True).parameters
        shared = inspect.signature(run, eval_str=True).parameters
        params = [own.get(name, param) for name, param in shared.items() if name not in dropped]
        params += [p for name, p in own.items() if name not in shared and p.kind is not p.VAR_KEYWORD]
        command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            sorted(params, key=lambda p: p.default is not p.empty))  # a parameter without a default comes first
        return command
    return decorate


@app.command()
@_with_run_options("detector_opt")
def ablate(
    detector: str = typer.Argument(..., help="Detector whose ablation grid to run (e.g. mnad-p)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Grid directory; each row goes in a sub-folder."),
    resume: bool = typer.Option(False, "--resume", help="Skip finished rows, resume the unfinished one."),
    **options: Any,
) -> None:
    """Run every row of a detector's ablation grid (MNAD: the paper's Table 2); options as for `run`."""
    reqs = _seeded_requests(detector=detector, out=out, resume=resume, grid=True, **options)
    from vadbench.ablate import ablate as do_ablate

    for req in reqs:
        for row in do_ablate(req):
            console.print(f"{row.get('label')}: micro AUC {100 * row['auc_micro']:.1f}"
                          + (f" (seed {req.seed})" if len(reqs) > 1 else ""))


@app.command()
@_with_run_options("detector_opt", "seed", "resume", "overwrite")
def sweep(
    ctx: typer.Context,
    spec: Optional[Path] = typer.Argument(None, help="A sweep file (TOML, docs/sweeps.md); the options given here "
                                          "override its keys."),
    detector: Optional[str] = typer.Option(None, "--detectors", help="Detectors, comma-separated (registered names "
                                           "or module:Class)."),
    ablate: Optional[str] = typer.Option(None, "--ablate", help="Detectors whose ablation grid (method card) runs "
                                         "row by row, comma-separated."),
    dataset: Optional[str] = typer.Option(None, "--datasets", "-d", help="Datasets, comma-separated (default "
                                          "synthetic)."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Seeds: 0,1,2 or 0-4 (default 0)."),
    out: Optional[Path] = typer.Option(None, "--out", help="The sweep's root: a run directory per job, sweep.json, "
                                       "logs/ (default runs/sweeps/<SPEC's name>)."),
    executor: str = typer.Option("local", "--executor", help="local (processes here), slurm (a job array through "
                                 "submitit), submitit-local (submitit's local executor) or ray."),
    jobs: Optional[int] = typer.Option(None, "--jobs", min=1, help="local: jobs at once (default 1); slurm: the "
                                       "array's parallelism."),
    cpus_per_task: Optional[int] = typer.Option(None, "--cpus-per-task", min=1, help="CPU threads per job (local "
                                                "default: cores // jobs; elsewhere 1)."),
    gpus: Optional[int] = typer.Option(None, "--gpus", min=0, help="GPUs per job (slurm, submitit-local, ray)."),
    time: Optional[int] = typer.Option(None, "--time", min=1, help="Minutes per job (slurm, submitit-local)."),
    mem: Optional[float] = typer.Option(None, "--mem", min=0.1, help="GB of memory per job (slurm)."),
    partition: Optional[str] = typer.Option(None, "--partition", help="SLURM partition."),
    **options: Any,
) -> None:
    """Run a grid of runs (detectors × datasets × seeds × --set axes × ablation rows), one run directory
    per job under one root; finished runs are skipped, interrupted ones resumed. Exit 1 unless every
    job is finished. A --set value [a,b] is an axis; --set DETECTOR.key=value sets one detector's."""
    from vadbench.executors import Resources, execute
    from vadbench.sweep import claim, expand, from_command_line, jobs_of, load, merge

    resources = Resources(executor, jobs, cpus_per_task, gpus, time, mem, partition).check()
    if spec is None and out is None:
        raise ConfigError("a sweep given on the command line needs --out ROOT (its runs' folder)")
    given = {name: value for name, value in {**options, "detector": detector, "ablate": ablate, "dataset": dataset,
                                             "seeds": seeds}.items()
             if name != "plugin" and ctx.get_parameter_source(name).name != "DEFAULT"}
    _load_plugins(options["plugin"])
    root = out or Path("runs") / "sweeps" / spec.stem  # type: ignore[union-attr]
    expanded = expand(merge(load(spec) if spec else {}, from_command_line(given)), str(spec or "sweep"),
                      here=resources.here)
    todo = jobs_of(expanded, root, options["plugin"])
    claim(root, todo)
    try:
        outcomes = execute(todo, resources)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished epochs are checkpointed; run the same sweep again to continue")
        raise typer.Exit(130) from None
    if any(o.state not in ("done", "skipped") for o in outcomes):
        raise typer.Exit(1)


@app.command("eval")
def eval_(
    run_dir: Path = typer.Argument(..., help="A run directory (holds config.json and model.pt)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Another checkpoint (model.pt or checkpoint.pt)."),
    device: str = typer.Option("cpu", "--device"),
    protocol: Optional[str] = typer.Option(None, "--protocol", help=f"Named protocol ({', '.join(PROTOCOLS)}; "
                                           "default: the run's own)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Evaluation folder (default RUN/evals/<checkpoint>-<protocol>)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier evaluation in that folder."),
    plugin: Optional[List[Path]] = PluginOpt,
) -> None:
    """Score a saved checkpoint on the run's test set again; the run's own files are kept as they are."""
    from vadbench.runner import evaluate_checkpoint

    _load_plugins(plugin)
    _print_metrics(evaluate_checkpoint(run_dir, checkpoint, device, protocol, out, overwrite))


@app.command()
def metrics(
    run_dir: Path = typer.Argument(..., help="A finished run directory (holds frames.csv)."),
    protocol: Optional[str] = typer.Option(None, "--protocol", help=f"Named protocol ({NAMED_PROTOCOLS}). "
                                           "Default: the protocol the run recorded."),
    protocol_sets: Optional[List[str]] = ProtocolSetOpt,
    all_protocols: bool = typer.Option(False, "--all-protocols", help="Every named protocol side by side (each "
                                       "keeps the run's detector_normalisation; --protocol-set applies to all), "
                                       "with the spread (max − min) per metric."),
) -> None:
    """Recompute metrics from a run's frames.csv under its own or any named protocol (no rerun); RBDC/TBDC
    from its regions.csv, when it has one, against the ground truth it recorded."""
    if all_protocols:
        if protocol is not None:
            raise ConfigError("--all-protocols evaluates every named protocol; leave out --protocol")
        from vadbench.external import across_protocols

        _print_protocol_spread(run_dir, across_protocols(run_dir, parse_assignments(protocol_sets, "--protocol-set")))
        return

    from vadbench.rundir import RunDir
    from vadbench.runner import metrics_from_frames

    own = RunDir(run_dir).protocol()
    overrides = parse_assignments(protocol_sets, "--protocol-set")
    proto = (own if protocol is None else own.as_named(protocol)).with_overrides(overrides)
    _print_metrics({**metrics_from_frames(run_dir, proto), **_region_criteria(run_dir), "protocol": proto.record()})


def _region_criteria(run_dir: Path) -> dict[str, float]:
    """``metrics``: RBDC/TBDC recomputed from the run's regions.csv (none without one); a ground truth
    that cannot be had now (the dataset or the track files gone) is a note, not a failure."""
    from vadbench.region_eval import has_regions, recompute

    if not has_regions(run_dir):
        return {}
    try:
        criteria = recompute(run_dir)
    except VadbenchError as exc:
        console.print(f"[yellow]note:[/] RBDC/TBDC not recomputed: {_one_line(str(exc))}")
        return {}
    return {"rbdc": criteria.rbdc, "tbdc": criteria.tbdc}


@app.command()
def table(
    paths: List[Path] = typer.Argument(..., help="Run directories (searched recursively for metrics.json)."),
    out: Optional[Path] = typer.Option(None, "--out", help="File to write (default: print); its suffix names the "
                                       "format: .md .csv .tex .html .json."),
    layout: str = typer.Option("leaderboard", "--layout", help="leaderboard or ablation (paper Table 2 style)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="md, csv, latex, html or json (default: from --out's "
                                      "suffix, else md). CSV and JSON are tidy: one row per run or seed group."),
    per_seed: bool = typer.Option(False, "--per-seed", help="One row per run; by default runs that differ only in "
                                  "their seed are one row, mean ± sample std (n seeds)."),
    ci: bool = typer.Option(False, "--ci", help="Show each run's 95 % video-bootstrap interval (metrics.json 'ci'); "
                            "for a seed group, the mean of the seeds' bounds."),
    mark_best: bool = typer.Option(False, "--mark-best", help="Bold a dataset's best micro AUC only where DeLong's "
                                   "test gives p < 0.05 against the runner-up (groups: their lowest common seed)."),
    note: Optional[Path] = typer.Option(None, "--note", help="Text file whose paragraphs go right under the table "
                                        "(what it shows and what it does not)."),
) -> None:
    """Make a results table from run files (and the method cards' published numbers)."""
    from vadbench.store import atomic_open
    from vadbench.tables import render

    flags = [f"--layout {layout}" if layout != "leaderboard" else "", f"--format {fmt}" if fmt else "",
             "--per-seed" if per_seed else "", "--ci" if ci else "", "--mark-best" if mark_best else "",
             f"--note {note}" if note else "", f"--out {out}" if out else ""]
    command = " ".join(["vadbench table", *map(str, paths), *filter(None, flags)])
    text = render(paths, layout, out, command, fmt, per_seed=per_seed, ci=ci, mark_best=mark_best, note=note)
    if out:
        with atomic_open(out) as f:
            f.write(text)
        console.print(f"wrote {out}")
    else:
        sys.stdout.write(text)


@app.command("list")
def list_(plugin: Optional[List[Path]] = PluginOpt) -> None:
    """Show registered detectors (and variants) and datasets, where they come from, and broken plugins.

    Detectors are described by their method cards, so listing imports no model code; a detector
    without a card is imported to read its docstring (and to show its error if it is broken).
    """
    _load_plugins(plugin)
    t = _listing("detectors")
    declared = dict(detectors.declared())
    for name, source in sorted({**dict(cards.declared()), **declared}.items()):
        card = cards.find(name)
        if detectors.peek(name) is not None:  # registered in code too (e.g. by --plugin): load to check for a clash
            entry = detectors.entry(name)
            if entry is not None and not entry.ok:
                t.add_row(name, entry.source, entry.description, style="red")
                continue
        if card is not None:  # described by its card: nothing else is imported
            variant = f" [variant of {card.variant_of}]" if card.variant_of else ""
            t.add_row(name, source, card.title + variant)
            continue
        entry = detectors.entry(name)
        if entry is not None:
            t.add_row(name, entry.source, entry.description, style=None if entry.ok else "red")
    console.print(t)
    t = _listing("datasets")
    for entry in datasets.entries():
        t.add_row(entry.name, entry.source, entry.description, style=None if entry.ok else "red")
    console.print(t)


def _listing(title: str) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column("name", style="bold")
    t.add_column("from")
    t.add_column("description")
    return t


@app.command()
def version() -> None:
    """Print the vadbench version."""
    print(__version__)


@app.command()
def compare(
    runs: List[Path] = typer.Argument(..., help="Two or more finished run directories on the same test frames."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write every comparison to this JSON file."),
    resamples: int = typer.Option(1000, "--resamples", min=1, help="Paired video-bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (recorded)."),
    protocol: Optional[str] = typer.Option(None, "--protocol", help=f"Evaluate every run under this named protocol "
                                           f"({', '.join(PROTOCOLS)}) instead of its own."),
) -> None:
    """Is one run's micro AUC significantly different from another's? ΔAUC, paired video-bootstrap
    95 % interval and DeLong's test for every pair (docs/protocols.md §8)."""
    from vadbench.stats import compare_all
    from vadbench.store import write_json

    results = compare_all(runs, resamples, seed, protocol)
    t = Table(title=f"micro AUC, {results[0]['protocol']}, {results[0]['frames']} frames of "
              f"{results[0]['videos']} videos (Δ = A − B)", title_justify="left")
    for name in ("A", "B", "AUC A", "AUC B", "ΔAUC", "95 % CI of Δ", "DeLong z", "p"):
        t.add_column(name, justify="left" if name in ("A", "B") else "right")
    for r in results:
        lo, hi = r["delta_ci"]
        t.add_row(r["run_a"], r["run_b"], f"{100 * r['auc_a']:.2f}", f"{100 * r['auc_b']:.2f}",
                  f"{100 * r['delta']:+.2f}", f"[{100 * lo:+.2f}, {100 * hi:+.2f}]", f"{r['z']:.3f}", f"{r['p']:.4g}")
    console.print(t)
    if json_out:
        write_json(json_out, {"comparisons": results})
        console.print(f"wrote {json_out}")


@app.command("score-file")
def score_file(
    scores: Path = typer.Argument(..., help="Per-frame scores written by another program (.npy .npz .csv .json "
                                  ".pkl; the accepted shapes are listed above)."),
    dataset: str = typer.Option(..., "--dataset", "-d", help="The dataset the scores belong to; its labels and video "
                                "lengths are read from vadbench's cache."),
    root: Optional[str] = RootOpt,
    data_sets: Optional[List[str]] = DataSetOpt,
    protocol: Optional[str] = typer.Option(None, "--protocol", help=f"Named protocol ({NAMED_PROTOCOLS}). "
                                           "Default: mnad."),
    protocol_sets: Optional[List[str]] = ProtocolSetOpt,
    skip_first: int = typer.Option(0, "--skip-first", help="Each per-video list lacks the first k frames (MNAD-P, "
                                   "Frame-Pred: 4); its scores are aligned to the end of the video."),
    normality: bool = typer.Option(False, "--normality", help="The scores are normality scores (higher = more "
                                   "normal, e.g. MNAD's official score): evaluated negated, which keeps ties exact."),
    score_normalisation: str = typer.Option("none", "--score-normalisation", help="What the scores already apply, "
                                            "e.g. per_video_minmax for MNAD's official score: recorded, and the raw "
                                            "AUC is then NaN rather than a leak."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Load a pickle (.pkl, object-array .npy): "
                                      "unpickling can run arbitrary code, so only for a file you trust."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default runs/<dataset>/external-<name>)."),
    name: Optional[str] = typer.Option(None, "--name", help="Row label in tables (default: the file name without "
                                       "its suffix)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory."),
    plugin: Optional[List[Path]] = PluginOpt,
) -> None:
    """Evaluate per-frame scores made by other code under vadbench's protocols; write a run directory
    (frames.csv, metrics.json, config.json) marked external. Higher = more anomalous unless --normality.

    Accepted shapes: a .npy array over all test videos concatenated in sorted order (length: the
    total frames, less --skip-first per video) or a 2-D array with one row per video;
    a .npz with one array per video, keyed by video name (or arr_0, arr_1, ... in order);
    a .csv with columns video,frame,score (frame: 0-based position; missing frames are NaN and
    filled by the protocol); a .json, or with --allow-pickle a .pkl or object-array .npy, holding a
    list of per-video lists (sorted video order) or a mapping video -> list. Keys that are not
    video names are matched in sorted order when there are as many as videos (recorded).
    Official MNAD-P lists: --skip-first 4 --normality --score-normalisation per_video_minmax.
    """
    from vadbench.external import ScoreFileRequest
    from vadbench.external import score_file as do_score_file

    _load_plugins(plugin)
    result = do_score_file(ScoreFileRequest(
        scores=scores, dataset=dataset, root=root, dataset_options=dataset_options(data_sets), protocol=protocol,
        protocol_overrides=parse_assignments(protocol_sets, "--protocol-set"), skip_first=skip_first,
        normality=normality, score_normalisation=score_normalisation, allow_pickle=allow_pickle, out=out,
        name=name, overwrite=overwrite))
    _print_metrics(result)
    console.print(f"wrote {result['run_dir']} (external: {result['external']['layout']})")


@app.command()
def plot(
    runs: List[Path] = typer.Argument(..., help="Finished run directories (several overlay on roc, pr, timeline)."),
    kind: str = typer.Option(..., "--kind", help="roc, pr (micro curves), timeline (score per video, ground truth "
                             "shaded), maps (anomaly-map overlays; needs model.pt), memory (MNAD items and "
                             "queries; needs model.pt) or regions (RBDR/TBDR vs FPR with RBDC/TBDC, from the "
                             "regions.csv of a run --regions run)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the figures (default: RUN/figures/ of the "
                                       "first run)."),
    videos: Optional[str] = typer.Option(None, "--videos", help="Comma-separated test videos, e.g. 01,02 "
                                         "(timeline: default all, at most 16; maps, memory: one figure each)."),
    fmt: str = typer.Option("png", "--format", help="png or pdf."),
    embedding: str = typer.Option("pca", "--embedding", help="memory: pca (numpy SVD) or tsne (scikit-learn)."),
    device: str = typer.Option("cpu", "--device", help="maps, memory: cpu or cuda."),
    plugin: Optional[List[Path]] = PluginOpt,
) -> None:
    """Draw the figures papers print from run files; prints the path of every file written.

    Scores are shown as evaluated: each run's frames.csv under the protocol it recorded, so a
    curve's AUC is the run's own. Files: <out>/<kind>[-<video>].<format>.
    """
    from vadbench.plots import plot as draw

    _load_plugins(plugin)
    names = [v.strip() for v in videos.split(",") if v.strip()] if videos else None
    figures = draw(runs, kind, out=out, videos=names, fmt=fmt, embedding=embedding, device=device)
    for note in figures.notes:
        console.print(f"[yellow]note:[/] {note}")
    for path in figures.paths:
        print(path)


def _print_protocol_spread(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """``metrics --all-protocols``: one row per protocol, the spread last, in % (frames as counts)."""
    t = Table(title=f"{run_dir} under every named protocol: AUCs (micro, macro, raw micro), EER and AUPR in %; "
              "spread = max − min", title_justify="left")
    columns = [("auc_micro", "micro"), ("auc_macro", "macro"), ("eer", "EER"), ("aupr", "AUPR"),
               ("auc_micro_raw", "raw"), ("frames_evaluated", "frames")]
    t.add_column("protocol", no_wrap=True)
    for _, title in columns:
        t.add_column(title, justify="right", no_wrap=True)
    t.add_column("steps", ratio=1, overflow="fold")
    for i, row in enumerate(rows):
        cells = ["" if row[k] != row[k] else str(int(row[k])) if k == "frames_evaluated" else f"{100 * row[k]:.2f}"
                 for k, _ in columns]
        steps = row["description"].partition(", ")[2].partition(", changed: ")[0]
        t.add_row(row["protocol"], *cells, steps, end_section=i == len(rows) - 2)
    console.print(t)
    console.print("Each protocol keeps the run's detector_normalisation (a fact about its scores); a * marks a "
                  "field that differs from the named definition.")


def _print_metrics(m: dict) -> None:  # type: ignore[type-arg]
    t = Table(title="metrics", title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    ci = m.get("ci") or {}
    t.add_column(f"{100 * ci.get('level', 0.95):g} % CI (video bootstrap)" if ci else "", justify="right")
    for key in ("auc_micro", "auc_macro", "auc_macro_skip", "eer", "aupr", "auc_micro_raw",
                "pixel_auc_ucsd", "pixel_eer_ucsd", "pixel_auroc", "rbdc", "tbdc"):
        if key in m:
            bounds = ci.get(key)
            t.add_row(key, f"{100 * m[key]:.2f} %", f"[{100 * bounds[0]:.2f}, {100 * bounds[1]:.2f}]" if bounds else "")
    t.add_row("frames evaluated", str(m.get("frames_evaluated")))
    if "protocol" in m:
        t.add_row("protocol", describe(m["protocol"]))
    console.print(t)


def _usage_hint(exc: typer.TyperException) -> str:
    ctx = getattr(exc, "ctx", None)
    return f" (see `{ctx.command_path} --help`)" if ctx is not None else ""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every failure exits non-zero with one readable line on stderr.

    typer runs in non-standalone mode so that vadbench, not click, decides what a failure
    prints: a :class:`VadbenchError` or a usage error (unknown option, missing argument, a
    value of the wrong type) is one red line and exit code 2; ``typer.Exit`` codes (e.g. a
    failed ``datasets verify``, or 130 for Ctrl-C) are returned by typer in this mode and passed on here.
    """
    try:
        code = app(args=argv, prog_name="vadbench", standalone_mode=False)
    except VadbenchError as exc:
        _error(_one_line(str(exc)), 2)
    except typer.TyperException as exc:  # click's usage errors (vendored by typer) derive from it
        if not exc.format_message():  # `vadbench` alone: the help was printed, nothing went wrong
            sys.exit(0)
        _error(_one_line(exc.format_message()) + _usage_hint(exc), getattr(exc, "exit_code", 2) or 2)
    except typer.Abort:
        _error("aborted", 1)
    if code == INTERRUPTED:  # typer turns Ctrl-C into this exit code in non-standalone mode
        console.print("[yellow]interrupted[/]: finished epochs are checkpointed; continue with --resume")
    sys.exit(code if isinstance(code, int) else 0)


INTERRUPTED = 130  # 128 + SIGINT, the shell's code for a command stopped by Ctrl-C


def _error(message: str, code: int) -> None:
    console.print(f"[red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    sys.exit(code)
