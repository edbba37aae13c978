"""UCSD Ped1/Ped2 adapters on fabricated copies of every layout, including broken and partial ones."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import fabricate as fab
from vadbench.data.prepare import prepare
from vadbench.data.ucsd import Ped1, Ped2
from vadbench.types import InputSpec
from vadbench.errors import ConfigError, DatasetError

SPEC = InputSpec(fab.H, fab.W, "gray")  # no resize: cached pixels equal the source's


@pytest.fixture(autouse=True)
def tiny_facts(monkeypatch, tmp_path):
    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(Ped2, "facts", fab.UCSD_FACTS)
    monkeypatch.setattr(Ped1, "facts", fab.UCSD_FACTS)


def check_cache(cache, exact: bool) -> None:
    """Counts, names, frame order, labels and masks of the fabricated UCSD copy."""
    assert cache.videos("train") == ["Train001", "Train002"]
    assert cache.videos("test") == ["Test001", "Test002", "Test003"]
    assert cache.lengths("train").tolist() == list(fab.TRAIN) and cache.lengths("test").tolist() == list(fab.TEST)
    for v, name in enumerate(cache.videos("test"), start=1):
        video = cache.video("test", name)
        got = video.frames[:, 0, 0, 0].astype(int)
        want = np.array([fab.value(v, i) for i in range(len(video))])
        assert np.abs(got - want).max() <= (0 if exact else 3), name  # frame i is file i in numeric order
        assert video.labels.tolist() == fab.labels_from(fab.INTERVALS[v - 1], len(video)).tolist()
        masks = video.masks()
        assert masks.shape == (len(video), fab.H, fab.W)
        assert (masks.reshape(len(video), -1).any(1) == video.labels.astype(bool)).all()
    assert cache.protocol == {"gt_source": "ucsd_m"}


def test_original_layout(tmp_path):
    root = fab.ucsd_original(tmp_path / "UCSD_Anomaly_Dataset.v1p2")
    with prepare("ped2", SPEC, root) as cache:
        check_cache(cache, exact=True)
        assert cache.video("train", "Train001").frames[0, 0, 0, 0] == fab.value(11, 0)  # Thumbs.db ignored


def test_root_may_be_the_ucsdpedn_folder_itself(tmp_path):
    root = fab.ucsd_original(tmp_path / "d")
    assert Ped2(root / "UCSDped2").scan().layout == "original"


@pytest.mark.parametrize("labels, masks", [("mat", "archive"), ("npy", "folders"), ("m", "archive")])
def test_repackaged_layout(tmp_path, labels, masks):
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels=labels, masks=masks)
    with prepare("ped2", SPEC, root) as cache:
        check_cache(cache, exact=False)


def test_repackaged_without_masks_has_no_masks(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2", masks="")
    with prepare("ped2", SPEC, root) as cache:
        assert not cache.video("test", "Test001").has_masks


def test_m_file_is_preferred_and_all_sources_agree(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="mat")
    fab.write_m(root / "UCSDped2.m", fab.INTERVALS)
    scan = Ped2(root).scan()
    assert scan.labels.description == "UCSDped2.m" and [s.description for s in scan.alternatives] == ["ped2.mat"]


def test_missing_video_is_an_error_naming_it(tmp_path):
    root = fab.ucsd_original(tmp_path / "d")
    shutil.rmtree(root / "UCSDped2" / "Test" / "Test002")
    with pytest.raises(DatasetError, match="missing, e.g. test video 'Test002'.*--partial"):
        prepare("ped2", SPEC, root)


def test_partial_copy_records_missing_and_keeps_labels_by_video_number(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="npy", masks="folders")
    shutil.rmtree(root / "testing" / "frames" / "02")
    shutil.rmtree(root / "training" / "frames" / "01")
    with prepare("ped2", SPEC, root, partial=True) as cache:
        assert json.loads(cache.attrs["missing"]) == {"train": ["Train001"], "test": ["Test002"]}
        assert cache.missing == {"train": ["Train001"], "test": ["Test002"]}
        assert cache.videos("test") == ["Test001", "Test003"]
        # Test003 keeps the third entry of the labels, not the second: videos are matched by number.
        assert cache.video("test", "Test003").labels.tolist() == fab.labels_from(fab.INTERVALS[2], 5).tolist()


def test_extra_frame_is_an_error_naming_video_and_counts(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2")
    fab.write_frames(root / "testing" / "frames" / "01", 1, 8)  # 8 frames where the copy has 7
    with pytest.raises(DatasetError, match="test video 'Test001' has 8 frame files; the official copy has 7"):
        prepare("ped2", SPEC, root)


def test_gap_in_frame_numbering_is_an_error(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2")
    (root / "testing" / "frames" / "01" / "003.jpg").rename(root / "testing" / "frames" / "01" / "009.jpg")
    with pytest.raises(DatasetError, match=r"'Test001' has gaps in its frame numbering \(missing number\(s\) 3"):
        prepare("ped2", SPEC, root)


def test_unexpected_video_is_an_error(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2")
    fab.write_frames(root / "testing" / "frames" / "04", 4, 5)
    with pytest.raises(DatasetError, match="unexpected test video.*Test004"):
        prepare("ped2", SPEC, root)


def test_corrupt_frame_names_video_and_position(tmp_path):
    root = fab.ucsd_original(tmp_path / "d")
    (root / "UCSDped2" / "Test" / "Test002" / "004.tif").write_bytes(b"not a tiff")
    with pytest.raises(DatasetError, match=r"frame 3 of video 'Test002'.*004\.tif"):
        prepare("ped2", SPEC, root)


def test_label_length_mismatch_gives_both_numbers(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="npy")
    np.save(root / "frame_labels_ped2.npy", np.zeros((1, 17), np.int64))
    with pytest.raises(DatasetError, match="holds 17 labels but the 3 test videos have 18 frames"):
        prepare("ped2", SPEC, root)


def test_interval_beyond_the_video_is_an_error(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="m")
    fab.write_m(root / "UCSDped2.m", [[(3, 5)], [(1, 9)], [(1, 5)]])
    with pytest.raises(DatasetError, match="interval 1-9 of video 'Test002' does not fit its 6 frames"):
        prepare("ped2", SPEC, root)


def test_wrong_number_of_entries_is_an_error(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="mat")
    fab.write_anopred_mat(root / "ped2.mat", fab.INTERVALS[:2])
    with pytest.raises(DatasetError, match="ped2.mat has 2 entries but the dataset has 3 test videos"):
        prepare("ped2", SPEC, root)


def test_label_total_must_match_the_official_one(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="m")
    fab.write_m(root / "UCSDped2.m", [[(4, 5)], [(1, 2), (5, 6)], [(1, 5)]])
    with pytest.raises(DatasetError, match="marks 11 anomalous test frames; the official 'ucsd_m' labels mark 12"):
        prepare("ped2", SPEC, root)


def test_mask_count_mismatch_is_an_error(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2", masks="folders")
    (root / "Test003_gt" / "005.bmp").unlink()
    with pytest.raises(DatasetError, match="pixel-mask count 4 differs from frame count 5 in video 'Test003'"):
        prepare("ped2", SPEC, root)


def test_ped1_refuses_the_community_npy(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped1", n=1, labels="npy", masks="")
    with pytest.raises(DatasetError, match="two frames late"):
        prepare("ped1", SPEC, root)


def test_ped1_mat_is_recorded_as_ano_pred(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped1", n=1, labels="mat", masks="")
    with prepare("ped1", SPEC, root) as cache:
        assert cache.protocol == {"gt_source": "ano_pred_mat"}


def test_unrecognised_root_lists_layouts_and_contents(tmp_path):
    (tmp_path / "root" / "stuff").mkdir(parents=True)
    (tmp_path / "root" / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"not in a recognised layout; looked for the original UCSDped2/Train.*"
                                           r"re-packaged training/frames/NN/.*found: readme.txt, stuff/"):
        prepare("ped2", SPEC, tmp_path / "root")


def test_no_labels_is_an_error_listing_what_was_looked_for(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="", masks="")
    with pytest.raises(DatasetError, match="looked for UCSDped2.m, ped2.mat and frame_labels_ped2.npy"):
        prepare("ped2", SPEC, root)


def test_unknown_option_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown setting 'scenes' for Ped2.Options; valid: tracks"):
        Ped2(tmp_path, scenes="01")
    with pytest.raises(ConfigError, match=r"unknown setting 'scenes' for Ped1; valid: none \(this dataset has no options\)"):
        Ped1(tmp_path, scenes="01")
