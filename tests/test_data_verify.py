"""``verify``: every problem of a copy is reported, not only the first."""

from __future__ import annotations

import dataclasses
import shutil

import cv2
import pytest

import fabricate as fab
from vadbench.data.avenue import Avenue
from vadbench.data.ucsd import Ped2
from vadbench.data import verify as verify_module
from vadbench.data.verify import read_manifest, sha256, shipped_manifest, verify


@pytest.fixture(autouse=True)
def tiny_facts(monkeypatch, tmp_path):
    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(Ped2, "facts", fab.UCSD_FACTS)
    monkeypatch.setattr(Avenue, "facts", fab.AVENUE_FACTS)


def messages(report, status):
    return [c.message for c in report.checks if c.status == status]


def test_a_good_copy_verifies(tmp_path, monkeypatch):
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="mat", masks="archive")
    fab.write_m(root / "UCSDped2.m", fab.INTERVALS)
    canonical = {name: sha256(root / name) for name in ("UCSDped2.m", "ped2.mat", "UCSDped2_pixel_gt.tar.gz")}
    monkeypatch.setattr(verify_module, "shipped_manifest", lambda name: canonical)
    report = verify("ped2", root, decode=True)
    assert report.ok, str(report)
    text = str(report)
    assert "entirely anomalous test videos: Test003" in text
    assert "ped2.mat (ucsd_m) agrees with UCSDped2.m on every frame" in text
    assert "'mask non-empty' equals the frame labels" in text and "every frame decodes" in text
    assert "UCSDped2_pixel_gt.tar.gz: SHA-256 matches the canonical file" in text
    with open(root / "UCSDped2.m", "a") as f:
        f.write("% edited\n")
    report = verify("ped2", root)
    assert messages(report, "fail") == ["UCSDped2.m: SHA-256 differs from the canonical file"]


def test_all_problems_are_reported(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="m", masks="folders")
    shutil.rmtree(root / "testing" / "frames" / "02")
    fab.write_frames(root / "training" / "frames" / "01", 11, 8)  # 8 frames instead of 6
    fab.write_frames(root / "training" / "frames" / "03", 13, 2)  # not in the dataset
    cv2.imwrite(str(root / "Test001_gt" / "001.bmp"), fab.mask(True))  # a mask on a normal frame
    report = verify("ped2", root)
    assert not report.ok
    fails = "\n".join(messages(report, "fail"))
    assert "train video 'Train001' has 8 frame files; the official copy has 6" in fails
    assert "train: unexpected Train003" in fails
    assert "test: missing Test002" in fails
    assert "differs from the frame labels on 1 frames in 1 video(s): Test001 (1)" in fails


def test_avenue_label_versions_are_compared_not_failed(tmp_path):
    root = fab.avenue_original(tmp_path / "avenue")
    report = verify("avenue", root)
    assert report.ok, str(report)
    infos = "\n".join(messages(report, "info"))
    assert "(mask) differs from avenue.mat (interval) on" in infos
    assert "'mask non-empty' differs from the frame labels" in infos


def test_root_manifest_is_checked(tmp_path):
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="m", masks="")
    (root / "MANIFEST.sha256").write_text(f"{sha256(root / 'UCSDped2.m')}  ./UCSDped2.m\n"
                                          f"{'0' * 64}  ./testing/frames/01/000.jpg\n{'0' * 64}  ./gone.txt\n")
    fails = "\n".join(messages(verify("ped2", root), "fail"))
    assert "MANIFEST.sha256: 1 of 3 files match; missing gone.txt; differ testing/frames/01/000.jpg" in fails


def test_shipped_ped2_manifest_lists_the_ground_truth_files():
    names = set(shipped_manifest("ped2"))
    assert names == {"UCSDped2.m", "ped2.mat", "frame_labels_ped2.npy", "UCSDped2_pixel_gt.tar.gz"}
    assert read_manifest(f"{'a' * 64}  ./x/y.txt\n# comment\n") == {"x/y.txt": "a" * 64}


def test_wrong_resolution_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(Ped2, "facts", dataclasses.replace(fab.UCSD_FACTS, resolution=(240, 360)))
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="m", masks="")
    fails = "\n".join(messages(verify("ped2", root), "fail"))
    assert "5 videos of 16×12 (W×H), expected 360×240" in fails
