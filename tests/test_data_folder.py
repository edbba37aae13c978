"""The ``folder`` adapter: a user's own videos and frame folders with CSV or .npy labels."""

from __future__ import annotations

import numpy as np
import pytest

import fabricate as fab
from vadbench.data.folder import Folder
from vadbench.data.prepare import prepare
from vadbench.types import InputSpec
from vadbench.errors import DatasetError

SPEC = InputSpec(8, 8, "gray")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path / "cache"))


def own_cameras(root):
    fab.write_video(root / "train" / "cam1_day.avi", 1, 6)
    fab.write_frames(root / "train" / "cam2_day", 2, 5, name="frame_{}", ext=".png", first=1)
    fab.write_video(root / "test" / "cam1_night.avi", 3, 6)
    fab.write_frames(root / "test" / "cam2_night", 4, 7, name="img{:05d}", ext=".jpg")
    return root


def test_videos_and_frame_folders_with_csv_labels(tmp_path):
    root = own_cameras(tmp_path / "mine")
    (root / "labels.csv").write_text("video,start,end\ncam1_night,2,3\ncam2_night,0,0\ncam2_night,5,6\n")
    with prepare("folder", SPEC, root) as cache:
        assert cache.videos("train") == ["cam1_day", "cam2_day"] and cache.lengths("train").tolist() == [6, 5]
        assert cache.video("test", "cam1_night").labels.tolist() == [0, 0, 1, 1, 0, 0]
        assert cache.video("test", "cam2_night").labels.tolist() == [1, 0, 0, 0, 0, 1, 1]
        assert cache.protocol == {"gt_source": "csv"}
        frames = cache.video("train", "cam2_day").frames[:, 0, 0, 0].astype(int)
        assert np.abs(frames - [fab.value(2, i) for i in range(5)]).max() <= 1  # 1-based prefixed names, in order


def test_test_video_without_rows_is_normal(tmp_path):
    root = own_cameras(tmp_path / "mine")
    (root / "labels.csv").write_text("video,start,end\ncam1_night,2,3\n")
    with prepare("folder", SPEC, root) as cache:
        assert cache.video("test", "cam2_night").labels.tolist() == [0] * 7


def test_per_video_npy_labels(tmp_path):
    root = own_cameras(tmp_path / "mine")
    (root / "labels").mkdir()
    np.save(root / "labels" / "cam1_night.npy", np.array([0, 1, 1, 0, 0, 0]))
    np.save(root / "labels" / "cam2_night.npy", np.array([[0, 0, 0, 0, 0, 1, 1]]))
    with prepare("folder", SPEC, root) as cache:
        assert cache.video("test", "cam2_night").labels.tolist() == [0, 0, 0, 0, 0, 1, 1]
        assert cache.protocol == {"gt_source": "npy"}


def test_npy_of_the_wrong_length_gives_both_numbers(tmp_path):
    root = own_cameras(tmp_path / "mine")
    (root / "labels").mkdir()
    np.save(root / "labels" / "cam1_night.npy", np.zeros(6))
    np.save(root / "labels" / "cam2_night.npy", np.zeros(9))
    with pytest.raises(DatasetError, match="has 9 labels for video 'cam2_night', which has 7 frames"):
        prepare("folder", SPEC, root)


def test_labels_option_with_a_csv_elsewhere(tmp_path):
    root = own_cameras(tmp_path / "mine")
    csv = tmp_path / "annotations.csv"
    csv.write_text("video,start,end\ncam1_night,0,5\n")
    with prepare("folder", SPEC, root, labels=str(csv)) as cache:
        assert cache.video("test", "cam1_night").labels.tolist() == [1] * 6
    before = Folder(root, labels=str(csv)).fingerprint()
    csv.write_text("video,start,end\ncam1_night,0,4\n# edited\n")
    assert Folder(root, labels=str(csv)).fingerprint() != before  # an edited label file rebuilds the cache


def test_csv_naming_an_absent_video_is_a_missing_video(tmp_path):
    root = own_cameras(tmp_path / "mine")
    (root / "labels.csv").write_text("video,start,end\ncam3_night,2,3\n")
    with pytest.raises(DatasetError, match="test video 'cam3_night'"):
        prepare("folder", SPEC, root)
    with prepare("folder", SPEC, root, partial=True) as cache:
        assert cache.missing == {"test": ["cam3_night"]}


def test_interval_beyond_the_video(tmp_path):
    root = own_cameras(tmp_path / "mine")
    (root / "labels.csv").write_text("video,start,end\ncam1_night,4,6\n")
    with pytest.raises(DatasetError, match="interval 4-6 of video 'cam1_night' does not fit its 6 frames"):
        prepare("folder", SPEC, root)


def test_without_labels_or_split_folders(tmp_path):
    root = own_cameras(tmp_path / "mine")
    with pytest.raises(DatasetError, match="need labels.*labels.csv"):
        prepare("folder", SPEC, root)
    (tmp_path / "other").mkdir()
    with pytest.raises(DatasetError, match="looked for train/ and test/"):
        prepare("folder", SPEC, tmp_path / "other")


def test_same_name_twice_is_an_error(tmp_path):
    root = own_cameras(tmp_path / "mine")
    fab.write_frames(root / "train" / "cam1_day", 1, 3)
    (root / "labels.csv").write_text("video,start,end\n")
    with pytest.raises(DatasetError, match="both video 'cam1_day'"):
        prepare("folder", SPEC, root)
