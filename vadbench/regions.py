"""Scored regions: what RBDC/TBDC evaluate, and the default conversion of anomaly maps to them.

The region- and track-based criteria (``docs/protocols.md`` §6) score boxes, not frames. A
detector can produce them in two ways:

* it returns per-pixel maps (``VideoScores.maps``, any resolution) and :func:`maps_to_regions`
  turns them into regions under a recorded :class:`RegionRule`: resize to the mask size
  (OpenCV, bilinear), keep the pixels at or above a threshold, one region per connected
  component, scored by the maximum (or mean) of the map inside it;
* or it returns :class:`Regions` itself (object boxes with scores), as an optional
  ``regions`` field of ``VideoScores`` with frame indices local to the video.

This module is a leaf (NumPy and the error classes at import time; OpenCV only inside the
functions that need it), so ``vadbench.types`` can name :class:`Regions` without importing
OpenCV, and ``vadbench list`` / ``table`` stay light.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterator, Literal, Sequence

import numpy as np

from vadbench.errors import EvaluationError

RegionScore = Literal["max", "mean"]

# OpenCV 5 resizes at most 128 channels at once (4.x: 512); frames are resized that many at a time.
_RESIZE_GROUP = 128
# Pixels labelled per OpenCV call: a chunk of frames stacked into one image stays about 64 MB of labels.
_LABEL_PIXELS = 1 << 24


@dataclass(frozen=True)
class Regions:
    """Scored boxes, column-wise, so that millions of them are a few arrays, not objects.

    ``frame``: int64 [N] frame index (local to a video, or global after :meth:`concat`);
    ``boxes``: float64 [N, 4] ``x0, y0, x1, y1`` in **inclusive** pixel coordinates of the mask
    (source) resolution: a one-pixel box has x0 == x1, so its width is x1 − x0 + 1, the
    convention the published RBDC/TBDC numbers use (``docs/protocols.md`` §6.3);
    ``scores``: float64 [N], higher = more anomalous.
    """

    frame: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        set_columns(self, "regions", "scores", np.float64)
        if not np.isfinite(self.scores).all():
            raise EvaluationError("regions: a region score is NaN or infinite; every region needs a finite score")

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def empty(cls) -> Regions:
        return cls(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))

    @classmethod
    def concat(cls, parts: Sequence[Regions], lengths: Sequence[int]) -> Regions:
        """One set over consecutive videos: video i's frames are offset by the lengths before it."""
        if len(parts) != len(lengths):
            raise EvaluationError(f"regions of {len(parts)} videos for {len(lengths)} video lengths")
        for i, (p, n) in enumerate(zip(parts, lengths)):
            if len(p) and p.frame.max() >= n:
                raise EvaluationError(f"regions of video {i}: frame {p.frame.max()} is beyond its {n} frames")
        if not parts:
            return cls.empty()
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return cls(np.concatenate([p.frame + o for p, o in zip(parts, offsets)]),
                   np.concatenate([p.boxes for p in parts]), np.concatenate([p.scores for p in parts]))


def set_columns(obj: Any, what: str, third: str, dtype: type) -> None:
    """Coerce a frozen column set (``frame``, ``boxes`` and one more column) in place, and check it.

    Shared by :class:`Regions` and ``vadbench.tracks.Tracks``: one region per row, frames
    non-negative integers, boxes finite with x0 ≤ x1 and y0 ≤ y1.
    """
    frame = np.asarray(obj.frame, dtype=np.int64).reshape(-1)
    boxes = np.asarray(obj.boxes, dtype=np.float64).reshape(-1, 4)
    other = np.asarray(getattr(obj, third), dtype=dtype).reshape(-1)
    if not (len(frame) == len(boxes) == len(other)):
        raise EvaluationError(f"{what}: {len(frame)} frames, {len(boxes)} boxes and {len(other)} {third}; "
                              "expected one of each per region")
    if (frame < 0).any():
        raise EvaluationError(f"{what}: negative frame index {frame.min()}")
    if not np.isfinite(boxes).all():
        raise EvaluationError(f"{what}: a box coordinate is NaN or infinite")
    bad = np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))
    if len(bad):
        raise EvaluationError(f"{what}: box {bad[0]} = {boxes[bad[0]].tolist()} has x1 < x0 or y1 < y0; "
                              "boxes are x0, y0, x1, y1 with inclusive corners")
    for name, column in (("frame", frame), ("boxes", boxes), (third, other)):
        object.__setattr__(obj, name, column)


@dataclass(frozen=True)
class RegionRule:
    """How maps become regions; recorded with every region-based result (:meth:`record`).

    The pixel threshold is either ``threshold`` (an absolute map value, chosen without the test
    set) or, when it is None, the value above which the top ``top_fraction`` of all map values
    of the run lie (:func:`run_threshold`); the latter is computed on the test maps, so the
    record says ``uses_test_statistics``. The RBDC/TBDC curves then sweep the *region* scores;
    the pixel threshold only decides which regions exist. ``score``: a region's score is the
    ``max`` (default) or ``mean`` of the map over its pixels. ``connectivity``: 8 or 4.
    """

    top_fraction: float = 0.01
    threshold: float | None = None
    score: RegionScore = "max"
    connectivity: int = 8

    def __post_init__(self) -> None:
        if self.threshold is None and not 0.0 < self.top_fraction < 1.0:
            raise EvaluationError(f"region rule: top_fraction={self.top_fraction} is out of range: must be in (0, 1)")
        if self.score not in ("max", "mean"):
            raise EvaluationError(f"region rule: score={self.score!r}; expected 'max' or 'mean'")
        if self.connectivity not in (4, 8):
            raise EvaluationError(f"region rule: connectivity={self.connectivity}; expected 4 or 8")

    def record(self, threshold: float | None = None) -> dict[str, Any]:
        """The rule as stored beside the result, with the threshold actually used."""
        out = dataclasses.asdict(self)
        out.update(rule="absolute" if self.threshold is not None else "top_fraction",
                   threshold=self.threshold if self.threshold is not None else threshold,
                   uses_test_statistics=self.threshold is None, resize="opencv_bilinear",
                   nan_frames="no regions")
        if self.threshold is not None:
            out.pop("top_fraction")
        return out


def run_threshold(maps: Sequence[np.ndarray], top_fraction: float, max_values: int = 1 << 24) -> float:
    """The map value above which the top ``top_fraction`` of a run's finite map values lie.

    Computed on the maps as the detector returned them (before resizing). A run's maps can be
    gigabytes (ShanghaiTech: 40,791 frames), so beyond ``max_values`` values a uniform
    deterministic subsample (every k-th value of the run, in order) stands in for them.
    """
    total = sum(int(np.size(m)) for m in maps)
    if total == 0:
        raise EvaluationError("region threshold: the run has no map values")
    stride = max(1, -(-total // max_values))
    values, start = [], 0
    for m in maps:
        flat = np.asarray(m, dtype=np.float32).reshape(-1)
        values.append(flat[(-start) % stride::stride])  # the run-wide positions 0, k, 2k, ...
        start += len(flat)
    v = np.concatenate(values)
    v = v[np.isfinite(v)]
    if not len(v):
        raise EvaluationError("region threshold: every map value of the run is NaN")
    return float(np.quantile(v, 1.0 - top_fraction))


def resize_to(maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``[T, h, w]`` maps resized to ``shape`` (H, W) with OpenCV's bilinear filter, float32.

    Frames go through OpenCV as the channels of one image, up to 128 at a time, instead of one
    call per frame.
    """
    import cv2

    maps = np.asarray(maps, dtype=np.float32)
    if maps.shape[1:] == tuple(shape):
        return maps
    out = np.empty((len(maps), *shape), np.float32)
    for s in range(0, len(maps), _RESIZE_GROUP):
        group = np.ascontiguousarray(maps[s:s + _RESIZE_GROUP].transpose(1, 2, 0))
        r = cv2.resize(group, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
        out[s:s + _RESIZE_GROUP] = r.reshape(*shape, -1).transpose(2, 0, 1)
    return out


def frame_chunks(n_frames: int, height: int, width: int) -> Iterator[slice]:
    """Consecutive frame ranges small enough for one stacked labelling call."""
    step = max(1, _LABEL_PIXELS // ((height + 1) * width))
    for s in range(0, n_frames, step):
        yield slice(s, min(n_frames, s + step))


def label_frames(binary: np.ndarray, connectivity: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Connected components of every frame of ``binary`` [T, H, W] with a single OpenCV call.

    The frames are stacked into one image with a row of zeros between them, so no component
    crosses from one frame into the next (neither 4- nor 8-connectivity reaches across a blank
    row). Returns ``labels`` int32 [T, H, W] (0 = background, components 1..n), and per component
    ``frame`` int64 [n], inclusive ``boxes`` float64 [n, 4] and pixel ``area`` int64 [n].
    The boxes come from the foreground pixels alone: OpenCV's own statistics pass costs about
    three times its labelling on every pixel, background included, and anomaly masks and
    thresholded maps are mostly background.
    """
    import cv2

    t, h, w = binary.shape
    stacked = np.zeros((t, h + 1, w), np.uint8)
    stacked[:, :h] = binary
    n, labels = cv2.connectedComponents(stacked.reshape(t * (h + 1), w), connectivity=connectivity, ltype=cv2.CV_32S)
    flat = labels.reshape(-1)
    pixels = np.flatnonzero(flat)
    component = flat[pixels].astype(np.int64) - 1
    row, x = np.divmod(pixels, w)
    lo = np.full((2, n - 1), np.iinfo(np.int64).max)
    hi = np.full((2, n - 1), -1, np.int64)
    for axis, coordinate in enumerate((x, row)):
        np.minimum.at(lo[axis], component, coordinate)
        np.maximum.at(hi[axis], component, coordinate)
    frame, y0 = np.divmod(lo[1], h + 1)
    boxes = np.stack([lo[0], y0, hi[0], hi[1] - frame * (h + 1)], axis=1).astype(np.float64)
    area = np.bincount(component, minlength=n - 1)
    return labels.reshape(t, h + 1, w)[:, :h], frame, boxes, area


def maps_to_regions(maps: np.ndarray, shape: tuple[int, int], threshold: float,
                    rule: RegionRule = RegionRule()) -> Regions:
    """One video's maps [T, h, w] → scored regions at ``shape`` (the mask resolution).

    Pixels with map value ≥ ``threshold`` after resizing form regions (connected components
    under ``rule.connectivity``); each region's score is the max or mean of the resized map over
    its pixels. A frame whose map holds a NaN (not scored) yields no region, as the pixel
    metrics leave such frames out (``docs/protocols.md`` §5).
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise EvaluationError(f"region extraction: maps of shape {maps.shape}; expected [T, h, w]")
    parts, lengths = [], []
    height, width = shape
    for chunk in frame_chunks(len(maps), height, width):
        m = resize_to(maps[chunk], shape)
        keep = ~np.isnan(m).any(axis=(1, 2))
        labels, frame, boxes, area = label_frames((m >= threshold) & keep[:, None, None], rule.connectivity)
        fg = labels > 0
        idx, values = labels[fg] - 1, m[fg].astype(np.float64)
        if rule.score == "max":
            scores = np.full(len(frame), -np.inf)
            np.maximum.at(scores, idx, values)
        else:
            scores = np.bincount(idx, weights=values, minlength=len(frame)) / np.maximum(area, 1)
        parts.append(Regions(frame, boxes, scores))
        lengths.append(chunk.stop - chunk.start)
    return Regions.concat(parts, lengths)
