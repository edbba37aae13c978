"""Tiny dataset copies in every layout the adapters read, written by the tests themselves.

Frame ``i`` of a video is a flat image of brightness ``value(video, i)``, so a test can tell from
the cached pixels which file ended up at which position. Masks mark a small square on the
anomalous frames only. The tiny datasets come with matching :class:`Facts`, which the tests
put in place of the official ones with ``monkeypatch``.
"""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import scipy.io

from vadbench.data.layout import Facts, SplitFacts

H, W = 12, 16  # source frame size (rows, columns)


def value(video: int, i: int) -> int:
    """The brightness of frame ``i`` of video number ``video`` (distinct, JPEG-safe steps)."""
    return (40 * video + 12 * i) % 200 + 20


def frame(v: int, color: bool = False) -> np.ndarray:
    img = np.full((H, W), v, np.uint8)
    return np.dstack([img, img // 2, img // 3]) if color else img


def mask(anomalous: bool) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    if anomalous:
        m[2:6, 3:9] = 255
    return m


def write_image(path: Path, image: np.ndarray) -> None:
    """``cv2.imwrite`` for any path: OpenCV crashes on a name that is not UTF-8, Python does not."""
    ok, data = cv2.imencode(path.suffix, image)
    assert ok, path
    path.write_bytes(data.tobytes())


def write_frames(folder: Path, video: int, n: int, name: str = "{:03d}", ext: str = ".jpg", first: int = 0,
                 color: bool = False) -> None:
    """``n`` frames named ``name.format(first + i) + ext``; colour frames are written as BGR."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = frame(value(video, i), color)
        write_image(folder / (name.format(first + i) + ext), img[:, :, ::-1] if color else img)


def write_video(path: Path, video: int, n: int, color: bool = True) -> None:
    """An MJPG ``.avi`` of ``n`` frames (RGB content written as BGR), at any path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:  # OpenCV writes to a plain name only
        plain = Path(folder) / "video.avi"
        writer = cv2.VideoWriter(str(plain), cv2.VideoWriter_fourcc(*"MJPG"), 25, (W, H))
        assert writer.isOpened()
        for i in range(n):
            img = frame(value(video, i), color)
            writer.write(img[:, :, ::-1].copy() if color else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
        writer.release()
        path.write_bytes(plain.read_bytes())


def labels_from(intervals: Sequence[tuple[int, int]], n: int) -> np.ndarray:
    """0/1 labels of ``n`` frames from 1-based inclusive intervals."""
    out = np.zeros(n, np.uint8)
    for a, b in intervals:
        out[a - 1:b] = 1
    return out


def write_m(path: Path, intervals: Sequence[Sequence[tuple[int, int]]]) -> None:
    lines = ["TestVideoFile = {};"]
    for video in intervals:
        lines.append("TestVideoFile{end+1}.gt_frame = [" + ", ".join(f"{a}:{b}" for a, b in video) + "];")
    path.write_text("\n".join(lines) + "\n")


def write_anopred_mat(path: Path, intervals: Sequence[Sequence[tuple[int, int]]]) -> None:
    """ano_pred's ``gt`` cell: 2×K per video; a single event is written 1-D, as some files load."""
    cell = np.empty((1, len(intervals)), dtype=object)
    for i, video in enumerate(intervals):
        arr = np.array(video, dtype=np.uint16).T  # 2×K
        cell[0, i] = arr[:, 0] if arr.shape[1] == 1 else arr
    scipy.io.savemat(str(path), {"gt": cell})


# -- UCSD -----------------------------------------------------------------------------------------
TRAIN = (6, 5)
TEST = (7, 6, 5)
INTERVALS = ([(3, 5)], [(1, 2), (5, 6)], [(1, 5)])  # 1-based inclusive; test 3 entirely anomalous
UCSD_FACTS = Facts(
    train=SplitFacts.listed(["Train001", "Train002"], TRAIN),
    test=SplitFacts.listed(["Test001", "Test002", "Test003"], TEST),
    anomalous={"ucsd_m": sum(int(labels_from(iv, n).sum()) for iv, n in zip(INTERVALS, TEST))},
    resolution=(H, W),
    fully_anomalous={"ucsd_m": ("Test003",)},
    mask_videos=("Test001", "Test002", "Test003"),
    masks_match_labels=True,
)


def ucsd_original(root: Path, n: int = 2) -> Path:
    """``UCSDpedN/Train/TrainNNN/NNN.tif`` (1-based), BMP masks (Test002 uses ``frameNNN.bmp``), ``.m``."""
    base = root / f"UCSDped{n}"
    for v, count in enumerate(TRAIN, start=1):
        write_frames(base / "Train" / f"Train{v:03d}", 10 + v, count, ext=".tif", first=1)
    (base / "Train" / "Train001" / "Thumbs.db").write_bytes(b"not an image")
    for v, count in enumerate(TEST, start=1):
        write_frames(base / "Test" / f"Test{v:03d}", v, count, ext=".tif", first=1)
        gt = base / "Test" / f"Test{v:03d}_gt"
        gt.mkdir(parents=True)
        labels = labels_from(INTERVALS[v - 1], count)
        for i in range(count):
            name = f"frame{i + 1:03d}.bmp" if v == 2 else f"{i + 1:03d}.bmp"
            cv2.imwrite(str(gt / name), mask(bool(labels[i])))
    write_m(base / "Test" / f"UCSDped{n}.m", INTERVALS)
    return root


def ucsd_repackaged(root: Path, n: int = 2, labels: str = "mat", masks: str = "archive") -> Path:
    """``training/frames/NN/NNN.jpg`` (0-based), labels ``mat``/``npy``/``m``, masks ``archive``/``folders``/none."""
    for v, count in enumerate(TRAIN, start=1):
        write_frames(root / "training" / "frames" / f"{v:02d}", 10 + v, count)
    for v, count in enumerate(TEST, start=1):
        write_frames(root / "testing" / "frames" / f"{v:02d}", v, count)
    if labels == "mat":
        write_anopred_mat(root / f"ped{n}.mat", INTERVALS)
    elif labels == "npy":
        flat = np.concatenate([labels_from(iv, c) for iv, c in zip(INTERVALS, TEST)])
        np.save(root / f"frame_labels_ped{n}.npy", flat[None].astype(np.int64))
    elif labels == "m":
        write_m(root / f"UCSDped{n}.m", INTERVALS)
    if masks:
        gt_root = root / "gt_tmp" if masks == "archive" else root
        for v, count in enumerate(TEST, start=1):
            gt = gt_root / f"Test{v:03d}_gt"
            gt.mkdir(parents=True)
            lab = labels_from(INTERVALS[v - 1], count)
            for i in range(count):
                cv2.imwrite(str(gt / (f"frame{i + 1:03d}.bmp" if v == 2 else f"{i + 1:03d}.bmp")), mask(bool(lab[i])))
        if masks == "archive":
            with tarfile.open(root / f"UCSDped{n}_pixel_gt.tar.gz", "w:gz") as tar:
                for gt in sorted(gt_root.iterdir()):
                    tar.add(gt, arcname=gt.name)
            for path in sorted(gt_root.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            gt_root.rmdir()
    return root


# -- Avenue ---------------------------------------------------------------------------------------
AV_TRAIN = (5, 4)
AV_TEST = (6, 5)
AV_INTERVALS = ([(2, 4)], [(1, 2)])          # the "interval" version
AV_MASKED = ([(2, 3)], [(1, 5)])              # frames with non-empty masks (the "mask" version)
AVENUE_FACTS = Facts(
    train=SplitFacts.listed(["01", "02"], AV_TRAIN),
    test=SplitFacts.listed(["01", "02"], AV_TEST),
    anomalous={"interval": 5, "mask": 7},
    resolution=(H, W),
    fully_anomalous={"interval": (), "mask": ("02",)},
    mask_videos=("01", "02"),
)


def write_vol_label(path: Path, intervals: Sequence[tuple[int, int]], n: int) -> None:
    labels = labels_from(intervals, n)
    cell = np.empty((1, n), dtype=object)
    for i in range(n):
        cell[0, i] = (mask(bool(labels[i])) > 0).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"volLabel": cell})


def avenue_original(root: Path, interval_file: bool = True) -> Path:
    base = root / "Avenue Dataset"
    for v, count in enumerate(AV_TRAIN, start=1):
        write_video(base / "training_videos" / f"{v:02d}.avi", 10 + v, count)
    for v, count in enumerate(AV_TEST, start=1):
        write_video(base / "testing_videos" / f"{v:02d}.avi", v, count)
        write_vol_label(root / "ground_truth_demo" / "testing_label_mask" / f"{v}_label.mat", AV_MASKED[v - 1], count)
    if interval_file:
        write_anopred_mat(root / "avenue.mat", AV_INTERVALS)
    return root


def avenue_repackaged(root: Path) -> Path:
    for v, count in enumerate(AV_TRAIN, start=1):
        write_frames(root / "training" / "frames" / f"{v:02d}", 10 + v, count, name="{:04d}", color=True)
    for v, count in enumerate(AV_TEST, start=1):
        write_frames(root / "testing" / "frames" / f"{v:02d}", v, count, name="{:04d}", color=True)
    flat = np.concatenate([labels_from(iv, c) for iv, c in zip(AV_INTERVALS, AV_TEST)])
    np.save(root / "frame_labels_avenue.npy", flat[None].astype(np.int8))
    return root


# -- ShanghaiTech ---------------------------------------------------------------------------------
SH_TRAIN = {"01_001": 5, "01_002": 4, "04_001": 6}
SH_TEST = {"01_0014": 5, "04_0011": 4}
SH_LABELS = {"01_0014": [0, 0, 1, 1, 0], "04_0011": [1, 1, 1, 1]}
SHANGHAI_FACTS = Facts(
    train=SplitFacts(len(SH_TRAIN), sum(SH_TRAIN.values())),
    test=SplitFacts(len(SH_TEST), sum(SH_TEST.values())),
    anomalous={"frame_mask": 6},
    resolution=(H, W),
    fully_anomalous={"frame_mask": ("04_0011",)},
)


def shanghaitech(root: Path, train: str = "videos", labels: str = "per_video") -> Path:
    """Original (``train="videos"``, per-video masks) or MNAD's layout (``"frames"``, ``labels="concat"``)."""
    for v, (name, count) in enumerate(SH_TRAIN.items(), start=1):
        if train == "videos":
            write_video(root / "training" / "videos" / f"{name}.avi", 10 + v, count)
        else:
            write_frames(root / "training" / "frames" / name, 10 + v, count, color=True)
    for v, (name, count) in enumerate(SH_TEST.items(), start=1):
        write_frames(root / "testing" / "frames" / name, v, count, color=True)
        lab = np.array(SH_LABELS[name], np.uint8)
        if labels == "per_video":
            (root / "testing" / "test_frame_mask").mkdir(parents=True, exist_ok=True)
            np.save(root / "testing" / "test_frame_mask" / f"{name}.npy", lab)
            (root / "testing" / "test_pixel_mask").mkdir(parents=True, exist_ok=True)
            np.save(root / "testing" / "test_pixel_mask" / f"{name}.npy",
                    np.stack([mask(bool(x)) // 255 for x in lab]).astype(np.uint8))
    if labels == "concat":
        np.save(root / "frame_labels_shanghai.npy", np.concatenate([np.array(SH_LABELS[n], np.uint8) for n in SH_TEST]))
    return root
