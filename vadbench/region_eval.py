"""RBDC/TBDC in the harness: which regions a run evaluates, against which tracks, and the region
results kept in the run directory so they can be recomputed and plotted without the detector.

``vadbench run --regions`` (``docs/protocols.md`` §6.7):

* **regions**: a detector's own (``VideoScores.regions``) when it returns them, else regions
  derived from its maps under the default :class:`~vadbench.regions.RegionRule`; recorded as
  ``region_source`` = ``"detector"`` or ``"maps"`` (with the rule and the threshold used). Some
  videos with regions and others without is an error, never a silent mix; so are maps for only
  some of the evaluated videos.
* **ground truth**: the published track files of ``--data-set tracks=PATH`` (every test video,
  ``gt_source="track_file"``, read before training so that a bad file costs no training), else
  tracks derived from the pixel masks of the videos that have them (``gt_source="masks"``).
* **results**: ``regions.csv`` (one row per evaluated region) beside ``frames.csv``, and the
  ``regions`` record of ``metrics.json``; :func:`recompute` gives the same RBDC/TBDC and curves
  from these files and the ground truth alone.

The module imports NumPy and vadbench's own light modules at import time; pandas, OpenCV, SciPy
and the cache only inside the functions that need them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from vadbench.errors import EvaluationError, RunError
from vadbench.rbdc import RegionCriteria, evaluate_videos
from vadbench.regions import RegionRule, Regions, maps_to_regions, run_threshold
from vadbench.rundir import REGION_COLUMNS, RunDir
from vadbench.tracks import TrackDir, Tracks, tracks_from_masks

if TYPE_CHECKING:
    from vadbench.data.cache import ClipCache


@dataclass
class GroundTruth:
    """The tracks of each evaluated test video (sorted by name) and where they come from."""

    tracks: dict[str, Tracks]
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def videos(self) -> list[str]:
        return list(self.tracks)


def source_size(cache: ClipCache, video: str) -> tuple[int, int]:
    """(height, width) of test video ``video``'s source frames, as the cache recorded them."""
    from vadbench.data.cache import attributes

    key = f"test/{video}"
    with cache.reading(key):
        attrs = attributes(cache.file[key])
    return int(attrs["source_height"]), int(attrs["source_width"])


def tracks_from_files(folder: TrackDir, videos: Sequence[tuple[str, int, tuple[int, int]]]) -> GroundTruth:
    """Every test video's published tracks, each file checked against (name, frames, (height, width))."""
    files, sizes, tracks = {}, {}, {}
    for name, n_frames, size in sorted(videos):
        files[name] = folder.file(name).name
        sizes[name] = list(size)
        tracks[name] = folder.read(name, n_frames, size)
    return GroundTruth(tracks, {"gt_source": "track_file",
                                "tracks": {**folder.record(), "files": files, "image_sizes": sizes}})


def tracks_of_masks(masks: Mapping[str, np.ndarray]) -> GroundTruth:
    """Tracks derived from the pixel masks of the videos that have them (``gt_source="masks"``)."""
    return GroundTruth({name: tracks_from_masks(masks[name]) for name in sorted(masks)}, {"gt_source": "masks"})


def choose_regions(names: Sequence[str], given: Mapping[str, Regions | None], maps: Mapping[str, np.ndarray],
                   evaluated: Sequence[str], sizes: Mapping[str, tuple[int, int]],
                   rule: RegionRule = RegionRule()) -> tuple[dict[str, Regions], dict[str, Any]] | None:
    """The regions of the ``evaluated`` videos and how they were obtained; None if the detector gave
    neither regions nor maps.

    ``names``: every test video scored; ``given``: the detector's own regions per video (None where
    it gave none); ``maps``: its maps per video; ``sizes``: (height, width) of each evaluated video's
    source frames, the resolution regions from maps are made at.
    """
    with_regions = [n for n in names if given.get(n) is not None]
    if with_regions:
        if len(with_regions) < len(names):
            lacking = next(n for n in names if given.get(n) is None)
            raise EvaluationError(f"the detector returned regions for {len(with_regions)} of the {len(names)} test "
                                  f"videos (none for {lacking!r}); return regions for every video (an empty "
                                  "vadbench.Regions where it finds none) or for none, and its maps then give them")
        return {n: given[n] for n in evaluated}, {"region_source": "detector"}  # type: ignore[misc]
    lacking = [n for n in evaluated if maps.get(n) is None]
    if len(lacking) == len(evaluated):
        return None
    if lacking:
        raise EvaluationError(f"the detector returned maps for {len(evaluated) - len(lacking)} of the "
                              f"{len(evaluated)} evaluated test videos (none for {lacking[0]!r}); region metrics "
                              "need maps (or regions) for every one")
    threshold = rule.threshold if rule.threshold is not None else run_threshold([maps[n] for n in evaluated],
                                                                                rule.top_fraction)
    found = {n: maps_to_regions(maps[n], sizes[n], threshold, rule) for n in evaluated}
    return found, {"region_source": "maps", "region_rule": rule.record(threshold)}


def evaluate(found: Mapping[str, Regions], truth: GroundTruth, lengths: Mapping[str, int],
             source: Mapping[str, Any], **options: Any) -> tuple[RegionCriteria, dict[str, Any]]:
    """RBDC/TBDC of ``found`` over the ground truth's videos, and the ``regions`` record of metrics.json."""
    names = truth.videos
    if not names:
        raise EvaluationError("RBDC/TBDC: no test video has ground truth (no pixel masks and no track files)")
    criteria = evaluate_videos([found[n] for n in names], [truth.tracks[n] for n in names],
                               [int(lengths[n]) for n in names], **options)
    record = {**criteria.record, **truth.record, **source, "videos": len(names), "video_names": names}
    return criteria, record


def region_metrics(names: Sequence[str], lengths: Mapping[str, int], given: Mapping[str, Regions | None],
                   maps: Mapping[str, np.ndarray], truth: GroundTruth, sizes: Mapping[str, tuple[int, int]],
                   rule: RegionRule = RegionRule()) -> tuple[dict[str, Any], dict[str, Regions]] | None:
    """``rbdc``, ``tbdc`` and the ``regions`` record, with the evaluated regions per video (for
    ``regions.csv``); None when the detector gave neither regions nor maps."""
    chosen = choose_regions(names, given, maps, truth.videos, sizes, rule)
    if chosen is None:
        return None
    found, source = chosen
    criteria, record = evaluate(found, truth, lengths, source)
    return {"rbdc": criteria.rbdc, "tbdc": criteria.tbdc, "regions": record}, found


# -- regions.csv ----------------------------------------------------------------------------------
def regions_table(found: Mapping[str, Regions]) -> Any:
    """The rows of ``regions.csv``: video, frame (within the video), box, score; videos sorted."""
    import pandas as pd

    parts = [pd.DataFrame({"video": name, "frame": r.frame, "x0": r.boxes[:, 0], "y0": r.boxes[:, 1],
                           "x1": r.boxes[:, 2], "y1": r.boxes[:, 3], "score": r.scores})
             for name, r in sorted(found.items())]
    if not parts:
        return pd.DataFrame({c: [] for c in REGION_COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(REGION_COLUMNS)]


def regions_of_table(table: Any, names: Sequence[str]) -> dict[str, Regions]:
    """Each of ``names``' regions from a ``regions.csv`` table (a video without rows has none)."""
    by_video = {str(k): g for k, g in table.groupby("video", sort=False)}
    unknown = sorted(set(by_video) - set(names))
    if unknown:
        raise RunError(f"regions.csv has regions of video {unknown[0]!r}, which the run's region record does not "
                       "list as evaluated; the files do not belong together")
    out = {}
    for name in names:
        g = by_video.get(name)
        out[name] = Regions.empty() if g is None else Regions(
            g["frame"].to_numpy(np.int64), g[["x0", "y0", "x1", "y1"]].to_numpy(np.float64),
            g["score"].to_numpy(np.float64))
    return out


# -- recomputing a finished run's criteria ----------------------------------------------------------
def _run_cache(config: dict[str, Any]) -> ClipCache:
    """The cache the run was scored from, when it is still current; else the one ``prepare`` builds."""
    from vadbench.data.cache import ClipCache
    from vadbench.data.prepare import prepare
    from vadbench.errors import CacheError
    from vadbench.types import InputSpec

    recorded = config.get("cache") or {}
    path = Path(recorded.get("path") or "")
    if recorded.get("path") and path.is_file():
        try:
            cache = ClipCache(path)
        except CacheError:
            cache = None
        if cache is not None and cache.attrs.get("fingerprint") == recorded.get("fingerprint"):
            return cache
        if cache is not None:
            cache.close()
    return prepare(config["dataset"], InputSpec(**config["input"]), config.get("root"),
                   **config.get("dataset_options", {}))


def _truth_of_run(run: RunDir, record: dict[str, Any], lengths: Mapping[str, int]) -> GroundTruth:
    names = list(record["video_names"])
    if record.get("gt_source") == "track_file":
        tracks = record["tracks"]
        files = tracks["files"]
        folder = TrackDir.at(tracks["dir"], tracks["layout"], lambda video: (files[video],),
                             first_frame=tracks.get("first_frame"), what=f"{run.path}: recorded tracks")
        return tracks_from_files(folder, [(n, int(lengths[n]), tuple(tracks["image_sizes"][n])) for n in names])
    if record.get("gt_source") != "masks":
        raise RunError(f"{run.metrics_file}: unknown ground-truth source {record.get('gt_source')!r} of its regions")
    with _run_cache(run.read_config()) as cache:
        present = set(cache.videos("test"))
        missing = [n for n in names if n not in present]
        if missing:
            raise RunError(f"{run.path}: the cache {cache.path} has no test video {missing[0]!r}")
        masks = {}
        for name in names:
            video = cache.video("test", name)
            if not video.has_masks:
                raise RunError(f"{run.path}: test video {name!r} has no pixel masks in {cache.path}")
            masks[name] = video.masks()
    return tracks_of_masks(masks)


def has_regions(run_dir: Path) -> bool:
    """Whether a finished run kept region results (``regions.csv`` and a ``regions`` record)."""
    run = RunDir(Path(run_dir))
    return run.regions_file.is_file() and isinstance(run.read_metrics().get("regions"), dict)


def recompute(run_dir: Path) -> RegionCriteria:
    """A finished run's RBDC/TBDC with their curves, from ``regions.csv``, ``frames.csv`` (the
    video lengths) and the ground truth the run recorded: the track files it read again, or the
    pixel masks of its cache. Equal to the run's own numbers: same inputs, same computation."""
    run = RunDir(Path(run_dir))
    record = run.read_metrics().get("regions")
    if not isinstance(record, dict) or not run.regions_file.is_file():
        raise RunError(f"{run.path} has no region results (no regions.csv): rerun it with --regions and a detector "
                       "that returns anomaly maps or regions")
    frames = run.read_frames()
    lengths = {str(k): int(v) for k, v in frames.groupby("video", sort=True).size().items()}
    names = [str(n) for n in record.get("video_names", [])]
    unknown = [n for n in names if n not in lengths]
    if unknown:
        raise RunError(f"{run.path}: its region record lists video {unknown[0]!r}, which frames.csv lacks")
    found = regions_of_table(run.read_regions(), names)
    truth = _truth_of_run(run, record, lengths)
    criteria, _ = evaluate(found, truth, lengths, {}, alpha=float(record["alpha"]), beta=float(record["beta"]),
                           iou=record["iou"])
    return criteria
