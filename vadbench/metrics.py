"""Metrics under a protocol: per-frame scores of all test videos -> AUCs, EER, AUPR.

:func:`evaluate` applies a :class:`~vadbench.protocols.Protocol` in its fixed order: fill
undecided (NaN) frames from the nearest scored frame of the same video -> drop the first
``drop_first`` and last ``drop_last`` frames of every video -> optional per-video min-max
normalisation -> optional per-video Gaussian smoothing -> metrics. Frames that are still NaN (a
video no frame of which was scored) are dropped from scores and labels alike, and the number of
evaluated frames is recorded. Kept apart from the protocol definitions so that reading and
describing protocols (tables, ``--help``) does not import scikit-learn and SciPy.

Metrics (anomaly class positive, anomaly score higher = more anomalous):

* ``auc_micro``: one ROC over all evaluated frames of all videos (the "frame-level AUC").
* ``auc_macro``: mean of per-video AUCs; every video is padded with one normal frame at
  ``min - 1`` and one anomalous frame at ``max + 1`` of its scores, so single-class videos are
  defined (``macro_pad``; Georgescu et al.). ``auc_macro_skip``: mean over two-class videos only.
* ``eer``: the ROC point where FPR = 1 - TPR, solved on the linearly interpolated ROC.
* ``aupr``: average precision of the anomaly class.
* ``auc_micro_raw``: micro AUC of the raw scores (no normalisation, no smoothing): leak-free. A
  detector whose score already uses test statistics (``detector_normalisation`` is not ``none``)
  must pass its raw scores separately; without them this metric is NaN rather than a leak.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import brentq
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from vadbench.errors import EvaluationError
from vadbench.protocols import Protocol


# -- per-video processing ---------------------------------------------------------------------
def fill_nearest(scores: np.ndarray) -> np.ndarray:
    """Replace NaNs by the nearest scored frame's value (edge replication); all-NaN stays NaN."""
    scores = np.asarray(scores, dtype=np.float64)
    valid = np.flatnonzero(~np.isnan(scores))
    if len(valid) == 0 or len(valid) == len(scores):
        return scores.copy()
    positions = np.arange(len(scores))
    right = np.clip(np.searchsorted(valid, positions), 0, len(valid) - 1)
    left = np.clip(right - 1, 0, len(valid) - 1)
    nearer_left = np.abs(positions - valid[left]) <= np.abs(valid[right] - positions)
    return scores[np.where(nearer_left, valid[left], valid[right])]


def minmax(scores: np.ndarray) -> np.ndarray:
    """Per-video min-max to [0, 1]: (s − min) / (max − min), NaNs ignored and kept.

    Exactly that formula, with no ε in the denominator (an ε rescales each video by a slightly
    different factor and so moves frames of different videos past each other). Only a video of
    zero range, where the formula is 0/0, is guarded: its scores normalise to 0.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if not len(scores) or np.isnan(scores).all():
        return scores.copy()
    lo, hi = np.nanmin(scores), np.nanmax(scores)
    return (scores - lo) / (hi - lo) if hi > lo else np.where(np.isnan(scores), np.nan, 0.0)


def process_video(scores: np.ndarray, labels: np.ndarray, protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """Apply fill, exclusion, normalisation and smoothing to one video; returns (scores, labels)."""
    if len(scores) != len(labels):
        raise EvaluationError(f"{len(scores)} scores for {len(labels)} labels")
    s = fill_nearest(scores)
    stop = len(s) - protocol.drop_last
    s, y = s[protocol.drop_first:stop], np.asarray(labels)[protocol.drop_first:stop]
    if len(s) and not np.isnan(s).all():
        if protocol.normalisation == "per_video_minmax":
            s = minmax(s)
        if protocol.smoothing_sigma > 0:
            s = gaussian_filter1d(s, protocol.smoothing_sigma, mode=protocol.smoothing_mode)
    keep = ~np.isnan(s)
    return s[keep], y[keep].astype(np.int64)


# -- metrics ----------------------------------------------------------------------------------
def eer(labels: np.ndarray, scores: np.ndarray) -> float:
    """Equal error rate on the linearly interpolated ROC (``docs/protocols.md`` §4.4)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(brentq(lambda x: 1.0 - x - np.interp(x, fpr, tpr), 0.0, 1.0))


def padded_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """A video's AUC with one normal pad below and one anomalous pad above its score range."""
    s = np.concatenate([[scores.min() - 1.0], scores, [scores.max() + 1.0]])
    y = np.concatenate([[0], labels, [1]])
    return float(roc_auc_score(y, s))


def evaluate(videos: Sequence[tuple[np.ndarray, np.ndarray]], protocol: Protocol,
             raw_scores: Sequence[np.ndarray] | None = None) -> dict[str, Any]:
    """Metrics of per-video ``(scores, labels)`` pairs under ``protocol``.

    ``raw_scores`` (one array per video) feed the leak-free ``auc_micro_raw``; by default the
    scores themselves do, unless the detector normalised them with test statistics.
    """
    processed = [process_video(s, y, protocol) for s, y in videos]
    plain = dataclasses.replace(protocol, normalisation="none", smoothing_sigma=0.0)
    if raw_scores is not None:
        raw = [process_video(r, y, plain) for r, (_, y) in zip(raw_scores, videos)]
    elif protocol.detector_normalisation == "none":
        raw = [process_video(s, y, plain) for s, y in videos]
    else:
        raw = None
    scores = np.concatenate([s for s, _ in processed]) if processed else np.zeros(0)
    labels = np.concatenate([y for _, y in processed]) if processed else np.zeros(0, np.int64)
    out: dict[str, Any] = {"frames_evaluated": int(len(scores)), "frames_anomalous": int(labels.sum()),
                           "videos": len(videos)}
    if len(np.unique(labels)) < 2:
        raise EvaluationError(f"the {len(labels)} evaluated frames hold only one class under protocol {protocol.label}; "
                              "AUC is undefined (check drop_first/drop_last and the labels)")
    out["auc_micro"] = float(roc_auc_score(labels, scores))
    out["auc_micro_raw"] = (float(roc_auc_score(np.concatenate([y for _, y in raw]), np.concatenate([s for s, _ in raw])))
                            if raw is not None else float("nan"))
    per_video = [padded_auc(y, s) for s, y in processed if len(s)]
    out["auc_macro"] = float(np.mean(per_video))
    two_class = [float(roc_auc_score(y, s)) for s, y in processed if len(np.unique(y)) == 2]
    out["auc_macro_skip"] = float(np.mean(two_class)) if two_class else float("nan")
    out["macro_skip_videos"] = len(two_class)
    out["eer"] = eer(labels, scores)
    out["aupr"] = float(average_precision_score(labels, scores))
    return out
