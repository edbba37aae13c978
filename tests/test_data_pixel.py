"""Pixel-level metrics against a brute-force sweep of every threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from vadbench.errors import VadbenchError
from vadbench.pixel import pixel_metrics, resize_maps, ucsd_frame_scores


def fabricate(seed: int, t: int = 40, h: int = 12, w: int = 16):
    rng = np.random.default_rng(seed)
    masks = np.zeros((t, h, w), bool)
    for i in range(0, t, 2):
        y, x = rng.integers(0, 8, 2)
        masks[i, y:y + rng.integers(1, 5), x:x + rng.integers(1, 7)] = True
    maps = rng.random((t, h, w)) * 0.6 + masks * rng.random((t, 1, 1)) * 0.8
    return np.round(maps, 2).astype(np.float32), masks  # rounding makes ties


def brute_force_auc(maps: np.ndarray, masks: np.ndarray) -> float:
    """The UCSD protocol literally: at every threshold, flag pixels and count frames."""
    anomalous = masks.reshape(len(masks), -1).any(1)
    tpr, fpr = [], []
    for th in np.concatenate([np.unique(maps), [np.inf]]):
        flagged = maps >= th
        hit = np.array([flagged[i][masks[i]].sum() >= 0.4 * masks[i].sum() if anomalous[i] else flagged[i].any()
                        for i in range(len(maps))])
        tpr.append(hit[anomalous].mean())
        fpr.append(hit[~anomalous].mean())
    order = np.lexsort((tpr, fpr))
    return float(np.trapezoid(np.array(tpr)[order], np.array(fpr)[order]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ucsd_auc_equals_the_threshold_sweep(seed):
    maps, masks = fabricate(seed)
    out = pixel_metrics([maps[:15], maps[15:]], [masks[:15], masks[15:]])
    assert out["pixel_auc_ucsd"] == pytest.approx(brute_force_auc(maps, masks), abs=1e-12)
    assert out["pixel_auroc"] == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()), abs=1e-12)
    assert 0 <= out["pixel_eer_ucsd"] <= 1 and out["pixel_frames_evaluated"] == 40


def test_forty_percent_rule():
    masks = np.zeros((2, 1, 10), bool)
    masks[0, 0, :5] = True  # anomalous frame, 5 GT pixels: 2 must be flagged
    maps = np.zeros((2, 1, 10), np.float32)
    maps[0, 0, :5] = [0.9, 0.7, 0.5, 0.3, 0.1]
    maps[1, 0, 3] = 0.6  # normal frame: flagged as soon as θ ≤ 0.6
    anomalous, scores = ucsd_frame_scores(maps, masks)
    assert anomalous.tolist() == [True, False] and scores.tolist() == pytest.approx([0.7, 0.6])


def test_perfect_maps_and_low_resolution_maps():
    maps, masks = fabricate(3)
    out = pixel_metrics([masks.astype(np.float32)], [masks])
    assert out["pixel_auc_ucsd"] == 1.0 and out["pixel_auroc"] == 1.0 and out["pixel_eer_ucsd"] == pytest.approx(0.0)
    small = resize_maps(maps, (6, 8))
    assert small.shape == (40, 6, 8) and resize_maps(small, (12, 16)).shape == (40, 12, 16)
    assert 0.5 < pixel_metrics([small], [masks])["pixel_auroc"] < 1.0


def test_unscored_frames_are_left_out():
    maps, masks = fabricate(4)
    with_nan = maps.copy()
    with_nan[:4] = np.nan
    assert pixel_metrics([with_nan], [masks]) == pytest.approx(pixel_metrics([maps[4:]], [masks[4:]]))


def test_single_class_gives_nan_and_bad_shapes_are_errors():
    masks = np.zeros((3, 4, 4), bool)
    out = pixel_metrics([np.random.rand(3, 4, 4)], [masks])
    assert math.isnan(out["pixel_auc_ucsd"]) and math.isnan(out["pixel_auroc"])
    with pytest.raises(VadbenchError, match="video 0 has maps of shape"):
        pixel_metrics([np.zeros((2, 4, 4))], [masks])
    with pytest.raises(VadbenchError, match="1 videos of maps for 2 videos of masks"):
        pixel_metrics([np.zeros((3, 4, 4))], [masks, masks])
