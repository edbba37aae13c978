"""The figures papers print, drawn from run files: ``vadbench plot RUN [RUN ...] --kind KIND``.

* ``roc``, ``pr``: micro ROC and precision–recall curves of several runs on one axes, the legend
  giving each run's micro AUC or average precision.
* ``timeline``: one video's anomaly-score curve per run, ground-truth anomalous spans shaded.
* ``maps``: a detector's anomaly maps as heat overlays on the frames it scored highest.
* ``memory``: MNAD's memory items and the queries of a few test frames in 2-D (the paper's Fig. 1).
* ``regions``: RBDR and TBDR against false positives per frame over FPR ∈ [0, 1], RBDC and TBDC in
  the legend, recomputed from a ``run --regions`` run's ``regions.csv`` and its ground truth
  (:func:`vadbench.region_eval.recompute`: the recorded track files, or the cache's masks).

Scores are always shown as evaluated: each run's ``frames.csv`` processed under the protocol the
run recorded (:func:`vadbench.metrics.process_video`), so a curve's area is the number in the
run's ``metrics.json``, never a differently processed one. ``maps`` and ``memory`` need the model:
the run's detector is rebuilt from ``config.json`` and ``model.pt`` as ``vadbench eval`` rebuilds it
(:func:`vadbench.runner.detector_of_run`), and the test videos are read from the clip cache.

matplotlib (Agg backend) and torch are imported inside the functions that need them, so importing
this module stays light; ``vadbench list`` and ``vadbench table`` never import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from vadbench.errors import ConfigError, EvaluationError, RunError
from vadbench.metrics import minmax, process_video
from vadbench.rundir import RunDir
from vadbench.store import atomic_open, check_writable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from vadbench.data.cache import ClipCache
    from vadbench.detector import Detector

KINDS = ("roc", "pr", "timeline", "maps", "memory", "regions")
FORMATS = ("png", "pdf")
EMBEDDINGS = ("pca", "tsne")
DPI = 100
SIZES = {"roc": (5.0, 4.5), "pr": (5.0, 4.5), "timeline": (10.0, 3.5), "memory": (6.5, 5.5),
         "regions": (10.0, 4.5)}  # inches
MAP_PANEL = 3.0  # inches per frame of a maps figure, plus one for the colour bar
MAX_TIMELINES = 16  # timeline figures made without --videos; the rest are named in a note
MAP_FRAMES = 4  # frames in a maps figure
MEMORY_FRAMES = 4  # test frames whose queries a memory figure shows


def figure_size(kind: str, panels: int = MAP_FRAMES) -> tuple[int, int]:
    """The (width, height) in pixels of a PNG of ``kind`` (``panels`` frames for ``maps``)."""
    width, height = (MAP_PANEL * panels + 1.0, 3.5) if kind == "maps" else SIZES[kind]
    return round(width * DPI), round(height * DPI)


# -- runs as evaluated ------------------------------------------------------------------------
@dataclass
class VideoCurve:
    """One test video of a run: its evaluated frames (positions, processed scores, labels) and
    the ground truth of every frame (the shaded spans cover frames the protocol excludes too)."""

    name: str
    frames: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    truth: np.ndarray


@dataclass
class PlottedRun:
    """A finished run read for plotting: its legend label and its videos as evaluated."""

    run: RunDir
    label: str
    metrics: dict[str, Any]
    videos: dict[str, VideoCurve] = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        return bool(self.metrics.get("protocol", {}).get("synthetic"))

    def micro(self) -> tuple[np.ndarray, np.ndarray]:
        """All evaluated frames of all videos (scores, labels), as the micro metrics see them."""
        curves = list(self.videos.values())
        scores = np.concatenate([c.scores for c in curves]) if curves else np.zeros(0)
        labels = np.concatenate([c.labels for c in curves]) if curves else np.zeros(0, np.int64)
        if len(np.unique(labels)) < 2:
            raise EvaluationError(f"{self.run.path}: the evaluated frames hold only one class; no ROC or PR curve")
        return scores, labels

    def video(self, name: str) -> VideoCurve:
        if name not in self.videos:
            known = ", ".join(list(self.videos)[:8]) + (", ..." if len(self.videos) > 8 else "")
            raise RunError(f"{self.run.path}: no test video {name!r} in frames.csv (it has {known})")
        return self.videos[name]


def read_run(path: Path) -> PlottedRun:
    """A finished run's ``frames.csv`` processed per video under the run's recorded protocol.

    A protocol keeps every frame of a video between its ``drop_first`` and ``drop_last`` ends
    or, when no frame of the video was scored, none: so the evaluated positions are that slice
    (frames are numbered 0..T-1, checked, so a position is also the frame's number).
    """
    run = RunDir(Path(path))
    metrics = run.read_metrics()
    protocol = run.protocol()
    table = run.read_frames()
    curves = {}
    for name, group in table.groupby("video", sort=True):
        group = group.sort_values("frame")
        if not np.array_equal(group["frame"].to_numpy(), np.arange(len(group))):
            raise RunError(f"{run.frames_file}: the frames of video {name!r} are not numbered 0..{len(group) - 1}")
        truth = group["label"].to_numpy(np.int64)
        scores, labels = process_video(group["score"].to_numpy(np.float64), truth, protocol)
        frames = np.arange(len(group))[protocol.drop_first:len(group) - protocol.drop_last]
        frames = frames if len(scores) else frames[:0]
        assert len(frames) == len(scores), "a protocol keeps a video's whole slice or none of it"
        curves[str(name)] = VideoCurve(str(name), frames, scores, labels, truth)
    return PlottedRun(run, str(metrics.get("label") or metrics["detector"]), metrics, curves)


def read_runs(paths: Sequence[Path]) -> list[PlottedRun]:
    """The runs, labelled uniquely: a label shared by several runs gets the run folder's name."""
    runs = [read_run(p) for p in paths]
    labels = [r.label for r in runs]
    for r in runs:
        if labels.count(r.label) > 1:
            r.label = f"{r.label} ({r.run.path.name})"
    return runs


@dataclass
class Curve:
    """A micro curve: x, y and its area (AUC for ROC, average precision for PR)."""

    x: np.ndarray
    y: np.ndarray
    area: float


def micro_curve(run: PlottedRun, kind: str) -> Curve:
    """The micro ROC (FPR, TPR, AUC) or precision–recall curve (recall, precision, AP) of a run."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    scores, labels = run.micro()
    if kind == "roc":
        fpr, tpr, _ = roc_curve(labels, scores)
        return Curve(fpr, tpr, float(roc_auc_score(labels, scores)))
    precision, recall, _ = precision_recall_curve(labels, scores)
    return Curve(recall, precision, float(average_precision_score(labels, scores)))


def spans(labels: np.ndarray, frames: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Contiguous runs of label 1 as (first, last) frame positions, both inclusive."""
    edges = np.diff(np.concatenate([[0], np.asarray(labels, np.int64) != 0, [0]]).astype(np.int8))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    positions = np.arange(len(labels)) if frames is None else np.asarray(frames)
    return list(zip(positions[starts].tolist(), positions[stops].tolist()))


# -- the figures ------------------------------------------------------------------------------
@dataclass
class Figures:
    """What :func:`plot` wrote, and notes for the user (e.g. videos left out)."""

    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plot(paths: Sequence[Path], kind: str, out: Path | None = None, videos: Sequence[str] | None = None,
         fmt: str = "png", embedding: str = "pca", device: str = "cpu") -> Figures:
    """Draw ``kind`` for the runs at ``paths`` into ``out`` (default: the first run's ``figures/``).

    Every choice is checked before any work: the kind, the format, the embedding, that each
    path is a finished run, that ``maps`` and ``memory`` get one run, and the output folder.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown plot kind {kind!r}; use one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown figure format {fmt!r}; use png or pdf")
    if embedding not in EMBEDDINGS:
        raise ConfigError(f"unknown embedding {embedding!r}; use pca or tsne")
    if not paths:
        raise ConfigError("name at least one run directory")
    if kind in ("maps", "memory") and len(paths) > 1:
        raise ConfigError(f"--kind {kind} draws one run's model; got {len(paths)} runs, plot them one at a time")
    runs = read_runs(paths)
    if kind == "regions":
        from vadbench.region_eval import has_regions

        for r in runs:
            if not has_regions(r.run.path):
                raise RunError(f"{r.run.path} has no region results (no regions.csv): rerun it with --regions and a "
                               "detector that returns anomaly maps or regions")
    chosen = list(videos) if videos else None
    for name in chosen or []:
        for r in runs:
            r.video(name)
    folder = Path(out) if out is not None else runs[0].run.path / "figures"
    check_writable(folder)
    figures = Figures()

    def save(fig: Figure, video: str | None = None) -> None:
        path = folder / f"{kind}{'-' + _safe(video) if video else ''}.{fmt}"
        _save(fig, path, fmt)
        figures.paths.append(path)

    if kind in ("roc", "pr"):
        save(_curves_figure(runs, kind))
    elif kind == "regions":
        save(_regions_figure(runs))
    elif kind == "timeline":
        names = chosen or list(runs[0].videos)
        if chosen is None and len(names) > MAX_TIMELINES:
            figures.notes.append(f"plotted the first {MAX_TIMELINES} of {len(names)} videos; choose others with "
                                 "--videos")
            names = names[:MAX_TIMELINES]
        for name in names:
            for r in runs:
                r.video(name)
            save(_timeline_figure(runs, name), name)
    elif kind == "maps":
        for fig, name in _maps_figures(runs[0], chosen, device):
            save(fig, name)
    else:
        for fig, name in _memory_figures(runs[0], chosen, embedding, device):
            save(fig, name)
    return figures


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _pyplot() -> Any:
    """pyplot on the Agg backend: files only, never a window, the same pixels on every machine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: Path, fmt: str) -> None:
    """Write atomically, without a creation date, so the same runs give the same bytes."""
    plt = _pyplot()
    metadata = {"CreationDate": None} if fmt == "pdf" else {}
    try:
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format=fmt, dpi=DPI, metadata=metadata)
    finally:
        plt.close(fig)


def _title(runs: Sequence[PlottedRun], what: str) -> str:
    datasets = ", ".join(sorted({str(r.metrics["dataset"]) for r in runs}))
    protocols = ", ".join(sorted({str(r.metrics["protocol"].get("name")) for r in runs}))
    banner = "SYNTHETIC data: " if any(r.synthetic for r in runs) else ""
    return f"{banner}{what}\n{datasets}, protocol {protocols}"


def _curves_figure(runs: Sequence[PlottedRun], kind: str) -> Figure:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=SIZES[kind], layout="constrained")
    for r in runs:
        c = micro_curve(r, kind)
        if kind == "roc":
            ax.plot(c.x, c.y, lw=1.8, label=f"{r.label}: AUC {100 * c.area:.1f} %")
        else:
            ax.step(c.x, c.y, where="post", lw=1.8, label=f"{r.label}: AP {100 * c.area:.1f} %")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], ls="--", lw=1, color="0.6", label="chance")
        ax.set(xlabel="false positive rate", ylabel="true positive rate")
    else:
        prevalence = {round(float(r.micro()[1].mean()), 4) for r in runs}
        if len(prevalence) == 1:  # chance is the anomalous fraction, one line only where the runs share it
            ax.axhline(prevalence.pop(), ls="--", lw=1, color="0.6", label="chance (anomalous fraction)")
        ax.set(xlabel="recall", ylabel="precision")
    ax.set(xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title(_title(runs, "micro ROC" if kind == "roc" else "micro precision–recall"), fontsize=9)
    ax.legend(loc="lower right" if kind == "roc" else "lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _regions_figure(runs: Sequence[PlottedRun]) -> Figure:
    """RBDR and TBDR against FPR (false positives per frame) over [0, 1], one curve per run: the
    points whose trapezoidal area is RBDC and TBDC (:func:`vadbench.rbdc.curve_to_one`)."""
    from vadbench.rbdc import curve_to_one
    from vadbench.region_eval import recompute

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=SIZES["regions"], layout="constrained", sharey=True)
    sources = set()
    for r in runs:
        criteria = recompute(r.run.path)
        record = r.metrics.get("regions", {})
        sources.add(f"gt_source={record.get('gt_source')}, α={record.get('alpha')}, β={record.get('beta')}, "
                    f"IoU {record.get('iou')}")
        for ax, rate, area, name in ((axes[0], criteria.rbdr, criteria.rbdc, "RBDC"),
                                     (axes[1], criteria.tbdr, criteria.tbdc, "TBDC")):
            x, y = curve_to_one(criteria.fpr, rate)
            ax.plot(x, y, lw=1.8, label=f"{r.label}: {name} {100 * area:.1f} %")
    for ax, what in zip(axes, ("region-based detection rate (RBDR)", "track-based detection rate (TBDR)")):
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="false positives per frame (FPR)", ylabel=what)
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(_title(runs, "region and track detection rates, " + "; ".join(sorted(sources))), fontsize=9)
    return fig


def _timeline_figure(runs: Sequence[PlottedRun], name: str) -> Figure:
    """One video's processed scores per run over its ground-truth anomalous spans.

    Runs whose processed scores leave [0, 1] (a protocol without normalisation) would not share
    an axis, so then every curve is min-max scaled for display, and the axis says so.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=SIZES["timeline"], layout="constrained")
    curves = [r.video(name) for r in runs]
    scaled = any(len(c.scores) and (c.scores.min() < 0 or c.scores.max() > 1) for c in curves)
    truth = curves[0].truth
    for i, (first, last) in enumerate(spans(truth)):
        ax.axvspan(first - 0.5, last + 0.5, color="tab:red", alpha=0.15, lw=0,
                   label="ground truth: anomalous" if i == 0 else None)
    for r, c in zip(runs, curves):
        ax.plot(c.frames, minmax(c.scores) if scaled else c.scores, lw=1.5, label=r.label)
    ax.set(xlim=(-0.5, len(truth) - 0.5), xlabel="frame",
           ylabel="score (min–max scaled for display)" if scaled else "score (as evaluated)")
    ax.set_title(_title(runs, f"anomaly score, video {name}"), fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


# -- figures that need the model --------------------------------------------------------------
def _load_model(run: PlottedRun, device: str) -> tuple[Detector, dict[str, Any]]:
    """The run's trained detector (from ``config.json`` and ``model.pt``, as ``vadbench eval``)."""
    from vadbench.runner import detector_of_run, resolve_device
    from vadbench.training import load_detector_state

    config = run.run.read_config()
    device = resolve_device(device)
    detector, _, _ = detector_of_run(config)
    load_detector_state(detector, run.run.model, device)
    detector.to(device)
    detector.reset()
    return detector, config


def _open_cache(config: dict[str, Any], detector: Detector) -> ClipCache:
    """The run's test videos at the detector's input size (built if this machine lacks it)."""
    from vadbench.data.prepare import prepare

    return prepare(config["dataset"], detector.input_spec(), config.get("root"), **config["dataset_options"])


def top_frames(curve: VideoCurve, n: int) -> np.ndarray:
    """The highest-scored evaluated frame in each of ``n`` equal stretches of the video, so the
    panels show different moments rather than ``n`` neighbours of one peak."""
    parts = [p for p in np.array_split(np.arange(len(curve.scores)), n) if len(p)]
    return np.array([curve.frames[p[np.argmax(curve.scores[p])]] for p in parts], dtype=np.int64)


def _maps_figures(run: PlottedRun, videos: list[str] | None, device: str) -> list[tuple[Figure, str | None]]:
    """Heat overlays of the detector's maps on the frames scored highest.

    Without ``--videos``: one figure, the top frame of each of the ``MAP_FRAMES`` videos scored
    highest. With them: one figure per video, its top frame in each of ``MAP_FRAMES`` stretches.
    Videos are scored in sorted order from the first test video up to the last one shown, as the
    run scored them, so a detector that carries state from video to video draws the maps it had.
    """
    import torch

    scored = [c for c in run.videos.values() if len(c.scores)]
    if videos is None:
        best = sorted(scored, key=lambda c: -float(c.scores.max()))[:MAP_FRAMES]
        wanted = {c.name: c.frames[[int(np.argmax(c.scores))]] for c in best}
        layout: list[tuple[str | None, list[tuple[str, int]]]] = [
            (None, [(c.name, int(wanted[c.name][0])) for c in best])]
    else:
        wanted = {v: top_frames(run.video(v), MAP_FRAMES) for v in videos}
        layout = [(v, [(v, int(t)) for t in wanted[v]]) for v in videos]
    detector, config = _load_model(run, device)
    panels: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    with _open_cache(config, detector) as cache, torch.inference_mode():
        names = cache.videos("test")
        missing = [v for v in wanted if v not in names]
        if missing:
            raise RunError(f"{run.run.path}: the cache {cache.path} has no test video {missing[0]!r}")
        last = max(names.index(v) for v in wanted)
        for name in names[:last + 1]:
            video = cache.video("test", name)
            result = detector.score_video(video)
            result.check(len(video), name)
            if result.maps is None:
                raise RunError(f"{run.run.path}: detector {config['detector']!r} returns no anomaly maps; "
                               "--kind maps needs one that does (VideoScores.maps)")
            if name in wanted:
                panels.update(_panels(video, result.maps, wanted[name]))
    figures = []
    for video_name, frames in layout:
        figures.append((_maps_figure(run, [(key, *panels[key]) for key in frames]), video_name))
    return figures


def _panels(video: Any, maps: np.ndarray, frames: np.ndarray
            ) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """(frame image, map resized to the frame, ground-truth mask at frame size or None) per frame."""
    from vadbench.pixel import resize_maps

    size = video.frames.shape[1:3]
    heat = resize_maps(np.asarray(maps)[frames], size)
    masks = video.masks() if video.has_masks else None
    truth = resize_maps(masks[frames].astype(np.float32), size) >= 0.5 if masks is not None else None
    return {(video.name, int(t)): (video.frames[t], heat[i], None if truth is None else truth[i])
            for i, t in enumerate(frames)}


def _maps_figure(run: PlottedRun, panels: list[tuple[tuple[str, int], np.ndarray, np.ndarray, np.ndarray | None]]
                 ) -> Figure:
    plt = _pyplot()
    width, height = figure_size("maps", len(panels))
    fig, axes = plt.subplots(1, len(panels), figsize=(width / DPI, height / DPI), layout="constrained",
                             squeeze=False)
    heats = np.stack([p[2] for p in panels])
    finite = heats[np.isfinite(heats)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    image = None
    for ax, ((name, t), frame, heat, truth) in zip(axes[0], panels):
        curve = run.video(name)
        score = curve.scores[np.searchsorted(curve.frames, t)]
        gray = frame.shape[-1] == 1
        ax.imshow(frame[..., 0] if gray else frame, cmap="gray" if gray else None, vmin=0, vmax=255)
        image = ax.imshow(heat, cmap="jet", alpha=0.45, vmin=lo, vmax=hi if hi > lo else lo + 1)
        if truth is not None and truth.any():
            ax.contour(truth, levels=[0.5], colors="white", linewidths=1)
        state = "anomalous" if curve.truth[t] else "normal"
        ax.set_title(f"video {name}, frame {t}\nscore {score:.3f} ({state})", fontsize=8)
    for ax in axes[0]:
        ax.set_axis_off()
    if image is not None:
        fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label="anomaly map")
    fig.suptitle(_title([run], f"{run.label}: anomaly maps" + (" (white: ground truth)" if any(
        p[3] is not None for p in panels) else "")), fontsize=9)
    return fig


def memory_frames(curve: VideoCurve, history: int, n: int) -> np.ndarray:
    """``n`` frames the network can score (positions ≥ ``history``), half of them anomalous where
    the video has both classes, evenly spread within each class."""
    usable = np.arange(history, len(curve.truth))
    groups = [usable[curve.truth[usable] == k] for k in (0, 1)]
    groups = [g for g in groups if len(g)]
    counts = [n // len(groups) + (i < n % len(groups)) for i in range(len(groups))] if groups else []
    picks = [g[np.unique(np.linspace(0, len(g) - 1, c).round().astype(int))] for g, c in zip(groups, counts)]
    return np.sort(np.concatenate(picks)) if picks else usable[:0]


def _memory_figures(run: PlottedRun, videos: list[str] | None, embedding: str, device: str
                    ) -> list[tuple[Figure, str | None]]:
    """MNAD's trained memory items and the queries of a few test frames, in 2-D.

    The items are the trained ones saved in ``model.pt`` (before any test-time update); each
    query is coloured by its nearest item, which is what the read and the losses use. Without
    ``--videos``, the frames come from the first test video.
    """
    import torch

    detector, config = _load_model(run, device)
    try:
        from vadbench_mnad import MNAD
    except ImportError:
        raise RunError("--kind memory needs the MNAD plugin (vadbench-mnad), which is not installed") from None
    if not isinstance(detector, MNAD):
        raise RunError(f"{run.run.path}: --kind memory draws MNAD's memory items; this run's detector is "
                       f"{config['detector']!r}, not MNAD-P or MNAD-R")
    if detector.memory is None:
        raise RunError(f"{run.run.path}: {config['detector']!r} was trained without memory (memory=false): "
                       "there are no items to draw")
    names = videos or list(run.videos)[:1]
    figures = []
    with _open_cache(config, detector) as cache, torch.inference_mode():
        for name in names:
            video = cache.video("test", name)
            frames = memory_frames(run.video(name), detector.history, MEMORY_FRAMES)
            if not len(frames):
                raise RunError(f"{run.run.path}: video {name!r} has no frame that {config['detector']} can score")
            out = detector.forward(_network_input(detector, video.frames, frames), update=False)
            assert out.read is not None and out.memory is not None
            queries, nearest = out.read.queries.cpu().numpy(), out.read.nearest.cpu().numpy()
            per_frame = len(queries) // len(frames)
            anomalous = np.repeat(run.video(name).truth[frames] == 1, per_frame)
            figures.append((_memory_figure(run, name, out.memory.cpu().numpy(), queries, nearest, anomalous,
                                           embedding), name if videos else None))
    return figures


def _network_input(detector: Any, frames: np.ndarray, targets: np.ndarray) -> Any:
    """MNAD's input for each target frame: the ``history`` frames before it stacked on channels
    (MNAD-P) or the frame itself (MNAD-R), in [-1, 1], in the channel order the model was
    trained with; built from the public tensor helpers."""
    from vadbench import stack_time, to_network

    k = detector.history
    window = targets[:, None] + np.arange(-k, 0)[None] if k else targets[:, None]
    x = to_network(frames[window], detector.device)  # [n, k, 3, H, W]
    if detector.config.channel_order == "bgr":
        x = x.flip(-3)
    return stack_time(x)


def embed(points: np.ndarray, how: str = "pca") -> tuple[np.ndarray, tuple[str, str]]:
    """2-D coordinates of ``points`` and the axis labels: PCA by SVD of the centred points (the
    labels give each component's share of the variance), or t-SNE (scikit-learn, PCA-initialised,
    seeded, so the same run draws the same picture)."""
    centred = points - points.mean(axis=0)
    if how == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(1.0, (len(points) - 1) / 3)))
        xy = TSNE(2, perplexity=perplexity, init="pca", random_state=0).fit_transform(centred)
        return xy, ("t-SNE 1", "t-SNE 2")
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    share = 100 * s[:2] ** 2 / max(float((s ** 2).sum()), 1e-30)
    return centred @ vt[:2].T, (f"PC 1 ({share[0]:.0f} % of the variance)", f"PC 2 ({share[1]:.0f} %)")


def _memory_figure(run: PlottedRun, video: str, items: np.ndarray, queries: np.ndarray, nearest: np.ndarray,
                   anomalous: np.ndarray, embedding: str) -> Figure:
    plt = _pyplot()
    from matplotlib import colormaps

    xy, (xlabel, ylabel) = embed(np.concatenate([items, queries]), embedding)
    at_items, at_queries = xy[:len(items)], xy[len(items):]
    palette = "tab10" if len(items) <= 10 else "tab20" if len(items) <= 20 else "hsv"
    colours = colormaps[palette].resampled(len(items))  # item i has colour i
    fig, ax = plt.subplots(figsize=SIZES["memory"], layout="constrained")
    for flag, marker, what in ((False, "o", "normal"), (True, "x", "anomalous")):
        chosen = anomalous == flag
        if chosen.any():
            ax.scatter(*at_queries[chosen].T, c=colours(nearest[chosen]), marker=marker, s=14, alpha=0.7,
                       linewidths=1, label=f"queries of {what} frames")
    ax.scatter(*at_items.T, c=colours(np.arange(len(items))), marker="*", s=380, edgecolors="black",
               linewidths=1.2, label="memory items", zorder=3)
    for i, (x, y) in enumerate(at_items):
        ax.annotate(str(i), (x, y), textcoords="offset points", xytext=(7, 7), fontsize=8)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.set_title(_title([run], f"{run.label}: memory items and the queries of video {video}, coloured by their "
                        "nearest item"), fontsize=9)
    legend = ax.legend(loc="best", fontsize=8)
    for handle in legend.legend_handles:  # the markers' shapes say what they are; colours belong to the items
        handle.set_color("0.45")
        if hasattr(handle, "set_edgecolor"):
            handle.set_edgecolor("black")
    ax.grid(alpha=0.3)
    return fig
