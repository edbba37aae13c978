"""``vadbench datasets prepare | info | verify`` through typer's test runner."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

import fabricate as fab
from vadbench import InputSpec
from vadbench.cli_datasets import app, parse_spec
from vadbench.data import verify as verify_module
from vadbench.data.avenue import Avenue
from vadbench.data.cache import ClipCache, cache_path
from vadbench.data.shanghaitech import ShanghaiTech
from vadbench.data.ucsd import Ped2
from vadbench.errors import CacheError, ConfigError, DatasetError

runner = CliRunner()


@pytest.fixture(autouse=True)
def tiny_facts(monkeypatch, tmp_path):
    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setattr(Ped2, "facts", fab.UCSD_FACTS)
    monkeypatch.setattr(verify_module, "shipped_manifest", lambda name: {})  # fabricated files are not canonical


def test_prepare_then_info(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2")
    result = runner.invoke(app, ["prepare", "ped2", "--root", str(root), "--size", "8x6", "--color", "gray"])
    assert result.exit_code == 0, result.output
    assert "ped2-8x6-gray.h5" in result.output and "1 test/Test003" not in result.output
    result = runner.invoke(app, ["info", "ped2"])
    assert result.exit_code == 0, result.output
    assert "gt_source=ucsd_m" in result.output and "16×12 → 6×8" in result.output
    rows = [line for line in result.output.splitlines() if "test" in line and "│" in line]
    assert [c.strip() for c in rows[0].split("│")[1:6]] == ["test", "3", "18", "12", "3"]
    assert "missing videos: none" in result.output


def test_info_filters_and_reports_when_nothing_matches(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2")
    assert runner.invoke(app, ["prepare", "ped2", "--root", str(root), "--size", "8", "--color", "gray"]).exit_code == 0
    assert "8×8" in runner.invoke(app, ["info", "ped2", "--root", str(root), "--size", "8x8"]).output
    result = runner.invoke(app, ["info", "ped2", "--color", "rgb"])
    assert isinstance(result.exception, CacheError) and "datasets prepare ped2" in str(result.exception)


def test_partial_prepare_shows_missing_videos(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2")
    shutil.rmtree(root / "testing" / "frames" / "03")
    result = runner.invoke(app, ["prepare", "ped2", "--root", str(root), "--size", "8x8"])
    assert isinstance(result.exception, DatasetError) and "'Test003'" in str(result.exception)
    result = runner.invoke(app, ["prepare", "ped2", "--root", str(root), "--size", "8x8", "--partial"])
    assert result.exit_code == 0, result.output
    assert "missing test videos: Test003" in result.output and "not comparable" in result.output


def test_verify_exit_codes(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="npy", masks="folders")
    result = runner.invoke(app, ["verify", "ped2", "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    (root / "testing" / "frames" / "01" / "000.jpg").unlink()
    result = runner.invoke(app, ["verify", "ped2", "--root", str(root)])
    assert result.exit_code == 1 and "verification failed" in result.output


def test_root_from_environment(tmp_path, monkeypatch):
    root = fab.ucsd_repackaged(tmp_path / "ped2")
    monkeypatch.setenv("VADBENCH_PED2_ROOT", str(root))
    assert runner.invoke(app, ["prepare", "ped2", "--size", "8x8"]).exit_code == 0


def test_shanghaitech_scenes_through_data_set(tmp_path, monkeypatch):
    """``--data-set scenes=4`` builds the cache a scene selection always had, and ``info`` filters by it."""
    monkeypatch.setattr(ShanghaiTech, "facts", fab.SHANGHAI_FACTS)
    root = fab.shanghaitech(tmp_path / "sh", train="frames", labels="concat")
    result = runner.invoke(app, ["prepare", "shanghaitech", "--root", str(root), "--size", "8x8", "--color", "gray",
                                 "--data-set", "scenes=4"])
    assert result.exit_code == 0, result.output
    path = cache_path(tmp_path / "cache", "shanghaitech", {"scenes": "04"}, InputSpec(8, 8, "gray"))
    assert path.name in result.output and "scenes=04" in result.output
    with ClipCache(path) as cache:
        assert cache.videos("test") == ["04_0011"] and cache.protocol["scenes"] == "04"
    assert runner.invoke(app, ["prepare", "shanghaitech", "--root", str(root), "--size", "8x8", "--color", "gray",
                               "--data-set", "scenes=all"]).exit_code == 0
    assert path.name in runner.invoke(app, ["info", "shanghaitech", "--data-set", "scenes=04"]).output
    everything = runner.invoke(app, ["info", "shanghaitech"]).output
    assert path.name in everything and "shanghaitech-8x8-gray.h5" in everything
    only_all = runner.invoke(app, ["info", "shanghaitech", "--data-set", "scenes=all"]).output
    assert path.name not in only_all and "shanghaitech-8x8-gray.h5" in only_all


def test_avenue_labels_through_data_set(tmp_path, monkeypatch):
    monkeypatch.setattr(Avenue, "facts", fab.AVENUE_FACTS)
    root = fab.avenue_original(tmp_path / "avenue")
    result = runner.invoke(app, ["prepare", "avenue", "--root", str(root), "--size", "8x8", "--data-set", "labels=mask"])
    assert result.exit_code == 0, result.output
    assert cache_path(tmp_path / "cache", "avenue", {"labels": "mask"}, InputSpec(8, 8, "rgb")).name in result.output
    assert "gt_source=mask" in result.output
    assert "labels (mask):" in runner.invoke(app, ["verify", "avenue", "--root", str(root), "--data-set",
                                                   "labels=mask"]).output
    result = runner.invoke(app, ["verify", "avenue", "--root", str(root), "--data-set", "labels=both"])
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == "labels: 'both' is not one of interval, mask"


def test_parse_spec():
    assert parse_spec("256x128", "rgb").key == "256x128-rgb" and parse_spec("64", "gray").key == "64x64-gray"
    with pytest.raises(ConfigError, match="HxW"):
        parse_spec("big", "rgb")
    with pytest.raises(ConfigError, match="gray or rgb"):
        parse_spec("64", "bgr")
