"""The ``vadbench`` command line (typer + rich).

User errors (a :class:`VadbenchError`) end the command with one red line and exit code 2, never
a traceback; an interrupted run says how to resume it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from vadbench import __version__
from vadbench.config import parse_assignments
from vadbench.console import console
from vadbench.errors import ConfigError, VadbenchError
from vadbench.registry import datasets, detectors

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="vadbench: video anomaly detection benchmarks whose numbers compare.")

try:  # the dataset commands live in their own module
    from vadbench.cli_datasets import app as datasets_app

    app.add_typer(datasets_app, name="datasets", help="Prepare, inspect and verify datasets.")
except ImportError:  # pragma: no cover - only while the module is absent
    pass


def _load_plugins(plugins: list[Path] | None) -> None:
    for path in plugins or []:
        detectors.load_file(path)


PluginOpt = typer.Option(None, "--plugin", help="Python file that registers detectors or datasets (repeatable).")
SetOpt = typer.Option(None, "--set", help="Detector setting key=value (repeatable; validated).")
ProtocolSetOpt = typer.Option(None, "--protocol-set", help="Protocol field key=value, e.g. drop_first=0 (repeatable).")


def _request(detector: str | None, detector_opt: str | None, **kw):  # type: ignore[no-untyped-def]
    from vadbench.runner import RunRequest

    name = detector_opt or detector
    if not name:
        raise ConfigError("name a detector: vadbench run DETECTOR (see `vadbench list`) or --detector module:Class")
    opts = {k: v for k, v in {"scenes": kw.pop("scenes"), "labels": kw.pop("labels")}.items() if v is not None}
    return RunRequest(detector=name, overrides=parse_assignments(kw.pop("sets")),
                      protocol_overrides=parse_assignments(kw.pop("protocol_sets")), dataset_options=opts, **kw)


@app.command()
def run(
    detector: Optional[str] = typer.Argument(None, help="Registered name (see `vadbench list`) or module:Class."),
    detector_opt: Optional[str] = typer.Option(None, "--detector", help="module:Class of an unpublished detector."),
    dataset: str = typer.Option("synthetic", "--dataset", "-d", help="Registered dataset."),
    root: Optional[str] = typer.Option(None, "--root", help="Dataset root (or VADBENCH_<NAME>_ROOT, or config file)."),
    seed: int = typer.Option(0, "--seed"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Override the detector's epoch count."),
    sets: Optional[List[str]] = SetOpt,
    profile: Optional[str] = typer.Option(None, "--profile", help="Named config profile (default: chosen by size)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default runs/<dataset>/<detector>...)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory."),
    protocol: str = typer.Option("mnad", "--protocol", help="Named protocol: mnad, raw, mnad-smooth, memae."),
    protocol_sets: Optional[List[str]] = ProtocolSetOpt,
    scenes: Optional[str] = typer.Option(None, "--scenes", help="ShanghaiTech scene subset, e.g. 01,04."),
    labels: Optional[str] = typer.Option(None, "--labels", help="Label version (Avenue: interval or mask)."),
    partial: bool = typer.Option(False, "--partial", help="Build from an incomplete copy (results marked)."),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes."),
    pixel: bool = typer.Option(False, "--pixel", help="Also compute pixel-level metrics (needs maps and masks)."),
    plugin: Optional[List[Path]] = PluginOpt,
) -> None:
    """Prepare the cache, train, score and evaluate one detector; write a run directory."""
    from vadbench.runner import run as do_run

    _load_plugins(plugin)
    req = _request(detector, detector_opt, dataset=dataset, root=root, seed=seed, epochs=epochs, sets=sets,
                   profile=profile, device=device, out=out, resume=resume, overwrite=overwrite, protocol=protocol,
                   protocol_sets=protocol_sets, scenes=scenes, labels=labels, partial=partial, workers=workers,
                   pixel=pixel)
    _print_metrics(do_run(req))


@app.command()
def ablate(
    detector: str = typer.Argument(..., help="Detector whose ablation grid to run (e.g. mnad-p)."),
    dataset: str = typer.Option("synthetic", "--dataset", "-d"),
    root: Optional[str] = typer.Option(None, "--root"),
    seed: int = typer.Option(0, "--seed"),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    sets: Optional[List[str]] = SetOpt,
    profile: Optional[str] = typer.Option(None, "--profile"),
    device: str = typer.Option("cpu", "--device"),
    out: Optional[Path] = typer.Option(None, "--out", help="Grid directory; each row goes in a sub-folder."),
    resume: bool = typer.Option(False, "--resume", help="Skip finished rows, resume the unfinished one."),
    protocol: str = typer.Option("mnad", "--protocol"),
    workers: int = typer.Option(0, "--workers"),
    plugin: Optional[List[Path]] = PluginOpt,
) -> None:
    """Run every row of a detector's ablation grid (MNAD: the paper's Table 2)."""
    from vadbench.runner import ablate as do_ablate

    _load_plugins(plugin)
    req = _request(detector, None, dataset=dataset, root=root, seed=seed, epochs=epochs, sets=sets, profile=profile,
                   device=device, out=out, resume=resume, protocol=protocol, protocol_sets=None, scenes=None,
                   labels=None, workers=workers)
    for row in do_ablate(req):
        console.print(f"{row.get('label')}: micro AUC {100 * row['auc_micro']:.1f}")


@app.command("eval")
def eval_(
    run_dir: Path = typer.Argument(..., help="A run directory (holds config.json and model.pt)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Another checkpoint (model.pt or checkpoint.pt)."),
    device: str = typer.Option("cpu", "--device"),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="Protocol (default: the run's)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write frames.csv/metrics.json here instead."),
    plugin: Optional[List[Path]] = PluginOpt,
) -> None:
    """Score a saved checkpoint on the run's test set again."""
    from vadbench.runner import evaluate_checkpoint

    _load_plugins(plugin)
    _print_metrics(evaluate_checkpoint(run_dir, checkpoint, device, protocol, out))


@app.command()
def metrics(
    run_dir: Path = typer.Argument(..., help="A finished run directory (holds frames.csv)."),
    protocol: str = typer.Option("mnad", "--protocol"),
    protocol_sets: Optional[List[str]] = ProtocolSetOpt,
) -> None:
    """Recompute metrics from a run's frames.csv under any protocol (no rerun)."""
    from vadbench.protocols import get_protocol
    from vadbench.runner import metrics_from_frames

    proto = get_protocol(protocol).with_overrides(parse_assignments(protocol_sets))
    _print_metrics({**metrics_from_frames(run_dir, proto), "protocol": proto.record()})


@app.command()
def table(
    paths: List[Path] = typer.Argument(..., help="Run directories (searched recursively for metrics.json)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Markdown file to write (default: print)."),
    layout: str = typer.Option("leaderboard", "--layout", help="leaderboard or ablation (paper Table 2 style)."),
) -> None:
    """Make a results table from run files."""
    from vadbench.store import atomic_open
    from vadbench.tables import render

    if layout not in ("leaderboard", "ablation"):
        raise ConfigError(f"unknown layout {layout!r}; use leaderboard or ablation")
    command = "vadbench table " + " ".join(str(p) for p in paths) + (f" --layout {layout}" if layout != "leaderboard" else "") + (f" --out {out}" if out else "")
    text = render(paths, layout, out, command)
    if out:
        with atomic_open(out) as f:
            f.write(text)
        console.print(f"wrote {out}")
    else:
        sys.stdout.write(text)


@app.command("list")
def list_(plugin: Optional[List[Path]] = PluginOpt) -> None:
    """Show registered detectors and datasets, where they come from, and broken plugins."""
    _load_plugins(plugin)
    for registry in (detectors, datasets):
        t = Table(title=f"{registry.kind}s", title_justify="left")
        t.add_column("name", style="bold")
        t.add_column("from")
        t.add_column("description")
        for entry in registry.entries():
            style = "red" if not entry.ok else None
            t.add_row(entry.name, entry.source, entry.description, style=style)
        console.print(t)


@app.command()
def version() -> None:
    """Print the vadbench version."""
    print(__version__)


def _print_metrics(m: dict) -> None:  # type: ignore[type-arg]
    t = Table(title="metrics", title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for key in ("auc_micro", "auc_macro", "auc_macro_skip", "eer", "aupr", "auc_micro_raw",
                "pixel_auc_ucsd", "pixel_eer_ucsd", "pixel_auroc"):
        if key in m:
            t.add_row(key, f"{100 * m[key]:.2f} %")
    t.add_row("frames evaluated", str(m.get("frames_evaluated")))
    if "protocol" in m:
        p = m["protocol"]
        inside = p.get("detector_normalisation", "none")
        norm = p["normalisation"] if inside == "none" else f"{inside}, in the detector"
        t.add_row("protocol", f"{p['name']} (drop {p['drop_first']}/{p['drop_last']}, {norm}, σ={p['smoothing_sigma']})")
    console.print(t)


def main() -> None:
    """Console entry point: run the app, turning user errors into one line."""
    try:
        app(standalone_mode=False)
    except VadbenchError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished epochs are checkpointed; continue with --resume")
        sys.exit(130)
    except Exception as exc:  # click's own usage errors
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise
