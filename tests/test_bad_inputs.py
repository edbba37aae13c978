"""Bad inputs made from real files: each ends in one line naming the file or video, never a traceback.

Most copies here are the real UCSD Ped2 (``conftest.PED2``) made of symbolic links, with one file
replaced, removed or renamed; the other datasets are fabricated (``fabricate.py``). Each bad copy
goes through the path a user takes (``prepare`` or the installed ``vadbench`` script) and must
leave nothing in the cache: no ``.h5``, no temporary file.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

import fabricate as fab
from conftest import PED2
from vadbench.data.avenue import Avenue
from vadbench.data.prepare import prepare
from vadbench.data.shanghaitech import ShanghaiTech
from vadbench.data.ucsd import Ped2
from vadbench.data.verify import verify
from vadbench.types import InputSpec
from vadbench.errors import DatasetError

SPEC = InputSpec(32, 32, "gray")
needs_ped2 = pytest.mark.skipif(not PED2.is_dir(), reason=f"the real UCSD Ped2 copy is not at {PED2}")


# -- helpers ------------------------------------------------------------------------------------
def ped2_copy(tmp_path: Path, *changed: str) -> Path:
    """The real Ped2 as symbolic links, except that each ``changed`` path is left out.

    The folders on the way to a changed path are real folders (of links), so a test can write a
    bad file there or leave it absent, and never writes through a link into the real copy.
    """
    root = tmp_path / "ped2"

    def mirror(source: Path, target: Path, rel: str) -> None:
        if rel in changed:
            return
        if source.is_dir() and any(c.startswith(rel + "/") for c in changed):
            target.mkdir()
            for child in sorted(source.iterdir()):
                mirror(child, target / child.name, f"{rel}/{child.name}")
        else:
            target.symlink_to(source)

    root.mkdir()
    for child in sorted(PED2.iterdir()):
        mirror(child, root / child.name, child.name)
    assert not any((root / c).is_symlink() for c in changed)
    return root


def cache_files(cache: Path) -> list[str]:
    """What a failed build must not leave behind: cache files and temporary files."""
    return sorted(p.name for p in cache.glob("*") if p.suffix == ".h5" or ".tmp" in p.name) if cache.is_dir() else []


def refused(cache: Path, dataset: str, root: Path, *fragments: str, **options) -> str:
    """``prepare`` of ``root`` fails with one line holding each of ``fragments``, leaving nothing in the cache."""
    with pytest.raises(DatasetError) as info:
        prepare(dataset, SPEC, root, **options)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message and message.encode("utf-8")  # one line, printable on any terminal
    assert cache_files(cache) == []
    return message


def vadbench(cache: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it, with its own cache directory."""
    script = Path(sys.executable).with_name("vadbench")
    return subprocess.run([str(script), *args], env={**os.environ, "VADBENCH_CACHE": str(cache)},
                          capture_output=True, text=True, errors="backslashreplace", timeout=300)


def cli_refused(cache: Path, root: Path, *names: str, dataset: str = "ped2", options: tuple[str, ...] = ()) -> str:
    """``vadbench datasets prepare`` ends with exit code 2 and one error line naming each of ``names``."""
    result = vadbench(cache, "datasets", "prepare", dataset, "--root", str(root), "--size", "32x32", *options)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    for name in names:
        assert name in errors[0], errors[0]
    assert cache_files(cache) == []
    return errors[0]


# -- 1. a 0-byte or corrupt .mat -------------------------------------------------------------------
@needs_ped2
@pytest.mark.parametrize("damage, reason", [
    (lambda data: b"", "the file is empty (0 bytes)"),
    (lambda data: data[: len(data) // 2], "damaged or not a MATLAB file"),
    (lambda data: data[:128] + bytes(100), "damaged or not a MATLAB file"),
    (lambda data: b"garbage" * 40, "damaged or not a MATLAB file"),
])
def test_a_corrupt_anopred_mat_is_named(tmp_path, isolated_cache, damage, reason):
    root = ped2_copy(tmp_path, "UCSDped2.m", "ped2.mat")  # without the .m file, labels come from ped2.mat
    (root / "ped2.mat").write_bytes(damage((PED2 / "ped2.mat").read_bytes()))
    refused(isolated_cache, "ped2", root, f"cannot read MATLAB file {root / 'ped2.mat'}: {reason}")


@needs_ped2
def test_a_corrupt_anopred_mat_fails_verify_without_a_crash(tmp_path):
    root = ped2_copy(tmp_path, "ped2.mat", "MANIFEST.sha256")
    (root / "ped2.mat").write_bytes((PED2 / "ped2.mat").read_bytes()[:100])
    fails = [c.message for c in verify("ped2", root).checks if c.status == "fail"]
    assert any("ped2.mat" in m and "cannot read MATLAB file" in m for m in fails), fails


@needs_ped2
def test_a_zero_byte_mat_through_the_console_script(tmp_path):
    root = ped2_copy(tmp_path, "UCSDped2.m", "ped2.mat")
    (root / "ped2.mat").write_bytes(b"")
    cli_refused(tmp_path / "cache", root, str(root / "ped2.mat"), "empty")


@pytest.mark.parametrize("labels", ["interval", "mask"])
@pytest.mark.parametrize("content", [b"", b"MATLAB 5.0 MAT-file, truncated"])
def test_a_corrupt_avenue_vollabel_mat_is_named(tmp_path, monkeypatch, isolated_cache, labels, content):
    monkeypatch.setattr(Avenue, "facts", fab.AVENUE_FACTS)
    root = fab.avenue_original(tmp_path / "avenue")
    bad = root / "ground_truth_demo" / "testing_label_mask" / "2_label.mat"
    bad.write_bytes(content)  # read during the build (interval labels) or for the labels (mask labels)
    refused(isolated_cache, "avenue", root, f"cannot read MATLAB file {bad}: ", labels=labels)


# -- 2. masks of different sizes -------------------------------------------------------------------
@needs_ped2
def test_a_ped2_mask_of_another_size_in_the_archive(tmp_path, isolated_cache):
    root = ped2_copy(tmp_path, "training", "UCSDped2_pixel_gt.tar.gz")
    with tarfile.open(PED2 / "UCSDped2_pixel_gt.tar.gz") as real, \
            tarfile.open(root / "UCSDped2_pixel_gt.tar.gz", "w:gz") as bad:
        for member in real:
            data = real.extractfile(member).read() if member.isfile() else None
            if member.name == "Test002_gt/005.bmp":
                mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
                data = cv2.imencode(".bmp", cv2.resize(mask, (180, 120)))[1].tobytes()
                member.size = len(data)
            bad.addfile(member, io.BytesIO(data) if data is not None else None)
    refused(isolated_cache, "ped2", root, "mask 4 of video 'Test002' is 180×120 (W×H), unlike its frames (360×240): "
            f"Test002_gt/005.bmp in {root / 'UCSDped2_pixel_gt.tar.gz'}; its frames: {root / 'testing'}", partial=True)


def test_a_ped2_mask_image_of_another_size_in_a_gt_folder(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setattr(Ped2, "facts", fab.UCSD_FACTS)
    root = fab.ucsd_original(tmp_path / "ucsd")
    bad = root / "UCSDped2" / "Test" / "Test001_gt" / "004.bmp"
    cv2.imwrite(str(bad), np.zeros((6, 8), np.uint8))
    refused(isolated_cache, "ped2", root, f"mask 3 of video 'Test001' is 8×6 (W×H), unlike its frames (16×12): "
                                          f"{bad}")
    fails = [c.message for c in verify("ped2", root).checks if c.status == "fail"]
    assert any("masks of Test001" in m and "8×6" in m for m in fails), fails


def test_avenue_vollabel_cells_of_different_sizes(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setattr(Avenue, "facts", fab.AVENUE_FACTS)
    root = fab.avenue_original(tmp_path / "avenue")
    path = root / "ground_truth_demo" / "testing_label_mask" / "1_label.mat"
    cells = np.empty((1, fab.AV_TEST[0]), dtype=object)
    for i in range(cells.shape[1]):
        cells[0, i] = np.zeros((fab.H, fab.W) if i != 3 else (5, 7), np.uint8)
    scipy.io.savemat(str(path), {"volLabel": cells})
    refused(isolated_cache, "avenue", root, f"mask 3 of video '01' is 7×5 (W×H), unlike its frames (16×12): {path}")


def test_a_shanghaitech_pixel_mask_of_another_size(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setattr(ShanghaiTech, "facts", fab.SHANGHAI_FACTS)
    root = fab.shanghaitech(tmp_path / "sh")
    path = root / "testing" / "test_pixel_mask" / "04_0011.npy"
    np.save(path, np.zeros((fab.SH_TEST["04_0011"], 10, 10), np.uint8))
    refused(isolated_cache, "shanghaitech", root,
            f"mask 0 of video '04_0011' is 10×10 (W×H), unlike its frames (16×12): {path}")


@pytest.mark.parametrize("content, reason", [
    (None, "the file is empty"),
    (np.array([{"a": 1}], dtype=object), "Python objects"),
    (np.zeros((4, 12, 16), "U1"), "holds <U1 values, not numbers"),
    (np.zeros((4, 12), np.uint8), "has shape (4, 12); expected T×H×W"),
])
def test_odd_shanghaitech_pixel_mask_files(tmp_path, monkeypatch, isolated_cache, content, reason):
    monkeypatch.setattr(ShanghaiTech, "facts", fab.SHANGHAI_FACTS)
    root = fab.shanghaitech(tmp_path / "sh")
    path = root / "testing" / "test_pixel_mask" / "04_0011.npy"
    path.write_bytes(b"") if content is None else np.save(path, content, allow_pickle=True)
    refused(isolated_cache, "shanghaitech", root, f"mask file {path}", reason)


# -- 3. a frame of another size in the middle of a video --------------------------------------------
@needs_ped2
def test_a_frame_of_another_size_through_the_console_script(tmp_path):
    root = ped2_copy(tmp_path, "training/frames/01/060.jpg")
    frame = cv2.imread(str(PED2 / "training" / "frames" / "01" / "060.jpg"))
    cv2.imwrite(str(root / "training" / "frames" / "01" / "060.jpg"), cv2.resize(frame, (180, 120)))
    line = cli_refused(tmp_path / "cache", root, "frame 60 of video 'Train001'", "180×120", "360×240",
                       str(root / "training" / "frames" / "01" / "060.jpg"))
    assert str(root / "training" / "frames" / "01" / "000.jpg") in line  # the frame it is compared with


def test_verify_decode_reports_a_frame_of_another_size(tmp_path, monkeypatch):
    monkeypatch.setattr(Ped2, "facts", fab.UCSD_FACTS)
    root = fab.ucsd_repackaged(tmp_path / "ped2", labels="m", masks="folders")
    cv2.imwrite(str(root / "testing" / "frames" / "02" / "003.jpg"), np.zeros((10, 20), np.uint8))
    first_frames_only = verify("ped2", root).checks
    assert not any("Test002" in c.message for c in first_frames_only if c.status == "fail")
    fails = [c.message for c in verify("ped2", root, decode=True).checks if c.status == "fail"]
    assert any(m.startswith("test/Test002: frame 3 of video 'Test002' is 20×10") for m in fails), fails
    assert "every frame decodes" not in str(verify("ped2", root, decode=True))


# -- 4. an empty test-video folder -----------------------------------------------------------------
@needs_ped2
def test_an_empty_ped2_test_folder_through_the_console_script(tmp_path):
    root = ped2_copy(tmp_path, "testing/frames/03")
    (root / "testing" / "frames" / "03").mkdir()
    cli_refused(tmp_path / "cache", root, "test video 'Test003'", str(root / "testing" / "frames" / "03"),
                "holds no image files")


def test_an_empty_shanghaitech_test_folder(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setattr(ShanghaiTech, "facts", fab.SHANGHAI_FACTS)
    root = fab.shanghaitech(tmp_path / "sh")
    folder = root / "testing" / "frames" / "04_0011"
    for path in folder.iterdir():
        path.unlink()
    for scenes in (None, "04"):  # a scene selection has no official total to catch it
        refused(isolated_cache, "shanghaitech", root, f"test video '04_0011': its folder {folder} holds no image files",
                scenes=scenes)


@pytest.mark.parametrize("split", ["train", "test"])
def test_an_empty_folder_of_ones_own_videos(tmp_path, isolated_cache, split):
    root = tmp_path / "mine"
    fab.write_video(root / "train" / "day.avi", 1, 5)
    fab.write_frames(root / "test" / "night", 2, 5)
    (root / "labels.csv").write_text("video,start,end\nnight,1,2\n")
    (root / split / "cam3").mkdir()  # was silently left out of the cache
    refused(isolated_cache, "folder", root,
            f"{split} video 'cam3': its folder {root / split / 'cam3'} holds no image files")


# -- 5. names that are not valid UTF-8 -------------------------------------------------------------
def fs(path: Path, name: bytes) -> Path:
    """``path / name`` for a name given as the file system's bytes."""
    return Path(os.fsdecode(os.fsencode(path) + b"/" + name))


@needs_ped2
def test_a_ped2_frame_file_whose_name_is_not_utf8(tmp_path):
    root = ped2_copy(tmp_path, "training", "testing/frames/01/000.jpg")
    fs(root / "testing" / "frames" / "01", b"\xff000.jpg").symlink_to(PED2 / "testing" / "frames" / "01" / "000.jpg")
    # This was a UnicodeEncodeError in the fingerprint, then a crash of OpenCV (a segmentation fault).
    result = vadbench(tmp_path / "cache", "datasets", "prepare", "ped2", "--root", str(root), "--size", "32x32",
                      "--color", "gray", "--partial")
    assert result.returncode == 0, result.stdout + result.stderr
    (cache,) = (tmp_path / "cache").glob("*.h5")
    with prepare("ped2", SPEC, root, partial=True) as opened:
        assert opened.path == cache and opened.lengths("test").tolist()[0] == 180
        frames = opened.video("test", "Test001").frames
        real = cv2.imread(str(PED2 / "testing" / "frames" / "01" / "000.jpg"), cv2.IMREAD_GRAYSCALE)
        assert np.abs(frames[0, :, :, 0].astype(int) - cv2.resize(real, (32, 32))).max() <= 1


def test_own_videos_whose_names_are_not_utf8(tmp_path):
    """Such a file or folder is video ``cam\\xff1``: each byte that is not UTF-8 written as ``\\xNN``."""
    root = tmp_path / "mine"
    cam = fs(root / "train", b"cam\xff1")
    fab.write_frames(cam, 1, 4, ext=".png")
    (cam / "002.png").rename(fs(cam, b"\xe9002.png"))  # frame 2 still: its number is 2
    fab.write_video(fs(root / "train", b"walk\xff.avi"), 2, 5)
    fab.write_frames(fs(root / "test", b"Test\xff01"), 3, 6)
    (root / "labels.csv").write_text("video,start,end\nTest\\xff01,2,3\n")
    result = vadbench(tmp_path / "cache", "datasets", "prepare", "folder", "--root", str(root), "--size", "8x8")
    assert result.returncode == 0, result.stdout + result.stderr
    with prepare("folder", InputSpec(8, 8, "gray"), root) as cache:
        assert cache.videos("train") == ["cam\\xff1", "walk\\xff"] and cache.lengths("train").tolist() == [4, 5]
        assert cache.video("test", "Test\\xff01").labels.tolist() == [0, 0, 1, 1, 0, 0]
        assert cache.video("train", "cam\\xff1").frames[2, 0, 0, 0] == pytest.approx(fab.value(1, 2), abs=1)


def test_a_bad_file_whose_name_is_not_utf8_is_named_printably(tmp_path):
    root = tmp_path / "mine"
    fab.write_frames(root / "train" / "day", 1, 4)
    fs(root / "train" / "day", b"\xff002.jpg").write_bytes(b"not a jpeg")
    (root / "train" / "day" / "002.jpg").unlink()
    fab.write_frames(root / "test" / "night", 2, 5)
    (root / "labels.csv").write_text("video,start,end\n")
    cli_refused(tmp_path / "cache", root, "frame 2 of video 'day'", "day/\\xff002.jpg", dataset="folder")


# -- 6. a ShanghaiTech scene selection without test videos -----------------------------------------
def test_scenes_without_test_videos_through_the_console_script(tmp_path):
    root = fab.shanghaitech(tmp_path / "sh")
    fab.write_video(root / "training" / "videos" / "02_001.avi", 5, 4)  # scene 02 has training videos only
    cli_refused(tmp_path / "cache", root, "scenes 02,05 hold no test video", "scene(s) 01, 04", dataset="shanghaitech",
                options=("--data-set", "scenes=2,5"))


# -- labels in .npy files --------------------------------------------------------------------------
class Planted:
    """Unpickling this creates a folder: the proof that a label file's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


@needs_ped2
@pytest.mark.parametrize("content, reason", [
    ("empty", "the file is empty (0 bytes)"),
    ("pickle", "Object arrays cannot be loaded"),
    ("text", "holds <U1 values, not numbers"),
    ("2-D", "has shape (2, 1005)"),
    ("short", "frame_labels_ped2.npy holds 2000 labels but the 12 test videos have 2010 frames"),
])
def test_bad_concatenated_ped2_labels(tmp_path, isolated_cache, content, reason):
    root = ped2_copy(tmp_path, "UCSDped2.m", "ped2.mat", "frame_labels_ped2.npy")
    path = root / "frame_labels_ped2.npy"
    marker = tmp_path / "the pickle ran"
    real = np.load(PED2 / "frame_labels_ped2.npy")
    arrays = {"pickle": np.array([Planted(marker)], dtype=object), "text": real.astype("U1"),
              "2-D": real.reshape(2, 1005), "short": real[:, :2000]}
    if content == "empty":
        path.write_bytes(b"")
    else:
        np.save(path, arrays[content], allow_pickle=True)
    message = refused(isolated_cache, "ped2", root, reason)
    assert content == "short" or str(path) in message
    assert not marker.exists()


@pytest.mark.parametrize("labels, reason", [
    (np.array([0, 1, 1]), "testing/test_frame_mask/04_0011.npy has 3 labels for video '04_0011', which has 4 frames"),
    (np.array([0.5, 1, 1, 0]), "test_frame_mask/04_0011.npy holds values [0.0, 0.5, 1.0]"),
    (np.array([[0, 1], [1, 0]]), "test_frame_mask/04_0011.npy has shape (2, 2)"),
])
def test_bad_per_video_shanghaitech_labels(tmp_path, monkeypatch, isolated_cache, labels, reason):
    monkeypatch.setattr(ShanghaiTech, "facts", fab.SHANGHAI_FACTS)
    root = fab.shanghaitech(tmp_path / "sh")
    np.save(root / "testing" / "test_frame_mask" / "04_0011.npy", labels)
    refused(isolated_cache, "shanghaitech", root, reason)
