"""RBDC and TBDC: region- and track-based detection criteria (``docs/protocols.md`` §6).

Written from the definitions of Ramachandra and Jones ("Street Scene", WACV 2020) as
``docs/protocols.md`` §6.2 states them, and from nothing else (the widely used implementations
carry licences vadbench cannot take code from).

The walk the definition describes (detections by descending score, each one matching every
not-yet-matched ground-truth region of its frame with IoU ≥ β, false positive when no region
of its frame reaches β) has a closed form that needs no walk: after the detections of score
≥ t, a ground-truth region is matched exactly when some detection of score ≥ t overlaps it
with IoU ≥ β (whatever the order), and the false positives are exactly the detections of score
≥ t that overlap no ground-truth region with IoU ≥ β. So each ground-truth region has one
number, the largest score that detects it; each track one number, the largest threshold at
which a fraction α of its regions is detected; and each curve is a count of these numbers above
each threshold: a sort and a search, with the same-frame (detection, region) pairs built once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np

from vadbench.errors import EvaluationError
from vadbench.regions import Regions
from vadbench.tracks import Tracks

IouMode = Literal["inclusive", "continuous"]
ALPHA = 0.1  # fraction of a track's regions that must be detected (Street Scene's default)
BETA = 0.1  # IoU at which a detection hits a ground-truth region


def box_iou(a: np.ndarray, b: np.ndarray, iou: IouMode = "inclusive") -> np.ndarray:
    """IoU of the boxes ``a[i]`` and ``b[i]`` ([N, 4] each, ``x0, y0, x1, y1``), element-wise.

    ``"inclusive"``: corners are pixel indices, a box covers x1 − x0 + 1 columns (the
    convention of the published numbers); ``"continuous"``: corners are real coordinates, width
    x1 − x0 (a one-pixel box then has area 0, and its IoU is 0).
    """
    if iou not in ("inclusive", "continuous"):
        raise EvaluationError(f"iou={iou!r}; expected 'inclusive' or 'continuous'")
    one = 1.0 if iou == "inclusive" else 0.0
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + one, 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + one, 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0] + one) * (a[:, 3] - a[:, 1] + one)
    area_b = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def same_frame_pairs(det_frame: np.ndarray, gt_frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (detection, ground-truth region) index pair of the same frame, without a loop."""
    order = np.argsort(det_frame, kind="stable")
    sorted_frames = det_frame[order]
    lo = np.searchsorted(sorted_frames, gt_frame, "left")
    counts = np.searchsorted(sorted_frames, gt_frame, "right") - lo
    gt_idx = np.repeat(np.arange(len(gt_frame)), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return order[np.repeat(lo, counts) + within], gt_idx


def _count_at_least(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each threshold, how many values are ≥ it."""
    s = np.sort(values)
    return len(s) - np.searchsorted(s, thresholds, "left")


def min_detected(n: np.ndarray, alpha: float) -> np.ndarray:
    """The fewest detected regions m with m / n ≥ α, as that comparison evaluates in floats.

    ⌈α·n⌉ alone is off by one where α·n rounds up (0.34 · 150 = 51.00000000000001), while
    51 / 150 ≥ 0.34 holds: the definition compares the fraction, so this does too.
    """
    m = np.ceil(alpha * n)
    return np.where((m - 1) / n >= alpha, m - 1, m).astype(np.int64)


def curve_to_one(fpr: np.ndarray, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points of rate(FPR) over FPR ∈ [0, 1] whose trapezoidal area is RBDC or TBDC.

    The curve starts at (0, 0); past FPR = 1 it is cut at 1 (linearly interpolated there);
    short of it, extended at its last rate. ``vadbench plot --kind regions`` draws these points.
    """
    x = np.concatenate([[0.0], np.asarray(fpr, np.float64)])
    y = np.concatenate([[0.0], np.asarray(rate, np.float64)])
    beyond = np.flatnonzero(x >= 1.0)
    if len(beyond):
        k = beyond[0]
        y_one = y[k - 1] + (y[k] - y[k - 1]) * (1.0 - x[k - 1]) / (x[k] - x[k - 1])
        return np.append(x[:k], 1.0), np.append(y[:k], y_one)
    return np.append(x, 1.0), np.append(y, y[-1])


def area_to_one(fpr: np.ndarray, rate: np.ndarray) -> float:
    """Trapezoidal area under rate(FPR) for FPR ∈ [0, 1], from (0, 0) (see :func:`curve_to_one`)."""
    x, y = curve_to_one(fpr, rate)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


@dataclass(frozen=True)
class RegionCriteria:
    """RBDC and TBDC with their curves (one point per distinct detection score, descending)."""

    rbdc: float
    tbdc: float
    thresholds: np.ndarray
    fpr: np.ndarray
    rbdr: np.ndarray
    tbdr: np.ndarray
    record: dict[str, Any]


def rbdc_tbdc(detections: Regions, truth: Tracks, n_frames: int, *, alpha: float = ALPHA, beta: float = BETA,
              iou: IouMode = "inclusive") -> RegionCriteria:
    """RBDC and TBDC of scored detections against ground-truth tracks over ``n_frames`` test frames.

    Frame indices of both must be global over the evaluated videos (see :func:`evaluate_videos`
    for per-video inputs). FPR counts false-positive detections per test frame, so ``n_frames``
    is every evaluated frame, normal or not.
    """
    if n_frames < 1:
        raise EvaluationError(f"RBDC/TBDC over {n_frames} frames; at least one frame is needed")
    if not 0.0 < alpha <= 1.0 or not 0.0 < beta <= 1.0:
        raise EvaluationError(f"RBDC/TBDC: alpha={alpha}, beta={beta}; both must be in (0, 1]")
    if len(truth) == 0:
        raise EvaluationError("RBDC/TBDC: no ground-truth regions; the detection rates are undefined")
    for what, frames in (("detection", detections.frame), ("ground-truth region", truth.frame)):
        if len(frames) and frames.max() >= n_frames:
            raise EvaluationError(f"RBDC/TBDC: a {what} in frame {frames.max()}, beyond the {n_frames} test frames")
    d, g = same_frame_pairs(detections.frame, truth.frame)
    hit = box_iou(detections.boxes[d], truth.boxes[g], iou) >= beta
    region_score = np.full(len(truth), -np.inf)  # the largest score that detects each GT region
    np.maximum.at(region_score, g[hit], detections.scores[d[hit]])
    false_positive = np.ones(len(detections), bool)
    false_positive[d[hit]] = False

    _, track, sizes = np.unique(truth.track, return_inverse=True, return_counts=True)
    order = np.lexsort((-region_score, track))  # each track's regions, best detected first
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    track_score = region_score[order[starts + min_detected(sizes, alpha) - 1]]

    thresholds = np.unique(detections.scores)[::-1]
    fpr = _count_at_least(detections.scores[false_positive], thresholds) / n_frames
    rbdr = _count_at_least(region_score, thresholds) / len(truth)
    tbdr = _count_at_least(track_score, thresholds) / len(sizes)
    record = {"alpha": alpha, "beta": beta, "iou": iou, "fpr_range": [0.0, 1.0], "n_frames": int(n_frames),
              "n_detections": len(detections), "n_gt_regions": len(truth), "n_tracks": len(sizes),
              "gt_source": truth.gt_source}
    return RegionCriteria(area_to_one(fpr, rbdr), area_to_one(fpr, tbdr), thresholds, fpr, rbdr, tbdr, record)


def evaluate_videos(detections: Sequence[Regions], truth: Sequence[Tracks], lengths: Sequence[int],
                    **options: Any) -> RegionCriteria:
    """RBDC/TBDC over several videos given per video (frames local to each video).

    Frames are offset by the lengths of the videos before, and track ids kept apart per video,
    so a detection never matches a region of another video and the FPR divides by all frames.
    """
    return rbdc_tbdc(Regions.concat(detections, lengths), Tracks.concat(truth, lengths), int(sum(lengths)), **options)
