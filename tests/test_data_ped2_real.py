"""The real UCSD Ped2 copy of the project (``../shared/datasets/ped2``) prepares and verifies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vadbench.data.prepare import prepare
from vadbench.data.verify import verify
from vadbench.types import InputSpec

PED2 = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ped2"
pytestmark = pytest.mark.skipif(not PED2.is_dir(), reason=f"the real UCSD Ped2 copy is not at {PED2}")


def test_real_ped2_prepares_with_the_official_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path))
    with prepare("ped2", InputSpec(32, 32, "gray"), PED2) as cache:
        assert len(cache.videos("train")) == 16 and int(cache.lengths("train").sum()) == 2550
        assert len(cache.videos("test")) == 12 and int(cache.lengths("test").sum()) == 2010
        anomalous = 0
        for video in cache.iter_videos("test"):
            anomalous += int(video.labels.sum())
            masks = video.masks()
            assert masks.shape == (len(video), 240, 360)
            nonempty = masks.reshape(len(video), -1).any(axis=1)
            assert np.array_equal(nonempty, video.labels.astype(bool)), video.name
        assert anomalous == 1648
        assert cache.missing == {} and cache.protocol == {"gt_source": "ucsd_m"}


@pytest.mark.slow
def test_real_ped2_verifies():
    report = verify("ped2", PED2)
    assert report.ok, str(report)
    text = str(report)
    assert "train: 16 videos, 2550 frames" in text and "test: 12 videos, 2010 frames" in text
    assert "1648 anomalous" in text and "Test008, Test009, Test010, Test011" in text
    assert "MANIFEST.sha256: 4565 of 4565 files match" in text
