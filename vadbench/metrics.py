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
* ``ci``: 95 % percentile intervals of ``auc_micro``, ``auc_macro`` and ``eer`` from a bootstrap
  over whole test videos (:func:`video_bootstrap`, ``docs/protocols.md`` §8.1).
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
    s, y, _ = process_video_indexed(scores, labels, protocol)
    return s, y


def process_video_indexed(scores: np.ndarray, labels: np.ndarray,
                          protocol: Protocol) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`process_video` plus the positions (0-based, in the video) of the evaluated frames.

    The positions let two runs be checked to evaluate the very same frames before their scores
    are paired frame by frame (:func:`vadbench.stats.compare_runs`).
    """
    if len(scores) != len(labels):
        raise EvaluationError(f"{len(scores)} scores for {len(labels)} labels")
    s = fill_nearest(scores)
    stop = len(s) - protocol.drop_last
    positions = np.arange(len(s))[protocol.drop_first:stop]
    s, y = s[protocol.drop_first:stop], np.asarray(labels)[protocol.drop_first:stop]
    if len(s) and not np.isnan(s).all():
        if protocol.normalisation == "per_video_minmax":
            s = minmax(s)
        if protocol.smoothing_sigma > 0:
            s = gaussian_filter1d(s, protocol.smoothing_sigma, mode=protocol.smoothing_mode)
    keep = ~np.isnan(s)
    return s[keep], y[keep].astype(np.int64), positions[keep]


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


# -- uncertainty: the video bootstrap (docs/protocols.md §8) -----------------------------------
# Here rather than in vadbench.stats because every metrics record carries its interval, and
# stats (run comparisons) builds on this module, never the other way round.
CI_RESAMPLES = 1000
CI_SEED = 0
CI_LEVEL = 0.95


def pair_counts(videos: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mann–Whitney counts between every pair of videos, and each video's class counts.

    ``C[u, v]`` = #{(i anomalous in u, j normal in v): s_i > s_j} + ½·#{ties}; ``P[v]`` and
    ``N[v]`` count the anomalous and normal frames of v. A resample that takes video v w_v times
    then has micro AUC wᵀCw / ((w·P)(w·N)) exactly (a copy's pairs with every other copy count,
    its own included), so all resamples are one matrix product. One ``searchsorted`` of all
    anomalous frames per video: O(V·N⁺·log N), no loop over frames.
    """
    lengths = [len(s) for s, _ in videos]
    scores = np.concatenate([s for s, _ in videos]) if videos else np.zeros(0)
    labels = np.concatenate([y for _, y in videos]) if videos else np.zeros(0, np.int64)
    owner = np.repeat(np.arange(len(videos)), lengths)
    positive = labels == 1
    order = np.argsort(scores[positive], kind="stable")  # sorted queries search faster (cache)
    pos_scores, pos_owner = scores[positive][order], owner[positive][order]
    counts = np.zeros((len(videos), len(videos)))
    for v, (s, y) in enumerate(videos):
        normal = np.sort(s[y == 0])
        if len(normal):
            below = np.searchsorted(normal, pos_scores, "left")  # (below + at_or_below) / 2 = below + ½ ties
            at_or_below = np.searchsorted(normal, pos_scores, "right")
            counts[:, v] = np.bincount(pos_owner, weights=below + at_or_below, minlength=len(videos)) / 2
    return (counts, np.bincount(pos_owner, minlength=len(videos)).astype(np.float64),
            np.bincount(owner[~positive], minlength=len(videos)).astype(np.float64))


def micro_auc_of_resamples(counts: np.ndarray, pos: np.ndarray, neg: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Micro AUC of each resample (rows of ``weights``, multiplicities per video) from :func:`pair_counts`;
    NaN where a resample holds one class only."""
    weights = np.asarray(weights, dtype=np.float64)
    pairs = (weights @ pos) * (weights @ neg)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, ((weights @ counts) * weights).sum(axis=1) / pairs, np.nan)


def padded_aucs(counts: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Each video's padded AUC (U + n₀ + n₁ + 1) / ((n₀ + 1)(n₁ + 1)) from its own pair count (§4.2)."""
    return (np.diag(counts) + pos + neg + 1) / ((pos + 1) * (neg + 1))


def resample_videos(n_videos: int, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` × ``n_videos`` multiplicities: each row draws ``n_videos`` videos with replacement."""
    return np.random.default_rng(seed).multinomial(n_videos, np.full(n_videos, 1.0 / n_videos), size=resamples)


def eer_of_resamples(videos: Sequence[tuple[np.ndarray, np.ndarray]], weights: np.ndarray) -> np.ndarray:
    """EER (§4.4) of each resample (rows of ``weights``): where its ROC meets FPR = 1 − TPR.

    A resample's ROC has one vertex per distinct score θ (frames scoring ≥ θ flagged, ties
    together, as in ``roc_curve``), with TP(θ) = Σ_v w_v·#{anomalous frames of v ≥ θ}, so any
    vertex of all resamples at once costs one ``searchsorted`` per video. FPR + TPR − 1 grows
    along the ROC, so a bisection over the vertices finds each resample's crossing segment in
    log₂(#scores) steps, and the EER is solved on that segment in closed form: no per-frame work
    per resample, memory O(resamples × videos). NaN where a resample holds one class only.
    """
    thresholds = np.unique(np.concatenate([s for s, _ in videos]))[::-1]  # distinct, descending
    sorted_scores = [(np.sort(s[y == 1]), np.sort(s[y == 0])) for s, y in videos]
    w = np.asarray(weights, dtype=np.float64)
    totals = [w @ np.array([len(c[i]) for c in sorted_scores], dtype=np.float64) for i in (0, 1)]  # P, N

    def rates(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(FPR, TPR) of every resample at its vertex k (−1: the origin)."""
        theta = thresholds[np.maximum(k, 0)]
        above = [np.stack([len(c[i]) - np.searchsorted(c[i], theta, "left") for c in sorted_scores], axis=1)
                 for i in (0, 1)]
        with np.errstate(invalid="ignore", divide="ignore"):
            tpr, fpr = ((w * above[i]).sum(axis=1) / totals[i] for i in (0, 1))
        return np.where(k >= 0, fpr, 0.0), np.where(k >= 0, tpr, 0.0)

    lo, hi = np.full(len(w), -1), np.full(len(w), len(thresholds) - 1)  # gap < 0 at lo, ≥ 0 at hi
    while (hi - lo > 1).any():
        mid = (lo + hi) // 2
        fpr, tpr = rates(mid)
        reached = fpr + tpr - 1 >= 0
        hi, lo = np.where(reached, mid, hi), np.where(reached, lo, mid)
    (f0, t0), (f1, t1) = rates(lo), rates(hi)
    g0, g1 = f0 + t0 - 1, f1 + t1 - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        out = f0 + np.where(g1 > g0, -g0 / (g1 - g0), 0.0) * (f1 - f0)
    return np.where((totals[0] > 0) & (totals[1] > 0), out, np.nan)


def percentile_interval(values: np.ndarray, level: float = CI_LEVEL) -> list[float]:
    """The central ``level`` percentile interval of the defined (non-NaN) values; [NaN, NaN] if none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not len(values):
        return [float("nan"), float("nan")]
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return [float(lo), float(hi)]


def video_bootstrap(videos: Sequence[tuple[np.ndarray, np.ndarray]], resamples: int = CI_RESAMPLES,
                    seed: int = CI_SEED, level: float = CI_LEVEL) -> dict[str, Any]:
    """Percentile intervals of micro AUC, padded macro AUC and EER, resampling whole videos.

    Frames of one video are strongly correlated (neighbouring frames look alike, an anomaly lasts
    many frames), so the unit of resampling is the video: a frame bootstrap would pretend there are
    tens of thousands of independent observations and give intervals far too narrow. Videos
    without an evaluated frame carry no data and are left out. ``undefined`` counts the resamples
    that drew one class only; they are left out of the micro and EER percentiles.
    """
    videos = [(s, y) for s, y in videos if len(s)]
    counts, pos, neg = pair_counts(videos)
    weights = resample_videos(len(videos), resamples, seed)
    micro = micro_auc_of_resamples(counts, pos, neg, weights)
    macro = weights @ padded_aucs(counts, pos, neg) / len(videos)
    return {"auc_micro": percentile_interval(micro, level), "auc_macro": percentile_interval(macro, level),
            "eer": percentile_interval(eer_of_resamples(videos, weights), level), "level": level,
            "resamples": resamples, "seed": seed, "unit": "video", "undefined": int(np.isnan(micro).sum())}


def evaluate(videos: Sequence[tuple[np.ndarray, np.ndarray]], protocol: Protocol,
             raw_scores: Sequence[np.ndarray] | None = None, *, ci_resamples: int = CI_RESAMPLES,
             ci_seed: int = CI_SEED) -> dict[str, Any]:
    """Metrics of per-video ``(scores, labels)`` pairs under ``protocol``.

    ``raw_scores`` (one array per video) feed the leak-free ``auc_micro_raw``; by default the
    scores themselves do, unless the detector normalised them with test statistics. ``ci`` holds
    the video-bootstrap intervals (:func:`video_bootstrap`; ``ci_resamples=0`` leaves it out).
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
    if ci_resamples:
        out["ci"] = video_bootstrap(processed, ci_resamples, ci_seed)
    return out
