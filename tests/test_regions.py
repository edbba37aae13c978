"""Region outputs, RBDC/TBDC and ground-truth tracks (docs/protocols.md §6).

The criteria are checked against values worked out by hand below and against a literal,
independent O(thresholds × detections × regions) walk of the definition on random small cases.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from vadbench import regions as regions_module
from vadbench.errors import DatasetError, EvaluationError
from vadbench.rbdc import box_iou, evaluate_videos, rbdc_tbdc
from vadbench.regions import RegionRule, Regions, maps_to_regions, resize_to, run_threshold
from vadbench.tracks import Tracks, read_tracks, tracks_from_masks


def tracks(rows: list[tuple[int, int, tuple[float, float, float, float]]]) -> Tracks:
    """Tracks from (track, frame, box) rows."""
    return Tracks([r[1] for r in rows], [r[2] for r in rows], [r[0] for r in rows], "test")


def dets(rows: list[tuple[int, tuple[float, float, float, float], float]]) -> Regions:
    """Detections from (frame, box, score) rows."""
    return Regions([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


# -- RBDC / TBDC, by hand --

HAND_TRUTH = tracks([(0, 0, (0, 0, 9, 9)), (0, 1, (0, 0, 9, 9)),  # track A: frames 0 and 1
                     (1, 2, (20, 20, 29, 29))])  # track B: frame 2
HAND_DETS = dets([
    (0, (0, 0, 9, 9), 0.9),  # IoU 1 with A's frame-0 region: true positive
    (3, (0, 0, 9, 9), 0.8),  # frame 3 has no ground truth: false positive
    (2, (25, 25, 34, 34), 0.7),  # ∩ 5·5 = 25, ∪ 100 + 100 − 25 = 175, IoU 0.143 ≥ 0.1: hits B
    (1, (7, 7, 16, 16), 0.6),  # ∩ 3·3 = 9, ∪ 191, IoU 0.047 < 0.1: false positive
    (0, (0, 0, 9, 9), 0.5),  # overlaps A's frame-0 region, already matched: neither TP nor FP
])


def test_hand_case_default_alpha():
    # 4 frames, 3 GT regions, 2 tracks. After each threshold (FPR = FP / 4 frames):
    #   0.9: FP 0, FPR 0,    RBDR 1/3, TBDR 1/2 (A has 1/2 ≥ 0.1 of its regions)
    #   0.8: FP 1, FPR 0.25, RBDR 1/3, TBDR 1/2
    #   0.7: FP 1, FPR 0.25, RBDR 2/3, TBDR 2/2
    #   0.6: FP 2, FPR 0.5,  RBDR 2/3, TBDR 1
    #   0.5: FP 2, FPR 0.5,  RBDR 2/3, TBDR 1   (then extended at 2/3 and 1 up to FPR 1)
    # RBDC = 0.25·1/3 + 0.25·2/3 + 0.5·2/3 = 1/12 + 2/12 + 4/12 = 7/12
    # TBDC = 0.25·1/2 + 0.75·1 = 0.875
    r = rbdc_tbdc(HAND_DETS, HAND_TRUTH, 4)
    assert r.rbdc == pytest.approx(7 / 12)
    assert r.tbdc == pytest.approx(0.875)
    np.testing.assert_allclose(r.fpr, [0, 0.25, 0.25, 0.5, 0.5])
    np.testing.assert_allclose(r.rbdr, [1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3])
    assert r.record["n_gt_regions"] == 3 and r.record["n_tracks"] == 2 and r.record["iou"] == "inclusive"


def test_hand_case_alpha_and_continuous_iou():
    # α = 0.6: A needs ⌈0.6·2⌉ = 2 detected regions and its frame-1 region is never hit, so only
    # B counts, from threshold 0.7 (FPR 0.25): TBDC = 0.75·1/2 = 0.375.
    assert rbdc_tbdc(HAND_DETS, HAND_TRUTH, 4, alpha=0.6).tbdc == pytest.approx(0.375)
    # Continuous IoU of the 0.7 detection with B: ∩ 4·4 = 16, ∪ 81 + 81 − 16 = 146, IoU 0.110, still a hit;
    # with β = 0.12 it misses (inclusive 0.143 still hits), so B is found only under "inclusive".
    # continuous, β 0.12: the 0.7 detection is now a false positive: FPR 0, 0.25, 0.5, 0.75, 0.75 with
    # RBDR 1/3 throughout: RBDC = 1/3 (flat from FPR 0 to 1).
    assert rbdc_tbdc(HAND_DETS, HAND_TRUTH, 4, beta=0.12, iou="continuous").rbdc == pytest.approx(1 / 3)
    assert rbdc_tbdc(HAND_DETS, HAND_TRUTH, 4, beta=0.12).rbdc == pytest.approx(7 / 12)


def test_box_iou_conventions():
    a, b = np.array([[0, 0, 9, 9.]]), np.array([[5, 0, 14, 9.]])
    # inclusive: ∩ 5·10 = 50, ∪ 100 + 100 − 50 = 150; continuous: ∩ 4·9 = 36, ∪ 81 + 81 − 36 = 126
    assert box_iou(a, b)[0] == pytest.approx(1 / 3)
    assert box_iou(a, b, "continuous")[0] == pytest.approx(36 / 126)
    one = np.array([[3, 3, 3, 3.]])
    assert box_iou(one, one)[0] == 1.0 and box_iou(one, one, "continuous")[0] == 0.0
    with pytest.raises(EvaluationError, match="iou="):
        box_iou(a, b, "pascal")


def test_curve_cut_at_fpr_one_and_ties():
    truth = tracks([(0, 0, (0, 0, 9, 9))])
    # 2 frames. Score 0.9: one FP (FPR 0.5, RBDR 0). Score 0.5, tied: the hit and three FPs at once
    # (FPR 2.0, RBDR 1). The segment (0.5, 0) → (2, 1) is cut at FPR 1, where RBDR = 0.5 / 1.5 = 1/3:
    # RBDC = the triangle 0.5 · (1/3) / 2 = 1/12.
    d = dets([(1, (0, 0, 5, 5), 0.9), (0, (0, 0, 9, 9), 0.5)] + [(1, (0, 0, 5, 5), 0.5)] * 3)
    r = rbdc_tbdc(d, truth, 2)
    assert r.rbdc == pytest.approx(1 / 12) and r.tbdc == pytest.approx(1 / 12)
    # No detection at all: area 0; a perfect, FP-free detection: area 1.
    assert rbdc_tbdc(Regions.empty(), truth, 2).rbdc == 0.0
    assert rbdc_tbdc(dets([(0, (0, 0, 9, 9), 0.1)]), truth, 2).rbdc == 1.0


def test_alpha_compares_the_fraction():
    # 150 regions in one track, α = 0.34; 51 detected: 51/150 ≥ 0.34 holds, although ⌈0.34·150⌉ is 52
    # in floating point (0.34·150 = 51.00000000000001).
    truth = tracks([(0, f, (0, 0, 9, 9)) for f in range(150)])
    found = lambda k: rbdc_tbdc(dets([(f, (0, 0, 9, 9), 1.0) for f in range(k)]), truth, 150, alpha=0.34)  # noqa: E731
    assert found(51).tbdr[-1] == 1.0 and found(50).tbdr[-1] == 0.0


def _brute(det_rows, gt_rows, n_frames, alpha, beta, iou):
    """The definition as written: for each threshold, walk the detections in descending score."""
    one = 1 if iou == "inclusive" else 0

    def overlap(a, b):
        iw = max(0, min(a[2], b[2]) - max(a[0], b[0]) + one)
        ih = max(0, min(a[3], b[3]) - max(a[1], b[1]) + one)
        union = (a[2] - a[0] + one) * (a[3] - a[1] + one) + (b[2] - b[0] + one) * (b[3] - b[1] + one) - iw * ih
        return iw * ih / union if union > 0 else 0.0

    walk = sorted(det_rows, key=lambda r: -r[2])
    track_ids = sorted({t for t, _, _ in gt_rows})
    rb, tb = [(0.0, 0.0)], [(0.0, 0.0)]
    for t in sorted({s for _, _, s in det_rows}, reverse=True):
        matched, fp = set(), 0
        for frame, box, score in walk:
            if score < t:
                break
            hits = [j for j, (_, f, g) in enumerate(gt_rows) if f == frame and overlap(box, g) >= beta]
            if not hits:
                fp += 1
            for j in hits:
                if j not in matched:
                    matched.add(j)
        found = 0
        for k in track_ids:
            members = [j for j, (tk, _, _) in enumerate(gt_rows) if tk == k]
            if sum(j in matched for j in members) / len(members) >= alpha:
                found += 1
        rb.append((fp / n_frames, len(matched) / len(gt_rows)))
        tb.append((fp / n_frames, found / len(track_ids)))

    def area(points):
        total = 0.0
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            if x0 >= 1:
                return total
            if x1 > 1:  # the segment that crosses FPR = 1 is the last one counted
                y1 = y0 + (y1 - y0) * (1 - x0) / (x1 - x0)
                return total + (1 - x0) * (y0 + y1) / 2
            total += (x1 - x0) * (y0 + y1) / 2
        return total + (1 - points[-1][0]) * points[-1][1]  # never past 1: extended at the last rate

    return area(rb), area(tb)


@pytest.mark.parametrize("seed", range(40))
def test_matches_brute_force_walk(seed):
    rng = np.random.default_rng(seed)
    n_frames = int(rng.integers(1, 6))

    def box():
        x, y = rng.integers(0, 10, 2)
        return (float(x), float(y), float(x + rng.integers(0, 6)), float(y + rng.integers(0, 6)))

    gt_rows = [(int(rng.integers(0, 3)), int(rng.integers(0, n_frames)), box()) for _ in range(rng.integers(1, 9))]
    det_rows = [(int(rng.integers(0, n_frames)), box(), float(rng.choice([0.1, 0.4, 0.5, 0.9])))
                for _ in range(rng.integers(0, 14))]
    alpha = float(rng.choice([0.1, 0.34, 0.5, 1.0]))
    beta = float(rng.choice([0.1, 0.3]))
    iou = str(rng.choice(["inclusive", "continuous"]))
    expected = _brute(det_rows, gt_rows, n_frames, alpha, beta, iou)
    got = rbdc_tbdc(dets(det_rows) if det_rows else Regions.empty(), tracks(gt_rows), n_frames,
                    alpha=alpha, beta=beta, iou=iou)
    assert (got.rbdc, got.tbdc) == pytest.approx(expected, abs=1e-12)


def test_videos_are_kept_apart():
    # The same box in frame 0 of video 0 must not match video 1's region in its frame 0.
    truth = [Tracks([], np.zeros((0, 4)), [], "test"), tracks([(7, 0, (0, 0, 9, 9))])]
    miss = evaluate_videos([dets([(0, (0, 0, 9, 9), 1.0)]), Regions.empty()], truth, [2, 2])
    hit = evaluate_videos([Regions.empty(), dets([(0, (0, 0, 9, 9), 1.0)])], truth, [2, 2])
    # The miss is one FP over 4 frames: FPR 0.25, RBDR 0, so the area is 0.
    assert miss.rbdc == 0.0 and miss.fpr[-1] == 0.25 and hit.rbdc == 1.0


def test_bad_inputs_are_one_line():
    with pytest.raises(EvaluationError, match="no ground-truth regions"):
        rbdc_tbdc(HAND_DETS, Tracks([], np.zeros((0, 4)), [], "test"), 4)
    with pytest.raises(EvaluationError, match="beyond the 3 test frames"):
        rbdc_tbdc(HAND_DETS, HAND_TRUTH, 3)
    with pytest.raises(EvaluationError, match="x1 < x0"):
        dets([(0, (5, 0, 4, 9), 1.0)])
    with pytest.raises(EvaluationError, match="NaN"):
        dets([(0, (0, 0, 4, 9), float("nan"))])
    with pytest.raises(EvaluationError, match="mixed ground-truth sources"):
        Tracks.concat([HAND_TRUTH, tracks_from_masks(np.ones((1, 2, 2)))], [4, 1])


def test_shanghaitech_sized_case_takes_seconds():
    # 40,791 frames, one GT region on ~42 % of them (tracks of 100 frames), 3 detections per frame.
    rng = np.random.default_rng(0)
    n = 40791
    anomalous = np.flatnonzero(rng.random(n) < 0.42)
    xy = rng.uniform(0, 700, (len(anomalous), 2))
    truth = Tracks(anomalous, np.hstack([xy, xy + 80]), anomalous // 100, "test")
    frames = rng.integers(0, n, 3 * n)
    xy = rng.uniform(0, 700, (3 * n, 2))
    start = time.perf_counter()
    r = rbdc_tbdc(Regions(frames, np.hstack([xy, xy + 60]), rng.random(3 * n)), truth, n)
    assert time.perf_counter() - start < 5.0
    assert 0.0 <= r.tbdc <= 1.0 and len(r.thresholds) == 3 * n


# -- region extraction --

def test_maps_to_regions_by_hand():
    maps = np.zeros((3, 6, 8), np.float32)
    maps[0, 1:3, 1:4] = [[0.5, 0.6, 0.7], [0.5, 0.5, 0.9]]  # a 2×3 blob: max 0.9, mean 3.7 / 6
    maps[0, 4, 6] = 0.8  # a single pixel
    maps[0, 3, 4] = 0.6  # row 3, column 4: diagonal to the blob's pixel (2, 3)
    maps[2] = np.nan  # unscored frame: no region
    r = maps_to_regions(maps, (6, 8), 0.5)
    # 8-connectivity joins (3, 4) to the blob: box x 1..4, y 1..3; the single pixel stays alone.
    order = np.argsort(r.boxes[:, 0])
    np.testing.assert_array_equal(r.frame, [0, 0])
    np.testing.assert_array_equal(r.boxes[order], [[1, 1, 4, 3], [6, 4, 6, 4]])
    np.testing.assert_allclose(r.scores[order], [0.9, 0.8])
    four = maps_to_regions(maps, (6, 8), 0.5, RegionRule(connectivity=4, score="mean"))
    order = np.lexsort((four.boxes[:, 1], four.boxes[:, 0]))
    np.testing.assert_array_equal(four.boxes[order], [[1, 1, 3, 2], [4, 3, 4, 3], [6, 4, 6, 4]])
    np.testing.assert_allclose(four.scores[order], [3.7 / 6, 0.6, 0.8], rtol=1e-6)


@pytest.mark.parametrize("score", ["max", "mean"])
def test_maps_to_regions_matches_per_frame_labelling(score, monkeypatch):
    monkeypatch.setattr(regions_module, "_LABEL_PIXELS", 3 * 13 * 17)  # several stacked chunks
    rng = np.random.default_rng(1)
    maps = ndimage.uniform_filter(rng.random((7, 12, 17)), size=(1, 3, 3)).astype(np.float32)
    threshold = float(np.quantile(maps, 0.8))
    got = maps_to_regions(maps, (12, 17), threshold, RegionRule(score=score))
    expected = []
    for t, m in enumerate(maps):  # scipy's labelling, frame by frame
        labels, n = ndimage.label(m >= threshold, structure=np.ones((3, 3)))
        for k, sl in enumerate(ndimage.find_objects(labels)):
            values = m[labels == k + 1]
            expected.append((t, sl[1].start, sl[0].start, sl[1].stop - 1, sl[0].stop - 1,
                             float(values.max() if score == "max" else values.mean())))
    rows = [(int(f), *map(int, b), float(s)) for f, b, s in zip(got.frame, got.boxes, got.scores)]
    rows, expected = sorted(rows), sorted(expected)
    assert [r[:5] for r in rows] == [e[:5] for e in expected] and len(rows) > 10
    np.testing.assert_allclose([r[5] for r in rows], [e[5] for e in expected], rtol=1e-6)


def test_resize_matches_opencv_per_frame():
    import cv2

    maps = np.random.default_rng(2).random((130, 5, 7)).astype(np.float32)  # more frames than one OpenCV call takes
    out = resize_to(maps, (12, 9))
    assert out.shape == (130, 12, 9)
    for t in (0, 127, 128, 129):
        np.testing.assert_allclose(out[t], cv2.resize(maps[t], (9, 12), interpolation=cv2.INTER_LINEAR), rtol=1e-6)


def test_run_threshold_and_rule_record():
    maps = [np.arange(100, dtype=np.float32).reshape(1, 10, 10), np.full((1, 2, 2), np.nan)]
    # the top 10 % of 0..99 lie above the 0.9 quantile, 89.1
    assert run_threshold(maps, 0.1) == pytest.approx(89.1)
    # subsampled (every 4th value of the run: 0, 4, ..., 96): its 0.9 quantile is 86.4
    assert run_threshold(maps, 0.1, max_values=26) == pytest.approx(86.4)
    record = RegionRule().record(89.1)
    assert record["rule"] == "top_fraction" and record["uses_test_statistics"] and record["score"] == "max"
    assert RegionRule(threshold=0.5).record()["uses_test_statistics"] is False
    with pytest.raises(EvaluationError, match="top_fraction"):
        RegionRule(top_fraction=1.5)


def test_perfect_maps_score_one_against_mask_tracks():
    masks = np.zeros((5, 20, 30), np.uint8)
    for t in range(5):
        masks[t, 5:10, 3 + 2 * t:9 + 2 * t] = 1  # one object moving right, overlapping itself
    truth = tracks_from_masks(masks)
    perfect = maps_to_regions(masks.astype(np.float32), (20, 30), 0.5)
    shifted = maps_to_regions(np.roll(masks, 12, axis=1).astype(np.float32), (20, 30), 0.5)
    assert truth.n_tracks == 1 and truth.gt_source == "masks"
    assert rbdc_tbdc(perfect, truth, 5).rbdc == 1.0 and rbdc_tbdc(perfect, truth, 5).tbdc == 1.0
    assert rbdc_tbdc(shifted, truth, 5).rbdc == 0.0  # 5 FPs in 5 frames: FPR 1 before any hit


# -- ground-truth tracks --

def test_tracks_from_masks(monkeypatch):
    masks = np.zeros((6, 10, 12), np.uint8)
    for t in range(4):
        masks[t, 1:3, t:t + 3] = 1  # A: frames 0-3, moving one pixel per frame
    masks[2:6, 6:9, 8:11] = 1  # B: frames 2-5, still
    masks[5, 0:2, 0:2] = 1  # C: frame 5, touching nothing of frame 4
    expected = {(0, 0, 1, 2, 2), (1, 1, 1, 3, 2), (2, 2, 1, 4, 2), (3, 3, 1, 5, 2)}
    for pixels in (1 << 24, 11 * 12):  # one labelling call, or one call per frame
        monkeypatch.setattr(regions_module, "_LABEL_PIXELS", pixels)
        tr = tracks_from_masks(masks)
        groups = {}
        for f, b, k in zip(tr.frame, tr.boxes, tr.track):
            groups.setdefault(int(k), set()).add((int(f), *map(int, b)))
        assert sorted(map(len, groups.values())) == [1, 4, 4]
        assert expected in groups.values()
        assert {(5, 0, 0, 1, 1)} in groups.values()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Test001.txt"
    path.write_text(text)
    return path


def test_read_tracks_centre_layout(tmp_path):
    # MERL rows (1-based frames): centre (10, 20), 5 × 3 pixels → x 8..12, y 19..21; a box at the
    # right edge, centre 358, width 7 → x 355..361, clipped to 359 (Ped2 is 360 wide).
    path = write(tmp_path, "# comment\n1 1 10 20 5 3\n\n1, 2, 11, 20, 5, 3\n2 5 358 100 7 9\n")
    tr = read_tracks(path, layout="centre", image_size=(240, 360), n_frames=5)
    np.testing.assert_array_equal(tr.frame, [0, 1, 4])
    np.testing.assert_array_equal(tr.boxes, [[8, 19, 12, 21], [9, 19, 13, 21], [355, 96, 359, 104]])
    assert tr.n_tracks == 2 and tr.gt_source == "track_file" and tr.origin["layout"] == "centre"


def test_read_tracks_corners_layout(tmp_path):
    path = write(tmp_path, "3 0 10 20 30 40\n3 1 11 20 31 40\n4 1 0 0 855 479\n")
    tr = read_tracks(path, layout="corners", image_size=(480, 856), n_frames=2)
    np.testing.assert_array_equal(tr.track, [3, 3, 4])
    np.testing.assert_array_equal(tr.boxes[2], [0, 0, 855, 479])


@pytest.mark.parametrize("text, layout, message", [
    ("1 1 10 20 5\n", "centre", ":1: 5 fields; expected 6"),
    ("1 1 10 20 5 3\n1 x 10 20 5 3\n", "centre", ":2: not a number"),
    ("1 1.5 10 20 5 3\n", "centre", ":1: track id and frame must be integers"),
    ("1 1 10 20 5 3\n1 0 10 20 5 3\n", "centre", ":2: frame 0 is outside the video's frames 1..5"),
    ("1 6 10 20 5 3\n", "centre", ":1: frame 6 is outside"),
    ("1 1 10 20 0 3\n", "centre", "width and height must be positive"),
    ("1 1 400 20 5 3\n", "centre", "entirely outside the 360×240 image"),
    ("1 0 10 20 360 30\n", "corners", ":1: the box is outside the 360×240 image"),
    ("1 0 10 20 5 30\n", "corners", "x_max < x_min"),
    ("1 1 10 20 5 3\n2 1 10 20 5 3\n1 1 12 20 5 3\n", "centre", ":3: a second region for the same track and frame"),
])
def test_read_tracks_bad_files(tmp_path, text, layout, message):
    path = write(tmp_path, text)
    with pytest.raises(DatasetError) as err:
        read_tracks(path, layout=layout, image_size=(240, 360), n_frames=5)
    assert str(err.value).startswith(str(path)) and message in str(err.value) and "\n" not in str(err.value)


def test_read_tracks_missing_file_and_layout(tmp_path):
    with pytest.raises(DatasetError, match="cannot read track file"):
        read_tracks(tmp_path / "none.txt", layout="centre", image_size=(240, 360), n_frames=5)
    with pytest.raises(DatasetError, match="unknown layout"):
        read_tracks(write(tmp_path, ""), layout="xywh", image_size=(240, 360), n_frames=5)
