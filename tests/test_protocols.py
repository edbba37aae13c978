import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from vadbench.metrics import evaluate, fill_nearest, padded_auc, process_video
from vadbench.protocols import Protocol

RAW = Protocol(name="t", drop_first=0, normalisation="none")


def test_fill_nearest_replicates_edges_and_gaps():
    s = np.array([np.nan, np.nan, 1.0, np.nan, np.nan, np.nan, 5.0, np.nan])
    assert fill_nearest(s).tolist() == [1, 1, 1, 1, 1, 5, 5, 5]  # ties go left
    assert np.isnan(fill_nearest(np.full(3, np.nan))).all()


def test_micro_auc_concatenates_videos():
    a = (np.array([0.1, 0.2, 0.9]), np.array([0, 0, 1]))
    b = (np.array([0.5, 0.6, 0.3]), np.array([0, 1, 0]))
    m = evaluate([a, b], RAW)
    expected = roc_auc_score([0, 0, 1, 0, 1, 0], [0.1, 0.2, 0.9, 0.5, 0.6, 0.3])
    assert m["auc_micro"] == pytest.approx(expected)
    assert m["frames_evaluated"] == 6


def test_per_video_minmax_changes_micro_but_not_macro():
    a = (np.array([10.0, 11.0, 12.0, 13.0]), np.array([0, 0, 1, 1]))
    b = (np.array([0.0, 1.0, 2.0, 3.0]), np.array([0, 1, 1, 1]))
    raw = evaluate([a, b], RAW)
    norm = evaluate([a, b], Protocol(name="t", drop_first=0))
    assert norm["auc_micro"] != pytest.approx(raw["auc_micro"])
    assert norm["auc_macro"] == pytest.approx(raw["auc_macro"])


def test_padded_macro_matches_the_closed_form():
    # docs/protocols.md §4.2: padded AUC = (U + n0 + n1 + 1) / ((n0 + 1)(n1 + 1))
    scores = np.array([0.3, 0.1, 0.4, 0.2, 0.8])
    labels = np.array([0, 0, 1, 1, 1])
    n0, n1 = 2, 3
    u = sum((s1 > s0) + 0.5 * (s1 == s0) for s0 in scores[labels == 0] for s1 in scores[labels == 1])
    assert padded_auc(labels, scores) == pytest.approx((u + n0 + n1 + 1) / ((n0 + 1) * (n1 + 1)))


def test_single_class_video_is_defined_by_padding_and_skipped_otherwise():
    a = (np.array([0.1, 0.9, 0.5]), np.array([1, 1, 1]))
    b = (np.array([0.1, 0.9]), np.array([0, 1]))
    m = evaluate([a, b], RAW)
    assert m["auc_macro"] == pytest.approx((padded_auc(*a[::-1]) + padded_auc(*b[::-1])) / 2)
    assert m["macro_skip_videos"] == 1 and m["auc_macro_skip"] == 1.0


def test_nan_frames_are_filled_then_the_first_frames_dropped():
    s = np.array([np.nan, np.nan, np.nan, np.nan, 0.2, 0.7])
    y = np.array([1, 1, 1, 1, 0, 1])
    out, labels = process_video(s, y, Protocol(name="t", drop_first=4, normalisation="none"))
    assert out.tolist() == [0.2, 0.7] and labels.tolist() == [0, 1]


def test_eer_of_a_symmetric_case():
    # scores perfectly separable except one swap on each side -> EER = 1/4
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.65, 0.6, 0.7, 0.8, 0.9])
    m = evaluate([(scores, labels)], RAW)
    assert m["eer"] == pytest.approx(0.25, abs=1e-9)
    assert 0 < m["aupr"] <= 1


def test_smoothing_is_recorded_and_applied():
    s = np.array([0, 0, 1, 0, 0, 0, 1, 1, 1, 0], float)
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 0])
    p = Protocol(name="t", drop_first=0, normalisation="none", smoothing_sigma=1.0)
    out, _ = process_video(s, y, p)
    assert out[2] < 1 and p.record()["smoothing_sigma"] == 1.0


def test_one_class_overall_is_an_error():
    with pytest.raises(ValueError, match="one class"):
        evaluate([(np.array([0.1, 0.2]), np.array([1, 1]))], RAW)


def test_raw_metric_uses_raw_scores_and_refuses_to_leak():
    a = (np.array([0.0, 1.0, 0.2, 0.9]), np.array([0, 1, 0, 1]))
    b = (np.array([1.0, 0.0, 0.5]), np.array([1, 0, 0]))
    inside = Protocol(name="t", drop_first=0, normalisation="none", detector_normalisation="per_video_minmax")
    assert np.isnan(evaluate([a, b], inside)["auc_micro_raw"])  # no raw scores: NaN, not a leaked number
    raw = [np.array([5.0, 9.0, 6.0, 8.0]), np.array([1.0, 0.0, 0.5])]
    m = evaluate([a, b], inside, raw)
    assert m["auc_micro_raw"] == pytest.approx(roc_auc_score([0, 1, 0, 1, 1, 0, 0], np.concatenate(raw)))
