"""CUHK Avenue adapter: original videos with volLabel masks, both label versions, re-packaged frames."""

from __future__ import annotations

import pytest

import fabricate as fab
from vadbench.data.avenue import Avenue
from vadbench.data.prepare import prepare
from vadbench.types import InputSpec
from vadbench.errors import ConfigError, DatasetError

SPEC = InputSpec(8, 8, "rgb")


@pytest.fixture(autouse=True)
def tiny_facts(monkeypatch, tmp_path):
    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(Avenue, "facts", fab.AVENUE_FACTS)


def test_original_layout_defaults_to_interval_labels(tmp_path):
    root = fab.avenue_original(tmp_path / "avenue")
    with prepare("avenue", SPEC, root) as cache:
        assert cache.videos("train") == ["01", "02"] and cache.lengths("train").tolist() == list(fab.AV_TRAIN)
        assert cache.lengths("test").tolist() == list(fab.AV_TEST)
        assert cache.protocol == {"gt_source": "interval"}
        for v, name in enumerate(cache.videos("test")):
            video = cache.video("test", name)
            assert video.labels.tolist() == fab.labels_from(fab.AV_INTERVALS[v], len(video)).tolist()
            masks = video.masks()  # the pixel masks are stored under either label version
            assert masks.reshape(len(video), -1).any(1).tolist() == fab.labels_from(fab.AV_MASKED[v], len(video)).astype(bool).tolist()
        frames = cache.video("train", "01").frames
        assert frames.shape == (5, 8, 8, 3) and frames[0, 0, 0, 0] > frames[0, 0, 0, 2]  # RGB order kept


def test_mask_labels_on_request(tmp_path):
    root = fab.avenue_original(tmp_path / "avenue")
    with prepare("avenue", SPEC, root, labels="mask") as cache:
        assert cache.protocol == {"gt_source": "mask"}
        assert cache.video("test", "02").labels.tolist() == [1] * 5


def test_mask_labels_are_the_default_without_an_interval_file(tmp_path):
    root = fab.avenue_original(tmp_path / "avenue", interval_file=False)
    assert Avenue(root).protocol_fields() == {"gt_source": "mask"}
    with pytest.raises(DatasetError, match="labels=interval needs avenue.mat or frame_labels_avenue.npy"):
        Avenue(root, labels="interval").scan()


def test_repackaged_layout_with_mnad_labels(tmp_path):
    root = fab.avenue_repackaged(tmp_path / "avenue")
    with prepare("avenue", SPEC, root) as cache:
        assert cache.lengths("test").tolist() == list(fab.AV_TEST)
        assert cache.video("test", "01").labels.tolist() == fab.labels_from(fab.AV_INTERVALS[0], 6).tolist()
        assert not cache.video("test", "01").has_masks


def test_bad_label_version_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="interval, mask"):
        Avenue(tmp_path, labels="both")


def test_video_frame_count_differing_from_official(tmp_path, monkeypatch):
    root = fab.avenue_original(tmp_path / "avenue")
    fab.write_video(root / "Avenue Dataset" / "testing_videos" / "02.avi", 2, 4)
    with pytest.raises(DatasetError, match="test video '02' has 4 frames .*official copy has 5"):
        prepare("avenue", SPEC, root)
