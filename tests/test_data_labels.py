"""Ground-truth parsers: UCSD .m, ano_pred .mat, MNAD .npy, Avenue volLabel, interval CSV."""

from __future__ import annotations

import numpy as np
import pytest

from fabricate import labels_from, write_anopred_mat, write_vol_label
from vadbench.data.labels import (avenue_mask_labels, avenue_masks, intervals_to_labels, load_anopred_mat,
                                  load_interval_csv, load_npy_labels, parse_ucsd_m, split_concatenated)
from vadbench.errors import DatasetError


def test_ucsd_m_with_several_events(tmp_path):
    path = tmp_path / "UCSDped1.m"
    path.write_text("TestVideoFile = {};\n% a comment\nTestVideoFile{end+1}.gt_frame = [60:152];\n"
                    "TestVideoFile{end+1}.gt_frame = [5:90, 140:200];\nTestVideoFile{end+1}.gt_frame = [];\n")
    assert parse_ucsd_m(path) == [[(60, 152)], [(5, 90), (140, 200)], []]


def test_ucsd_m_without_entries_is_an_error(tmp_path):
    (tmp_path / "x.m").write_text("disp('hello')\n")
    with pytest.raises(DatasetError, match="no `gt_frame"):
        parse_ucsd_m(tmp_path / "x.m")


def test_anopred_mat_handles_two_by_k_and_one_d_entries(tmp_path):
    write_anopred_mat(tmp_path / "a.mat", [[(61, 180)], [(1, 45), (100, 150)], [(300, 310)]])
    assert load_anopred_mat(tmp_path / "a.mat") == [[(61, 180)], [(1, 45), (100, 150)], [(300, 310)]]


def test_intervals_to_labels_is_inclusive_and_checks_bounds():
    assert intervals_to_labels([(2, 3)], 5, "v", "f").tolist() == [0, 1, 1, 0, 0]
    assert intervals_to_labels([(0, 1)], 3, "v", "f", first=0).tolist() == [1, 1, 0]
    with pytest.raises(DatasetError, match="interval 61-185 of video 'Test001' does not fit its 180 frames"):
        intervals_to_labels([(61, 185)], 180, "Test001", "UCSDped2.m")


@pytest.mark.parametrize("shape", [(1, 10), (10,)])
def test_npy_labels_accept_both_mnad_shapes(tmp_path, shape):
    np.save(tmp_path / "l.npy", (np.arange(10) % 2).reshape(shape))
    assert load_npy_labels(tmp_path / "l.npy").tolist() == [0, 1] * 5


def test_npy_labels_reject_other_shapes_and_values(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 5)))
    with pytest.raises(DatasetError, match=r"shape \(2, 5\)"):
        load_npy_labels(tmp_path / "a.npy")
    np.save(tmp_path / "b.npy", np.array([0, 2, 1]))
    with pytest.raises(DatasetError, match="expected 0 and 1"):
        load_npy_labels(tmp_path / "b.npy")


def test_split_concatenated_names_both_counts():
    parts = split_concatenated(np.arange(5), [("a", 2), ("b", 3)], "f.npy")
    assert parts["a"].tolist() == [0, 1] and parts["b"].tolist() == [2, 3, 4]
    with pytest.raises(DatasetError, match="f.npy holds 5 labels but the 2 test videos have 6 frames"):
        split_concatenated(np.arange(5), [("a", 3), ("b", 3)], "f.npy")


def test_avenue_vol_label(tmp_path):
    write_vol_label(tmp_path / "1_label.mat", [(2, 3)], 5)
    masks = list(avenue_masks(tmp_path / "1_label.mat"))
    assert len(masks) == 5 and masks[1].dtype == bool and masks[1].any() and not masks[0].any()
    assert avenue_mask_labels(tmp_path / "1_label.mat").tolist() == labels_from([(2, 3)], 5).tolist()


def test_interval_csv(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("# my annotations\nvideo,start,end,note\ncam1,10,20,fight\n\ncam1, 30 ,31,\ncam2,0,0,x\n")
    assert load_interval_csv(path) == {"cam1": [(10, 20), (30, 31)], "cam2": [(0, 0)]}


def test_interval_csv_errors(tmp_path):
    (tmp_path / "a.csv").write_text("name,from,to\ncam1,1,2\n")
    with pytest.raises(DatasetError, match="video,start,end"):
        load_interval_csv(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("video,start,end\ncam1,1.5,2\n")
    with pytest.raises(DatasetError, match="data row 1.*'1.5'"):
        load_interval_csv(tmp_path / "b.csv")
