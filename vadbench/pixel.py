"""Pixel-level metrics for detectors that return per-pixel anomaly maps (``docs/protocols.md`` §5).

* ``pixel_auc_ucsd`` / ``pixel_eer_ucsd``: the UCSD protocol (Mahadevan et al., CVPR 2010; Li et
  al., TPAMI 2014). Maps are resized bilinearly to the mask size; at threshold θ a pixel is
  flagged when its value is ≥ θ; an anomalous frame (non-empty mask) is a true positive when at
  least 40 % of its ground-truth pixels are flagged, a normal frame a false positive when any
  pixel is. Sweeping θ gives the ROC. Each frame is decided by one number, the largest θ at
  which it counts as detected: for an anomalous frame the k-th largest map value on its
  ground-truth pixels (k = ⌈0.4·n⌉), for a normal frame its maximum. The ROC of these per-frame
  numbers is exactly the protocol's ROC, so no threshold is ever looped over.
* ``pixel_auroc``: ROC AUC over all pixels of all frames (MVTec-style; a different quantity),
  computed exactly, one video's normal pixels sorted at a time, never all pixels at once.

Frames whose map holds a NaN (frames the detector could not score) are left out of both, and
their number is reported as ``pixel_frames_evaluated``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from vadbench.errors import VadbenchError
from vadbench.metrics import eer

def resize_maps(maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``[T, h, w]`` maps resized bilinearly to ``shape`` (H, W) as float32 (half-pixel centres, as OpenCV)."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.shape[1:] == tuple(shape):
        return maps
    with torch.inference_mode():
        out = F.interpolate(torch.from_numpy(maps)[:, None], size=tuple(shape), mode="bilinear", align_corners=False)
    return out[:, 0].numpy()


def ucsd_frame_scores(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: (is anomalous, the largest threshold at which the frame counts as detected)."""
    flat_maps = maps.reshape(len(maps), -1)
    flat_masks = masks.reshape(len(masks), -1)
    gt_pixels = flat_masks.sum(axis=1)
    anomalous = gt_pixels > 0
    scores = flat_maps.max(axis=1).astype(np.float64)  # normal frames: flagged iff max ≥ θ
    if anomalous.any():
        values = flat_maps[flat_masks]  # frame-major order
        frames = np.repeat(np.arange(len(maps)), gt_pixels)
        order = np.lexsort((-values, frames))  # per frame, descending values
        start = np.concatenate([[0], np.cumsum(gt_pixels)[:-1]])
        k = (2 * gt_pixels + 4) // 5  # ⌈0.4·n⌉ in integers: the pixels that must be flagged
        rows = np.flatnonzero(anomalous)
        scores[rows] = values[order[start[rows] + k[rows] - 1]]
    return anomalous, scores


def pixel_metrics(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> dict[str, float]:
    """UCSD pixel-level AUC and EER and the all-pixel AUROC of per-video maps against masks.

    ``maps[i]``: float ``[T, h, w]`` of video ``i`` (any resolution); ``masks[i]``: ``[T, H, W]``
    ground truth (non-zero = anomalous) at source resolution.
    """
    if len(maps) != len(masks):
        raise VadbenchError(f"pixel metrics: {len(maps)} videos of maps for {len(masks)} videos of masks")
    videos = []
    for i, (m, g) in enumerate(zip(maps, masks)):
        m, g = np.asarray(m), np.asarray(g) != 0
        if m.ndim != 3 or g.ndim != 3 or len(m) != len(g):
            raise VadbenchError(f"pixel metrics: video {i} has maps of shape {m.shape} for masks of shape {g.shape}; "
                                "expected [T, h, w] and [T, H, W] with the same T")
        keep = ~np.isnan(m).any(axis=(1, 2))
        videos.append((m[keep], g[keep]))
    flags, scores, positives = [], [], []
    for m, g in videos:  # pass 1: per-frame UCSD numbers and every anomalous pixel's value
        r = resize_maps(m, g.shape[1:])
        a, s = ucsd_frame_scores(r, g)
        flags.append(a)
        scores.append(s)
        positives.append(r[g])
    y, s = np.concatenate(flags).astype(np.int64), np.concatenate(scores)
    out = {"pixel_frames_evaluated": float(len(y))}
    two_classes = 0 < y.sum() < len(y)
    out["pixel_auc_ucsd"] = float(roc_auc_score(y, s)) if two_classes else math.nan
    out["pixel_eer_ucsd"] = eer(y, s) if two_classes else math.nan
    pos = np.sort(np.concatenate(positives))
    below = ties = negatives = 0
    for m, g in videos:  # pass 2: for every anomalous pixel, the normal pixels scored below it / equal to it
        neg = np.sort(resize_maps(m, g.shape[1:])[~g])
        lo, hi = np.searchsorted(neg, pos, side="left"), np.searchsorted(neg, pos, side="right")
        below += int(lo.sum())
        ties += int((hi - lo).sum())
        negatives += len(neg)
    out["pixel_auroc"] = (below + 0.5 * ties) / (len(pos) * negatives) if len(pos) and negatives else math.nan
    return out
