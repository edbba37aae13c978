"""Scores computed elsewhere, evaluated under vadbench's protocols; one run under every protocol.

Two questions a paper's results table raises are answered here. *What does another code's
output give under our protocols?* :func:`score_file` (``vadbench score-file``) takes per-frame
scores that some other program wrote (an official evaluation's per-video lists, a CSV, one long
array), aligns them with the dataset's own labels read from the clip cache, and writes an ordinary
run directory (``frames.csv``, ``metrics.json``, ``config.json``) marked ``external``, so that
``vadbench metrics``, ``table`` and ``compare`` treat it like a run of ours and nobody mistakes it
for one. *How much of a gap between two papers is the protocol?* :func:`across_protocols`
(``vadbench metrics RUN --all-protocols``) evaluates one set of stored scores under every named
protocol, so the spread that the protocol alone produces is a number, not a guess.

Accepted files (``docs/protocols.md`` §3.4), all with scores where higher means more anomalous
unless ``normality`` is set:

* ``.npy`` holding one array over all test videos concatenated in sorted order (length: the
  total number of frames, less ``skip_first`` per video), or a 2-D array with one row per video;
* ``.npz`` with one array per video, keyed by video name (or ``arr_0``, ``arr_1``, ... as
  ``numpy.savez`` names positional arrays: taken in that order);
* ``.csv`` with columns ``video,frame,score`` (``frame``: 0-based position in the video; frames
  without a row are NaN, filled by the protocol);
* ``.json``, ``.pkl`` / ``.pickle`` or an object-array ``.npy``: a list of per-video score lists
  (sorted video order) or a mapping video name -> list. Pickles, object arrays included, are
  loaded only when ``allow_pickle`` is given: unpickling can run arbitrary code.

A per-video list may hold fewer scores than its video has frames when the method cannot score the
first k (MNAD-P and Frame-Pred: 4): ``skip_first = k`` aligns each list to the end of its video
and leaves the first k frames NaN. Keys that are not video names at all are matched in natural
sorted order when there are exactly as many as test videos (MNAD's ``01``, ``02``, ... against
Ped2's ``Test001``, ...); the pairing is recorded.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vadbench.errors import EvaluationError, RunError
from vadbench.protocols import PROTOCOLS, Protocol, describe, get_protocol
from vadbench.types import InputSpec

LABEL_SPEC = InputSpec(8, 8, "gray")  # the labels and lengths are all that is read: the smallest cache serves
PICKLE_SUFFIXES = (".pkl", ".pickle")
SUFFIXES = (".npy", ".npz", ".csv", ".json", *PICKLE_SUFFIXES)
SPREAD_METRICS = ("auc_micro", "auc_macro", "eer", "aupr", "auc_micro_raw", "frames_evaluated")


@dataclass
class ScoreFileRequest:
    """Everything ``vadbench score-file`` was asked for."""

    scores: Path
    dataset: str
    root: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    protocol: str | None = None  # None: mnad
    protocol_overrides: dict[str, Any] = field(default_factory=dict)
    skip_first: int = 0
    normality: bool = False
    score_normalisation: str = "none"  # what the file's scores already apply (a fact, as for a detector)
    allow_pickle: bool = False
    out: Path | None = None
    name: str | None = None
    overwrite: bool = False


# -- reading the file -------------------------------------------------------------------------
def _refuse_pickle(path: Path) -> EvaluationError:
    return EvaluationError(f"{path} holds pickled Python objects; unpickling can run arbitrary code, so vadbench "
                           "loads it only with --allow-pickle (pass it only for a file you trust)")


def check_file(path: Path, allow_pickle: bool) -> str:
    """The file's format (its suffix), refused before any work if it cannot be read as scores."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"scores file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise EvaluationError(f"{path}: unknown scores format {path.suffix or '(no suffix)'!r}; use one of "
                              f"{', '.join(SUFFIXES)} (see vadbench score-file --help)")
    if suffix in PICKLE_SUFFIXES and not allow_pickle:
        raise _refuse_pickle(path)
    return suffix.lstrip(".")


def read_scores(path: Path, allow_pickle: bool = False) -> Any:
    """What the file holds: an array, a list of per-video arrays, a mapping, or a CSV table.

    Every way a file can fail to parse is one :class:`EvaluationError` naming it; a pickle (or an
    object array, which numpy stores as a pickle) is refused unless ``allow_pickle``.
    """
    path = Path(path)
    fmt = check_file(path, allow_pickle)
    try:
        if fmt == "npy":
            return np.load(path, allow_pickle=allow_pickle)
        if fmt == "npz":
            with np.load(path, allow_pickle=allow_pickle) as archive:
                return {key: archive[key] for key in archive.files}
        if fmt == "csv":
            import pandas as pd

            return pd.read_csv(path, dtype={"video": str})
        if fmt == "json":
            return json.loads(path.read_text())
        import pickle

        with open(path, "rb") as f:
            return pickle.load(f)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise _refuse_pickle(path) from None
        raise EvaluationError(f"{path} is not a readable {fmt} file ({_first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file (or a pickle) fails in many ways; all are one line
        raise EvaluationError(f"{path} is not a readable {fmt} file ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0]


# -- aligning with the dataset's videos -------------------------------------------------------
def _natural(key: str) -> list[Any]:
    """Sort key that puts ``arr_2`` before ``arr_10`` (numpy.savez's positional names)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def _vector(value: Any, video: str, source: Path) -> np.ndarray:
    """One video's scores as float64, checked: 1-D, numeric, no infinities."""
    try:
        scores = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise EvaluationError(f"{source}: the scores of video {video} are not numbers") from None
    if scores.ndim == 2 and 1 in scores.shape:
        scores = scores.ravel()
    if scores.ndim != 1:
        raise EvaluationError(f"{source}: the scores of video {video} have shape {scores.shape}; expected one list")
    if np.isinf(scores).any():
        raise EvaluationError(f"{source}: video {video} has infinite scores (at frame positions "
                              f"{np.flatnonzero(np.isinf(scores))[:5].tolist()}); no AUC can rank them")
    return scores


def _as_concatenated(value: Any) -> np.ndarray | None:
    """``value`` as one numeric array over all videos, or None when it is a collection of videos."""
    if isinstance(value, Mapping):
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):  # ragged: a list of per-video lists of different lengths
        return None
    if array.ndim == 2 and 1 in array.shape:
        return array.ravel()
    return array if array.ndim == 1 else None


def _length_error(source: Path, video: str, n: int, length: int, skip: int) -> EvaluationError:
    expected = length - skip
    text = (f"{source}: video {video} has {n} scores, expected {expected} ({length} frames"
            + (f" minus --skip-first {skip}" if skip else "") + ")")
    if skip == 0 and 0 < length - n:
        text += f"; if the method cannot score the first {length - n} frames, pass --skip-first {length - n}"
    elif skip and n == length:
        text += "; it scores every frame: leave out --skip-first"
    return EvaluationError(text)


def align(value: Any, names: Sequence[str], lengths: np.ndarray, skip_first: int,
          source: Path) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Per-video score arrays of full video length (NaN where unscored), and how they were matched.

    ``value`` is what :func:`read_scores` returned. A list shorter than its video by
    ``skip_first`` is aligned to the end of the video: the official MNAD and Frame-Pred
    evaluations drop the first k frames of every video from scores and labels alike, so the i-th
    score belongs to frame k + i.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    short = [n for n, length in zip(names, lengths) if length <= skip_first]
    if skip_first < 0 or short:
        raise EvaluationError(f"--skip-first {skip_first} must be >= 0 and shorter than every video"
                              + (f" (video {short[0]} has {lengths[list(names).index(short[0])]} frames)" if short else ""))
    if _is_table(value):
        if skip_first:
            raise EvaluationError(f"{source}: --skip-first applies to per-video lists; a CSV names each row's frame")
        return _from_table(value, names, lengths, source), {"layout": "rows video,frame,score"}
    concatenated = _as_concatenated(value)
    if concatenated is not None:
        per_video, how = _split_concatenated(concatenated, names, lengths, skip_first, source)
    elif isinstance(value, Mapping):
        per_video, how = _from_mapping({str(k): v for k, v in value.items()}, names, source)
    elif isinstance(value, (list, tuple, np.ndarray)):
        per_video, how = list(value), {"layout": "per-video, in sorted order"}
        if len(per_video) != len(names):
            raise EvaluationError(f"{source} holds {len(per_video)} per-video score lists, but the dataset has "
                                  f"{len(names)} test videos ({_names(names)})")
    else:
        raise EvaluationError(f"{source} holds a {type(value).__name__}; expected scores (an array, a list of "
                              "per-video lists or a mapping video -> list)")
    full = []
    for name, length, scores in zip(names, lengths, per_video):
        scores = _vector(scores, name, source)
        if len(scores) != length - skip_first:
            raise _length_error(source, name, len(scores), int(length), skip_first)
        full.append(np.concatenate([np.full(skip_first, np.nan), scores]))
    return full, {**how, "skip_first": skip_first}


def _names(names: Sequence[str], shown: int = 4) -> str:
    return ", ".join(names[:shown]) + (f", ... ({len(names)} in all)" if len(names) > shown else "")


def _split_concatenated(scores: np.ndarray, names: Sequence[str], lengths: np.ndarray, skip: int,
                        source: Path) -> tuple[list[np.ndarray], dict[str, Any]]:
    expected = int((lengths - skip).sum())
    if len(scores) != expected:
        text = (f"{source} holds one array of {len(scores)} scores, expected {expected} (the {len(names)} test videos' "
                f"{int(lengths.sum())} frames" + (f" minus --skip-first {skip} each" if skip else "") + ")")
        gap = int(lengths.sum()) - len(scores)
        if not skip and gap > 0 and gap % len(names) == 0:
            text += f"; if the method cannot score the first {gap // len(names)} frames of each video, pass --skip-first {gap // len(names)}"
        raise EvaluationError(text)
    return np.split(scores, np.cumsum(lengths - skip)[:-1]), {"layout": "one array, videos concatenated in sorted order"}


def _from_mapping(mapping: dict[str, Any], names: Sequence[str], source: Path) -> tuple[list[Any], dict[str, Any]]:
    """Per-video values of a mapping: by video name, or in natural order when no key is a name."""
    known = set(names)
    unknown = [k for k in mapping if k not in known]
    if not unknown:
        missing = [n for n in names if n not in mapping]
        if missing:
            raise EvaluationError(f"{source} has no scores for test video(s) {_names(missing)}")
        return [mapping[n] for n in names], {"layout": "per-video, by video name"}
    if len(unknown) == len(mapping) == len(names):
        keys = sorted(mapping, key=_natural)
        return [mapping[k] for k in keys], {"layout": "per-video, keys in sorted order", "keys": dict(zip(keys, names))}
    raise EvaluationError(f"{source} names unknown video(s) {_names(sorted(unknown, key=_natural))}; the test videos "
                          f"are {_names(list(names))}")


def _is_table(value: Any) -> bool:
    return hasattr(value, "columns") and hasattr(value, "iloc")


def _from_table(table: Any, names: Sequence[str], lengths: np.ndarray, source: Path) -> list[np.ndarray]:
    """Scores from CSV rows ``video,frame,score``, placed by (video, frame) in one vectorised step."""
    import pandas as pd

    missing = [c for c in ("video", "frame", "score") if c not in table]
    if missing:
        raise EvaluationError(f"{source} lacks the column(s) {', '.join(missing)} (expected video,frame,score)")
    video = pd.Index(list(names)).get_indexer(table["video"].astype(str))
    if (video < 0).any():
        unknown = sorted(set(table["video"][video < 0].astype(str)), key=_natural)
        raise EvaluationError(f"{source} names unknown video(s) {_names(unknown)}; the test videos are {_names(list(names))}")
    frame = pd.to_numeric(table["frame"], errors="coerce").to_numpy(np.float64)
    score = pd.to_numeric(table["score"], errors="coerce").to_numpy(np.float64)
    bad = np.isnan(frame) | (frame != np.round(frame)) | (frame < 0) | (frame >= lengths[video])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EvaluationError(f"{source}: row {i + 2} gives frame {table['frame'].iloc[i]} of video {names[video[i]]}, "
                              f"which has frames 0..{lengths[video[i]] - 1}")
    nonnumeric = np.isnan(score) & table["score"].notna().to_numpy()
    if nonnumeric.any():
        i = int(np.flatnonzero(nonnumeric)[0])
        raise EvaluationError(f"{source}: row {i + 2} has the non-numeric score {table['score'].iloc[i]!r}")
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flat = offsets[video] + frame.astype(np.int64)
    unique, counts = np.unique(flat, return_counts=True)
    if (counts > 1).any():
        where = int(unique[counts > 1][0])
        v = int(np.searchsorted(offsets, where, side="right") - 1)
        raise EvaluationError(f"{source} scores frame {where - offsets[v]} of video {names[v]} more than once")
    values = np.full(int(lengths.sum()), np.nan)
    values[flat] = score
    return [_vector(s, n, source) for s, n in zip(np.split(values, np.cumsum(lengths)[:-1]), names)]


# -- the run ----------------------------------------------------------------------------------
def resolve_protocol(req: ScoreFileRequest) -> Protocol:
    """The named protocol (default ``mnad``) with what the file's scores already are, then overrides."""
    base = dataclasses.replace(get_protocol(req.protocol or "mnad"), detector_normalisation=req.score_normalisation)
    return base.with_overrides(req.protocol_overrides)


def default_out(req: ScoreFileRequest, label: str) -> Path:
    return Path("runs") / req.dataset / f"external-{label}"


def score_file(req: ScoreFileRequest) -> dict[str, Any]:
    """Evaluate the scores in ``req.scores`` under a protocol; write and return the run's metrics.

    Everything that can be refused without the data is refused first (the protocol, the dataset
    and its options, the file's format, a pickle without consent, the output folder); then the
    dataset's labels are read from its cache and the scores aligned with them. ``normality``
    negates the scores rather than taking 1 − s: negation is exact in floating point, so ties stay
    ties and distinct values stay distinct (1 − s merges values closer than the spacing of floats
    near 1), and the AUC equals the other program's to the last bit.
    """
    from vadbench.registry import datasets
    from vadbench.rundir import RunDir

    source = Path(req.scores)
    protocol = resolve_protocol(req)
    datasets.get(req.dataset).parse_options(req.dataset_options)
    fmt = check_file(source, req.allow_pickle)
    label = req.name or source.stem
    out = RunDir(Path(req.out) if req.out else default_out(req, label))
    out.check_writable()
    if not out.is_empty() and not (req.overwrite and out.is_run):  # --overwrite replaces a run, nothing else
        raise RunError(f"{out.path} is not empty; " + ("pass --overwrite to replace the run in it, or --out elsewhere"
                       if out.is_run else "it holds no run (no config.json) to replace: choose another --out"))
    value = read_scores(source, req.allow_pickle)

    # the cache (h5py, torch) and the metrics (scikit-learn) only now, past the cheap refusals
    import pandas as pd

    from vadbench.data.cache import ClipCache, build_cache
    from vadbench.data.prepare import cache_dir, make_adapter
    from vadbench.data.verify import sha256
    from vadbench.metrics import evaluate

    adapter = make_adapter(req.dataset, req.root, **req.dataset_options)
    path = build_cache(adapter, req.dataset, LABEL_SPEC, cache_dir())
    with ClipCache(path) as cache:
        names = cache.videos("test")
        lengths = cache.lengths("test")
        labels = [cache.video("test", n).labels for n in names]
        per_video, how = align(value, names, lengths, req.skip_first, source)
        record_protocol = {**protocol.record(), **cache.protocol, "video_order": "sorted"}
        cache_record = {"path": str(cache.path), "fingerprint": cache.attrs["fingerprint"], "missing": cache.missing}
    unscored = [n for n, s in zip(names, per_video) if np.isnan(s).all()]
    if unscored:
        raise EvaluationError(f"{source}: video(s) {_names(unscored)} have no score at all (every value is NaN)")
    given = np.concatenate(per_video)
    scores = -given if req.normality else given
    metrics = evaluate(list(zip(np.split(scores, np.cumsum(lengths)[:-1]), labels)), protocol)  # before any file

    external = {"source": str(source), "sha256": sha256(source), "format": fmt, **how,
                "direction": "normality, negated" if req.normality else "anomaly"}
    config = {"detector": "external", "detector_source": "external", "label": label,
              "config": {"skip_first": req.skip_first, "normality": req.normality,
                         "score_normalisation": req.score_normalisation},
              "dataset": req.dataset, "dataset_options": adapter.options,
              "root": str(adapter.root) if adapter.root else None,
              "input": {"height": None, "width": None, "color": None},  # unknown: the scores were made elsewhere
              "seed": None, "epochs": None, "device": None, "profile": None, "cache": cache_record,
              "protocol": record_protocol, "external": external}
    frames = pd.DataFrame({"video": np.repeat(names, lengths), "frame": np.concatenate([np.arange(n) for n in lengths]),
                           "label": np.concatenate(labels), "score": scores, "source_score": given})
    if not out.is_empty():  # --overwrite, now that nothing can be refused any more
        shutil.rmtree(out.path)
    out.write_config(config)
    out.write_frames(frames)
    result = {**metrics, "protocol": record_protocol, "external": external,
              **{k: config[k] for k in ("detector", "label", "profile", "dataset", "dataset_options", "input", "seed",
                                        "epochs", "device")},
              "deviations": {}, "timings": {}, "missing_videos": cache_record["missing"],
              "comparable": not any(cache_record["missing"].values())}
    out.write_metrics(result)
    return {**result, "run_dir": str(out.path)}


# -- one run under every protocol ---------------------------------------------------------------
def across_protocols(run_dir: Path, overrides: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The run's metrics under every named protocol, one row each, then the spread (max − min).

    Each protocol keeps the run's own ``detector_normalisation`` (a fact about its scores, not a
    choice), as ``vadbench metrics --protocol`` does; ``overrides`` (``--protocol-set``) apply to
    every row. The spread row is the part of a gap between two papers that the protocol alone can
    explain for these scores; NaN metrics (a raw AUC the run cannot have) are left out of it.
    """
    from vadbench.rundir import RunDir
    from vadbench.runner import metrics_from_frames

    own = RunDir(run_dir).protocol()
    rows = []
    for name in PROTOCOLS:
        proto = own.as_named(name).with_overrides(dict(overrides or {}))
        metrics = metrics_from_frames(run_dir, proto)
        rows.append({"protocol": proto.label, "description": describe(proto.record()),
                     **{k: metrics.get(k, float("nan")) for k in SPREAD_METRICS}})
    values = np.array([[float(r[k]) for k in SPREAD_METRICS] for r in rows])
    defined = ~np.isnan(values)
    spread = [float(np.ptp(col[ok])) if ok.any() else float("nan") for col, ok in zip(values.T, defined.T)]
    rows.append({"protocol": "spread", "description": "", **dict(zip(SPREAD_METRICS, spread))})
    return rows
