"""The HDF5 clip cache: one file per (dataset, preprocessing), built once, read by every run.

Layout of ``<cache dir>/<dataset>[-<options hash>]-<H>x<W>-<color>.h5``::

    attrs: format, vadbench_version, dataset, options (JSON), fingerprint, height, width,
           color, created, complete, missing (JSON: split -> video names absent from a
           --partial copy), protocol (JSON: data-side protocol fields, e.g. gt_source)
    /train/<video>/frames   uint8 [T, H, W, C]   chunked (1, H, W, C): one frame per chunk
    /test/<video>/frames    uint8 [T, H, W, C]
    /test/<video>/labels    uint8 [T]            1 = anomalous
    /test/<video>/masks     uint8 [T, h0, w0]    optional pixel ground truth at source size,
                                                 gzip-compressed (masks are mostly zeros)
    every /<split>/<video> group has attrs: origin (source path), source_height, source_width

Frames are stored RGB (C = 3) or grayscale (C = 1), resized with OpenCV's bilinear filter (the
official MNAD and ano_pred preprocessing). The file is written under a temporary name and
renamed when complete, under a file lock, so no reader ever sees a half-written cache and two
processes never build the same one; a build that is interrupted leaves only the temporary file,
which the next build removes.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import h5py
import numpy as np
import torch
from filelock import FileLock

from vadbench import __version__
from vadbench.data.source import SPLITS, DatasetAdapter, SourceVideo
from vadbench.detector import ClipSpec, InputSpec
from vadbench.errors import CacheError, DatasetError

FORMAT = 1
_BLOCK = 32  # frames decoded and written together: bounds memory per video being built


# -- building ---------------------------------------------------------------------------------
def convert_frame(frame: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Resize a source frame (H×W gray or H×W×3 RGB, uint8) to ``spec``: H'×W'×C uint8."""
    if frame.dtype != np.uint8:
        raise DatasetError(f"frame has dtype {frame.dtype}, expected uint8")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if spec.color == "gray" and frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    elif spec.color == "rgb" and frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[:2] != (spec.height, spec.width):
        frame = cv2.resize(frame, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
    return frame.reshape(spec.height, spec.width, spec.channels)


def _blocks(frames: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    block: list[np.ndarray] = []
    for frame in frames:
        block.append(frame)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def _append(ds: h5py.Dataset, block: np.ndarray) -> None:
    start = ds.shape[0]
    ds.resize(start + len(block), axis=0)
    ds[start:] = block


def _write_video(group: h5py.Group, video: SourceVideo, spec: InputSpec) -> int:
    """Stream one video into ``group``; returns its frame count. Runs in a worker thread."""
    shape = (spec.height, spec.width, spec.channels)
    frames = group.create_dataset("frames", shape=(0, *shape), maxshape=(None, *shape),
                                  dtype=np.uint8, chunks=(1, *shape))
    source_hw = None
    for block in _blocks(video.frames(), _BLOCK):
        if source_hw is None:
            source_hw = block[0].shape[:2]
        _append(frames, np.stack([convert_frame(f, spec) for f in block]))
    n = frames.shape[0]
    if n == 0:
        raise DatasetError(f"video {video.name!r} has no frames ({video.origin})")
    group.attrs.update(origin=video.origin, source_height=source_hw[0], source_width=source_hw[1])
    if video.labels is not None:
        labels = np.asarray(video.labels).reshape(-1)
        if len(labels) != n:
            raise DatasetError(
                f"label count {len(labels)} differs from frame count {n} in video {video.name!r} ({video.origin})"
            )
        group.create_dataset("labels", data=(labels > 0).astype(np.uint8))
    if video.masks is not None:
        _write_masks(group, video, n)
    return n


def _write_masks(group: h5py.Group, video: SourceVideo, n_frames: int) -> None:
    masks = None
    for block in _blocks(video.masks(), _BLOCK):
        arr = np.stack([np.asarray(m) > 0 for m in block]).astype(np.uint8)
        if masks is None:
            h, w = arr.shape[1:]
            masks = group.create_dataset("masks", shape=(0, h, w), maxshape=(None, h, w), dtype=np.uint8,
                                         chunks=(1, h, w), compression="gzip", compression_opts=4)
        _append(masks, arr)
    count = 0 if masks is None else masks.shape[0]
    if count != n_frames:
        raise DatasetError(
            f"pixel-mask count {count} differs from frame count {n_frames} in video {video.name!r} ({video.origin})"
        )


def cache_path(cache_dir: Path, dataset: str, options: dict[str, Any], spec: InputSpec) -> Path:
    """Where the cache of ``dataset`` with ``options`` at ``spec`` lives."""
    tag = ""
    if options:
        import hashlib

        blob = json.dumps(options, sort_keys=True, default=str).encode()
        tag = "-" + hashlib.sha256(blob).hexdigest()[:8]
    return Path(cache_dir) / f"{dataset}{tag}-{spec.key}.h5"


def is_current(path: Path, fingerprint: str, spec: InputSpec) -> bool:
    """True when ``path`` is a complete cache of this source and preprocessing."""
    if not path.exists():
        return False
    try:
        with h5py.File(path, "r") as f:
            a = f.attrs
            return (bool(a.get("complete")) and a.get("format") == FORMAT and a.get("fingerprint") == fingerprint
                    and (int(a["height"]), int(a["width"]), str(a["color"])) == (spec.height, spec.width, spec.color))
    except (OSError, KeyError):
        return False  # truncated or foreign file: rebuild


ProgressFn = Callable[[str, str, int], None]  # (split, video, frames) after each video is written


def build_cache(adapter: DatasetAdapter, dataset: str, spec: InputSpec, cache_dir: Path, *,
                partial: bool = False, rebuild: bool = False, workers: int = 2,
                on_start: Callable[[int], None] | None = None, on_video: ProgressFn | None = None) -> Path:
    """Build (or reuse) the cache of ``adapter``'s data at ``spec``; returns its path.

    ``on_start(n_videos)`` and ``on_video(split, name, n_frames)`` report progress. Videos are
    decoded by ``workers`` threads (OpenCV releases the GIL) and written block by block.
    """
    fingerprint = adapter.fingerprint()
    path = cache_path(cache_dir, dataset, adapter.options, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not rebuild and is_current(path, fingerprint, spec):
            return path
        listings = {split: adapter.listing(split) for split in SPLITS}
        missing = {s: l.missing for s, l in listings.items() if l.missing}
        if missing and not partial:
            first = next(iter(missing.items()))
            raise DatasetError(
                f"{dataset}: {sum(map(len, missing.values()))} video(s) missing, e.g. {first[0]} video "
                f"{first[1][0]!r}; pass --partial to build from what is present"
            )
        if on_start:
            on_start(sum(len(l.videos) for l in listings.values()))
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        for stale in path.parent.glob(path.name + ".tmp*"):
            stale.unlink()
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs.update(
                    format=FORMAT, vadbench_version=__version__, dataset=dataset,
                    options=json.dumps(adapter.options, sort_keys=True, default=str),
                    fingerprint=fingerprint, height=spec.height, width=spec.width, color=spec.color,
                    created=time.strftime("%Y-%m-%dT%H:%M:%S"), complete=False,
                    missing=json.dumps(missing), protocol=json.dumps(adapter.protocol_fields()),
                    decoder=f"opencv {cv2.__version__}, resize INTER_LINEAR",
                )
                for split, listing in listings.items():
                    groups = [(f.create_group(f"{split}/{v.name}"), v) for v in listing.videos]
                    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                        jobs = [pool.submit(_write_video, g, v, spec) for g, v in groups]
                        try:
                            for (_, video), job in zip(groups, jobs):
                                n = job.result()
                                if on_video:
                                    on_video(split, video.name, n)
                        except BaseException:  # stop at the first error or Ctrl-C, not after every queued video
                            for job in jobs:
                                job.cancel()
                            raise
                f.attrs["complete"] = True
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
    return path


# -- reading ----------------------------------------------------------------------------------
@dataclass
class Video:
    """One cached video: frames ``uint8 [T, H, W, C]``, labels ``uint8 [T]`` (test only)."""

    name: str
    frames: np.ndarray
    labels: np.ndarray | None
    _masks: h5py.Dataset | None = None

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def has_masks(self) -> bool:
        return self._masks is not None

    def masks(self) -> np.ndarray | None:
        """Pixel ground truth ``uint8 [T, h0, w0]`` at source resolution, or None."""
        return None if self._masks is None else self._masks[()]


class ClipCache:
    """A complete cache file opened for reading."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise CacheError(f"cache file not found: {self.path}")
        try:
            self.file = h5py.File(self.path, "r")
            attrs = dict(self.file.attrs)
        except OSError as exc:
            raise CacheError(f"cache file {self.path} is corrupt or truncated ({exc}); "
                             "delete it or prepare again with --rebuild") from None
        if not attrs.get("complete") or attrs.get("format") != FORMAT:
            raise CacheError(f"cache file {self.path} is incomplete or of another format; prepare again with --rebuild")
        self.attrs = attrs
        self.spec = InputSpec(int(attrs["height"]), int(attrs["width"]), str(attrs["color"]))
        self.missing: dict[str, list[str]] = json.loads(attrs.get("missing", "{}"))
        self.protocol: dict[str, Any] = json.loads(attrs.get("protocol", "{}"))

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> ClipCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def videos(self, split: str) -> list[str]:
        return sorted(self.file[split]) if split in self.file else []

    def lengths(self, split: str) -> np.ndarray:
        return np.array([self.file[f"{split}/{v}/frames"].shape[0] for v in self.videos(split)], dtype=np.int64)

    def video(self, split: str, name: str) -> Video:
        group = self.file[f"{split}/{name}"]
        try:
            frames = group["frames"][()]
        except OSError as exc:
            raise CacheError(f"cache file {self.path}: video {split}/{name} cannot be read ({exc}); "
                             "prepare again with --rebuild") from None
        labels = group["labels"][()] if "labels" in group else None
        return Video(name, frames, labels, group.get("masks"))

    def iter_videos(self, split: str) -> Iterator[Video]:
        """Videos of ``split`` in sorted order, one in memory at a time."""
        for name in self.videos(split):
            yield self.video(split, name)

    def train_data(self) -> TrainData:
        return TrainData(self.path, self.videos("train"), self.lengths("train"), self.spec)


# -- clips ------------------------------------------------------------------------------------
def clip_index(lengths: np.ndarray, spec: ClipSpec) -> np.ndarray:
    """All windows of ``spec`` over videos of ``lengths``: int64 rows (video, start, skip).

    Windows stay within one video; a video shorter than a window's span contributes none.
    """
    rows = []
    for skip in spec.skips:
        span = spec.span(skip)
        counts = np.maximum(0, (lengths - span) // spec.stride + 1)
        video = np.repeat(np.arange(len(lengths)), counts)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        start = (np.arange(counts.sum()) - np.repeat(first, counts)) * spec.stride
        rows.append(np.stack([video, start, np.full_like(start, skip)], axis=1))
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 3), np.int64)


def target_frames(index: np.ndarray, spec: ClipSpec) -> np.ndarray:
    """The frame each clip speaks for (``last`` or ``center``), per index row."""
    offset = spec.length - 1 if spec.target == "last" else spec.length // 2
    return index[:, 1] + offset * index[:, 2]


class ClipDataset(torch.utils.data.Dataset):
    """Training clips from the cache: item ``i`` is a uint8 tensor ``[L, H, W, C]``.

    The HDF5 file is opened lazily, once per process, so each DataLoader worker has its own
    handle (h5py handles must not cross a fork).
    """

    def __init__(self, path: Path, split: str, videos: list[str], lengths: np.ndarray, spec: ClipSpec) -> None:
        self.path, self.split, self.videos, self.spec = Path(path), split, list(videos), spec
        self.index = clip_index(np.asarray(lengths), spec)
        self._file: h5py.File | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.index)

    def _frames(self, video: int) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._file[f"{self.split}/{self.videos[video]}/frames"]

    def __getitem__(self, i: int) -> torch.Tensor:
        video, start, skip = (int(v) for v in self.index[i])
        stop = start + self.spec.span(skip)
        return torch.from_numpy(self._frames(video)[start:stop:skip])

    def __getstate__(self) -> dict[str, Any]:  # never pickle an open h5py handle
        return {**self.__dict__, "_file": None, "_pid": -1}


@dataclass
class TrainData:
    """The training split as a detector sees it in ``fit``."""

    path: Path
    videos: list[str]
    lengths: np.ndarray
    spec: InputSpec

    @property
    def n_frames(self) -> int:
        return int(self.lengths.sum())

    def clips(self, spec: ClipSpec) -> ClipDataset:
        return ClipDataset(self.path, "train", self.videos, self.lengths, spec)

    def iter_frames(self, every: int = 1) -> Iterator[np.ndarray]:
        """Each video's frames ``uint8 [T, H, W, C]`` (every ``every``-th), one video at a time."""
        with h5py.File(self.path, "r") as f:
            for name in self.videos:
                yield f[f"train/{name}/frames"][::every]
