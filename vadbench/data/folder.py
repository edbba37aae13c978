"""A user's own cameras: ``train/`` and ``test/`` holding videos or folders of frames.

Layout::

    <root>/train/<video>.avi | <video>.mp4 | <video>/<frames>.jpg ...   normal footage only
    <root>/test/<video>.avi  | <video>/...                              footage to score
    <root>/labels.csv          anomalous intervals of the test videos, or
    <root>/labels/<video>.npy  one 0/1 label per frame of each test video

A video is named after its file (without suffix) or its folder. Frames of a folder are ordered
by the trailing number of their names (any prefix, 0- or 1-based). ``labels.csv`` has the header
``video,start,end`` and one row per anomalous event: ``start`` and ``end`` are frame positions
in the video (0 = its first frame), both inclusive; a test video without rows is entirely
normal, and a row naming a video that is absent is a missing video. The option ``labels``
(``--data-set labels=PATH``) points to another CSV file or ``.npy`` folder (relative to the root
or absolute).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vadbench.registry import register_dataset
from vadbench.data.frames import FrameSource, frame_source, video_entries
from vadbench.data.labels import intervals_to_labels, load_interval_csv
from vadbench.data.layout import FileAdapter, LabelSource, Scan, SplitFacts, per_video_labels
from vadbench.data.source import printable
from vadbench.errors import DatasetError


@register_dataset("folder")
class Folder(FileAdapter):
    """Your own videos: train/ and test/ with video files or frame folders; labels.csv or labels/*.npy."""

    name = "folder"
    layouts = "train/ and test/ folders holding video files or folders of frames"

    @dataclass
    class Options:
        """``labels``: a CSV file or ``.npy`` folder, relative to the root or absolute (None: the root's own)."""

        labels: str | None = None

    def labels_path(self) -> Path | None:
        """The label file or folder: the ``labels`` option, else ``labels.csv`` or ``labels/``."""
        option = self.settings.labels
        if option:
            path = Path(option).expanduser()
            path = path if path.is_absolute() else self.root / path
            if not path.exists():
                raise DatasetError(f"folder: label file {printable(path)} not found")
            return path
        return next((p for p in (self.root / "labels.csv", self.root / "labels") if p.exists()), None)

    def find(self) -> Scan:
        if not (self.root / "train").is_dir() or not (self.root / "test").is_dir():
            raise self.unrecognised()
        videos = {split: self._videos(self.root / split) for split in ("train", "test")}
        path = self.labels_path()
        if path is None:
            raise DatasetError(f"folder: the test videos need labels: add {printable(self.root / 'labels.csv')} "
                               f"(columns video,start,end) or {printable(self.root / 'labels')}/<video>.npy, or pass "
                               f"--data-set labels=PATH")
        if path.is_dir():
            files = {printable(p.stem): p for p in sorted(path.glob("*.npy"))}  # named as their videos are
            labels = per_video_labels(files, f"{printable(path)}/*.npy", "npy")
            labelled = set(files)
        else:
            intervals = load_interval_csv(path)
            labelled = set(intervals)

            def read(counts: dict[str, int]) -> dict[str, Any]:
                return {name: intervals_to_labels(intervals.get(name, []), n, name, printable(path), first=0)
                        for name, n in counts.items()}

            labels = LabelSource(printable(path.name), "csv", read, [path])
        self._expected_test = tuple(sorted(labelled | set(videos["test"])))
        return Scan("train/ and test/", videos, labels)

    @staticmethod
    def _videos(folder: Path) -> dict[str, FrameSource]:
        found: dict[str, FrameSource] = {}
        for path in video_entries(folder):
            source = frame_source(path)
            if source.video in found:
                raise DatasetError(f"{printable(found[source.video].path.name)} and {printable(path.name)} in "
                                   f"{printable(folder)} are both video {source.video!r}; rename one")
            found[source.video] = source
        return found

    def expected(self, split: str) -> SplitFacts | None:
        """Test videos are those present plus those the labels name (absent ones are missing)."""
        if split == "train":
            return None
        self.scan()
        return SplitFacts(names=self._expected_test)

    def fingerprint(self) -> str:
        """The default fingerprint, plus the label file when it lives outside the root."""
        digest = super().fingerprint()
        path = self.labels_path() if self.root is not None and self.root.is_dir() else None
        if path is None or path.resolve().is_relative_to(self.root.resolve()):
            return digest
        stats = [p.stat() for p in ([path] if path.is_file() else sorted(path.rglob("*")))]
        blob = digest + "".join(f"{s.st_size}:{s.st_mtime_ns}" for s in stats)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
