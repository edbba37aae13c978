"""``vadbench datasets``: prepare, describe and verify datasets.

``prepare`` builds the HDF5 cache of a dataset at one size and colour (once; later calls reuse
it), ``info`` describes the caches built, ``verify`` checks a copy against the dataset's known
structure. A root can come from ``--root``, ``VADBENCH_<NAME>_ROOT`` or the config file
(see :mod:`vadbench.data.prepare`).

The options that choose a dataset's data and its cache (``--root``, ``--data-set``,
``--compression``, ``--plugin``) are defined here once and shared with ``vadbench run`` and
``ablate``. ``--data-set key=value`` sets a field of the adapter's ``Options`` dataclass,
whatever the dataset (built in or a plugin), so the CLI knows no dataset's options by name.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer
from rich.table import Table

from vadbench.config import parse_assignments
from vadbench.console import console, progress
from vadbench.data.compression import DEFAULT as DEFAULT_COMPRESSION
from vadbench.data.compression import NAMES as COMPRESSIONS
from vadbench.data.compression import check_compression
from vadbench.types import InputSpec
from vadbench.errors import CacheError, ConfigError

if TYPE_CHECKING:  # the commands import the cache (h5py, torch) when they run, not when the CLI starts
    from vadbench.data.cache import ClipCache

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Prepare, inspect and verify datasets.")

RootOpt = typer.Option(None, "--root", help="Dataset folder (or VADBENCH_<NAME>_ROOT, or the roots table of the "
                       "config file).")
SizeOpt = typer.Option("256x256", "--size", help="Frame size HxW in the cache, e.g. 256x256.")
ColorOpt = typer.Option("rgb", "--color", help="gray or rgb.")
DataSetOpt = typer.Option(None, "--data-set", help="Dataset option key=value (repeatable; validated by the dataset), "
                          "e.g. shanghaitech scenes=01,04, avenue labels=mask, folder labels=PATH, synthetic seed=3.")
PluginOpt = typer.Option(None, "--plugin", help="Python file that registers detectors or datasets (repeatable).")
CompressionOpt = typer.Option(DEFAULT_COMPRESSION, "--compression", callback=check_compression,
                              help=f"HDF5 compression of the cached frames: {', '.join(COMPRESSIONS)} (lossless; "
                              "each has its own cache file; none, the default, builds and reads fastest; see "
                              "docs/datasets.md, 'Cache compression').")


def load_plugins(plugins: list[Path] | None) -> None:
    """Run the ``--plugin`` files, whose decorators register detectors and datasets."""
    from vadbench.registry import detectors

    for path in plugins or []:
        detectors.load_file(path)


def dataset_options(items: list[str] | None) -> dict[str, str]:
    """``--data-set`` assignments as a dict; the adapter's ``Options`` type and validate them."""
    return parse_assignments(items, "--data-set")


def parse_spec(size: str, color: str) -> InputSpec:
    """``"256x256"`` (H×W) and ``"rgb"`` -> :class:`InputSpec`; a bare ``"128"`` means square."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*", size)
    if not match or int(match.group(1)) < 1 or (match.group(2) and int(match.group(2)) < 1):
        raise ConfigError(f"--size expects HxW in pixels, e.g. 256x256; got {size!r}")
    if color not in ("gray", "rgb"):
        raise ConfigError(f"--color must be gray or rgb, got {color!r}")
    height = int(match.group(1))
    return InputSpec(height, int(match.group(2) or height), color)  # type: ignore[arg-type]


@app.command()
def prepare(
    name: str = typer.Argument(..., help="Dataset name (see `vadbench list`)."),
    root: Optional[str] = RootOpt,
    size: str = SizeOpt,
    color: str = ColorOpt,
    compression: str = CompressionOpt,
    partial: bool = typer.Option(False, "--partial", help="Build from the videos present; record the missing ones."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild even if a current cache exists."),
    data_sets: Optional[List[str]] = DataSetOpt,
    plugin: Optional[List[Path]] = PluginOpt,
) -> None:
    """Build the cache of NAME (one video at a time), or reuse a current one."""
    from vadbench.data.prepare import prepare as prepare_cache

    load_plugins(plugin)
    spec = parse_spec(size, color)
    start = time.perf_counter()
    tasks: list[Any] = []  # the progress task, created when a build starts (a current cache is reused silently)
    with progress() as bar:

        def on_start(n_videos: int) -> None:
            tasks.append(bar.add_task(f"{name} {spec.key}", total=n_videos, losses=""))

        def on_video(split: str, video: str, n_frames: int) -> None:
            bar.update(tasks[0], advance=1, losses=f"{split}/{video}: {n_frames} frames")

        cache = prepare_cache(name, spec, root, compression=compression, partial=partial, rebuild=rebuild,
                              on_start=on_start, on_video=on_video, **dataset_options(data_sets))
    with cache:
        how = f"built in {time.perf_counter() - start:.1f} s" if tasks else "already prepared"
        console.print(f"{cache.path} ({cache.path.stat().st_size / 2**20:.1f} MiB, {how})", highlight=False)
        _describe(cache)


@app.command()
def info(
    name: str = typer.Argument(..., help="Dataset name."),
    root: Optional[str] = typer.Option(None, "--root", help="Only caches built from this root's current files."),
    size: Optional[str] = typer.Option(None, "--size", help="Only caches of this size (HxW)."),
    color: Optional[str] = typer.Option(None, "--color", help="Only caches of this colour."),
    data_sets: Optional[List[str]] = typer.Option(None, "--data-set", help="Only caches built with these dataset "
                                                  "options key=value (repeatable)."),
    plugin: Optional[List[Path]] = PluginOpt,
) -> None:
    """Describe the prepared caches of NAME: per split its videos, frames, anomalous frames, sizes."""
    from vadbench.data.cache import ClipCache
    from vadbench.data.prepare import cache_dir, make_adapter
    from vadbench.registry import datasets

    load_plugins(plugin)
    options = dataset_options(data_sets)
    found = _caches(name)
    if root is not None:
        fingerprint = make_adapter(name, root, **options).fingerprint()
        found = [c for c in found if c.fingerprint in (None, fingerprint)]  # a damaged file may be this root's
    if options:
        cls = datasets.get(name)
        wanted = cls.identity(cls.parse_options(options))
        found = [c for c in found if c.options in (None, wanted)]
    if size is not None:
        spec = parse_spec(size, "rgb")
        found = [c for c in found if (c.spec.height, c.spec.width) == (spec.height, spec.width)]
    if color is not None:
        found = [c for c in found if c.spec.color == parse_spec("1", color).color]
    if not found:
        raise CacheError(f"no prepared cache of {name!r} matches in {cache_dir()}; "
                         f"run `vadbench datasets prepare {name} --root PATH` first")
    broken = [c.problem for c in found if c.problem]
    usable = [c.path for c in found if not c.problem]
    if not usable:
        more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        raise CacheError(f"no usable cache of {name!r}, only stale or corrupt ones: {broken[0]}{more}")
    for path in usable:
        with ClipCache(path) as cache:
            console.print(f"[bold]{path}[/] ({path.stat().st_size / 2**20:.1f} MiB, built {cache.attrs.get('created')})")
            _describe(cache)
    for problem in broken:
        console.print(f"[yellow]stale or corrupt:[/] {problem}", highlight=False)


@app.command()
def verify(
    name: str = typer.Argument(..., help="Dataset name."),
    root: Optional[str] = RootOpt,
    decode: bool = typer.Option(False, "--decode", help="Also decode every frame (slow on large datasets)."),
    data_sets: Optional[List[str]] = DataSetOpt,
    plugin: Optional[List[Path]] = PluginOpt,
) -> None:
    """Check a copy of NAME against its known structure, labels, masks and SHA-256 manifests."""
    from vadbench.data.verify import verify as run_verify

    load_plugins(plugin)
    with console.status(f"verifying {name}") as status:
        report = run_verify(name, root, decode=decode, progress=lambda text: status.update(f"verifying {name}: {text}"),
                            **dataset_options(data_sets))
    styles = {"ok": "green", "fail": "red", "info": "cyan"}
    console.print(f"[bold]{name}[/] at {report.root}")
    for check in report.checks:
        console.print(f"[{styles[check.status]}]{check.status.upper():4}[/]  {check.message}", highlight=False)
    if not report.ok:
        console.print("[red]verification failed[/]")
        raise typer.Exit(1)
    console.print("[green]verified[/]")


@dataclass
class _Found:
    """A cache file of a dataset: its spec, source fingerprint and options, or why it cannot be used."""

    path: Path
    spec: InputSpec
    fingerprint: str | None = None
    options: dict[str, Any] | None = None  # the adapter's identity (None: unreadable)
    problem: str | None = None  # the CacheError's message for a stale or corrupt file


def _caches(name: str) -> list[_Found]:
    """NAME's cache files: readable ones by their attributes, damaged or stale ones by their name."""
    from vadbench.data.cache import ClipCache, parse_cache_name
    from vadbench.data.prepare import cache_dir

    folder = cache_dir()
    found = []
    for path in sorted(folder.glob(f"{name}-*.h5")) if folder.is_dir() else []:
        try:
            with ClipCache(path) as cache:
                if cache.attrs.get("dataset") == name:
                    found.append(_Found(path, cache.spec, str(cache.attrs.get("fingerprint")),
                                        json.loads(cache.attrs.get("options", "{}"))))
        except CacheError as exc:
            parsed = parse_cache_name(path)
            if parsed is not None and parsed[0] == name:
                found.append(_Found(path, parsed[1], problem=str(exc)))
    return found


def _describe(cache: ClipCache) -> None:
    """Per split: videos, frames, anomalous frames, masks, resolution; then source and missing videos."""
    from vadbench.data.cache import attributes

    table = Table(title_justify="left", title=f"{cache.attrs.get('dataset')} {cache.spec.key}, compression "
                  f"{cache.compression}" + "".join(f", {k}={v}" for k, v in cache.protocol.items()))
    for column in ("split", "videos", "frames", "anomalous", "masks", "W×H source → cache"):
        table.add_column(column, justify="left" if column in ("split", "W×H source → cache") else "right")
    origins = []
    for split in ("train", "test"):
        names = cache.videos(split)
        anomalous, masks, sizes = 0, 0, set()
        for video in names:
            with cache.reading(f"{split}/{video}"):
                group = cache.file[f"{split}/{video}"]
                if "labels" in group:
                    anomalous += int(group["labels"][()].sum())
                masks += "masks" in group
                attrs = attributes(group)
                sizes.add(f"{attrs['source_width']}×{attrs['source_height']}")
                origins.append(attrs["origin"])
        test = split == "test"
        table.add_row(split, str(len(names)), str(int(cache.lengths(split).sum())), str(anomalous) if test else "-",
                      str(masks) if test else "-",
                      f"{', '.join(sorted(sizes)) or '-'} → {cache.spec.width}×{cache.spec.height}")
    console.print(table)
    console.print(f"source: {os.path.commonpath(origins) if origins else '-'}", highlight=False)
    options = json.loads(cache.attrs.get("options", "{}"))
    if options:
        console.print(f"options: {options}", highlight=False)
    missing = {split: names for split, names in cache.missing.items() if names}
    if missing:
        for split, names in missing.items():
            console.print(f"[yellow]missing {split} videos[/]: {', '.join(names)}", highlight=False)
        console.print("[yellow]partial copy[/]: results from this cache are marked as not comparable")
    else:
        console.print("missing videos: none")
