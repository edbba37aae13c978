"""ShanghaiTech adapter: training videos decoded in the build, MNAD's layout, scene subsets."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

import fabricate as fab
from vadbench.data.layout import SplitFacts
from vadbench.data.prepare import prepare
from vadbench.data.shanghaitech import ShanghaiTech, parse_scenes
from vadbench.types import InputSpec
from vadbench.errors import ConfigError, DatasetError

SPEC = InputSpec(8, 8, "gray")


@pytest.fixture(autouse=True)
def tiny_facts(monkeypatch, tmp_path):
    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ShanghaiTech, "facts", fab.SHANGHAI_FACTS)


def test_original_layout(tmp_path):
    root = fab.shanghaitech(tmp_path / "sh")
    with prepare("shanghaitech", SPEC, root) as cache:
        assert cache.videos("train") == list(fab.SH_TRAIN) and cache.lengths("train").tolist() == list(fab.SH_TRAIN.values())
        assert cache.videos("test") == list(fab.SH_TEST)
        for name, labels in fab.SH_LABELS.items():
            video = cache.video("test", name)
            assert video.labels.tolist() == labels
            assert video.masks().reshape(len(video), -1).any(1).tolist() == [bool(x) for x in labels]
        assert cache.protocol == {"gt_source": "frame_mask", "scenes": "all"}


def test_mnad_layout_with_one_d_concatenated_labels(tmp_path):
    root = fab.shanghaitech(tmp_path / "sh", train="frames", labels="concat")
    assert ShanghaiTech(root).scan().layout == "re-packaged (extracted training frames)"
    with prepare("shanghaitech", SPEC, root) as cache:
        assert cache.lengths("train").tolist() == list(fab.SH_TRAIN.values())
        assert {n: cache.video("test", n).labels.tolist() for n in fab.SH_TEST} == fab.SH_LABELS


def test_scene_subset(tmp_path):
    root = fab.shanghaitech(tmp_path / "sh", train="frames", labels="concat")
    with prepare("shanghaitech", SPEC, root, scenes="4") as cache:
        assert cache.videos("train") == ["04_001"] and cache.videos("test") == ["04_0011"]
        assert cache.video("test", "04_0011").labels.tolist() == fab.SH_LABELS["04_0011"]
        assert cache.protocol["scenes"] == "04"


def test_parse_scenes():
    assert parse_scenes("01, 4") == ("01", "04") and parse_scenes("all") is None and parse_scenes(None) is None
    with pytest.raises(ConfigError, match="scene '14'"):
        parse_scenes("14")


def test_total_training_frames_must_match(tmp_path, monkeypatch):
    root = fab.shanghaitech(tmp_path / "sh", train="frames")
    monkeypatch.setattr(ShanghaiTech, "facts", dataclasses.replace(fab.SHANGHAI_FACTS, train=SplitFacts(3, 16)))
    with pytest.raises(DatasetError, match="train has 15 frames in 3 videos; the official copy has 16"):
        prepare("shanghaitech", SPEC, root)


def test_missing_test_video_is_named_by_its_label_file(tmp_path):
    root = fab.shanghaitech(tmp_path / "sh")
    shutil.rmtree(root / "testing" / "frames" / "04_0011")
    with pytest.raises(DatasetError, match="test video '04_0011'"):
        prepare("shanghaitech", SPEC, root)
    with prepare("shanghaitech", SPEC, root, partial=True) as cache:
        assert cache.missing == {"test": ["04_0011"]}


def test_missing_training_video_is_counted(tmp_path):
    root = fab.shanghaitech(tmp_path / "sh")
    (root / "training" / "videos" / "01_002.avi").unlink()
    with pytest.raises(DatasetError, match="1 of 3 train videos"):
        prepare("shanghaitech", SPEC, root)


def test_concatenated_labels_of_the_wrong_length(tmp_path):
    root = fab.shanghaitech(tmp_path / "sh", train="frames", labels="concat")
    np.save(root / "frame_labels_shanghai.npy", np.zeros(8, np.uint8))
    with pytest.raises(DatasetError, match="holds 8 labels but the 2 test videos have 9 frames"):
        prepare("shanghaitech", SPEC, root)
