"""Finding and reading the frames of one video: a folder of images or a video file.

Datasets number their frame files 0- or 1-based, with or without a prefix (``000.jpg``,
``001.tif``, ``frame012.bmp``), and folders hold stray files (``Thumbs.db``, ``.DS_Store``).
Frames are therefore ordered by the trailing number of their names, only image files count, and
a file's number is never used as a position: the position of a frame is its rank in that order.

Everything here yields uint8 frames, ``H×W`` grayscale or ``H×W×3`` RGB (OpenCV reads BGR; we
convert), one at a time, so a video is never held in memory whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from vadbench.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".tif", ".tiff", ".bmp", ".jpg", ".jpeg", ".png"})
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mov", ".mkv", ".mpg", ".mpeg", ".m4v", ".webm"})
_TRAILING_NUMBER = re.compile(r"(\d+)$")


def number(path: Path | str) -> int | None:
    """The trailing number of a file or folder name without suffix (``frame012.bmp`` -> 12)."""
    match = _TRAILING_NUMBER.search(Path(path).stem)
    return int(match.group(1)) if match else None


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def is_video_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def sort_numbered(paths: list[Path], what: str) -> list[Path]:
    """``paths`` sorted by trailing number; unnumbered names and repeated numbers are errors."""
    keyed = []
    for path in paths:
        n = number(path)
        if n is None:
            raise DatasetError(f"{what}: file {path.name!r} has no frame number in its name ({path.parent})")
        keyed.append((n, path))
    keyed.sort()
    for (a, pa), (b, pb) in zip(keyed, keyed[1:]):
        if a == b:
            raise DatasetError(f"{what}: files {pa.name!r} and {pb.name!r} carry the same frame number {a} ({pa.parent})")
    return [p for _, p in keyed]


def image_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` in frame order (non-image files are ignored)."""
    return sort_numbered([p for p in folder.iterdir() if p.is_file() and is_image(p)], f"folder {folder}")


def numbering_gaps(paths: list[Path]) -> list[int]:
    """Frame numbers missing between the first and the last of ``paths`` (sorted)."""
    numbers = [number(p) for p in paths]
    if not numbers:
        return []
    present = set(numbers)
    return [n for n in range(numbers[0], numbers[-1] + 1) if n not in present]


def to_rgb(image: np.ndarray) -> np.ndarray:
    """OpenCV's BGR(A) or gray uint8 image as RGB or gray."""
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def read_image(path: Path, video: str, position: int) -> np.ndarray:
    """One image file as uint8 gray or RGB; an unreadable file names itself, its video and position."""
    image = cv2.imread(str(path), cv2.IMREAD_ANYCOLOR)
    if image is None:
        raise DatasetError(f"cannot read frame {position} of video {video!r}: {path} is missing, unreadable or corrupt")
    return to_rgb(image)


def read_mask(path: Path, video: str, position: int) -> np.ndarray:
    """One mask image as a boolean ``H×W`` array (any non-zero pixel is anomalous)."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetError(f"cannot read mask {position} of video {video!r}: {path} is unreadable or corrupt")
    return image > 0


def decode_mask(data: bytes, origin: str) -> np.ndarray:
    """A mask image held in memory (e.g. an archive member named ``origin``) as a boolean array."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetError(f"cannot decode mask {origin}: the image is corrupt")
    return image > 0


def read_masks(folder: Path, video: str) -> Iterator[np.ndarray]:
    """The mask images of ``folder`` in frame order (matched to frames by rank, not by name)."""
    for position, path in enumerate(image_files(folder)):
        yield read_mask(path, video, position)


@dataclass(frozen=True)
class FrameSource:
    """The frames of one video on disk: a folder of image files or one video file.

    ``count()`` is cheap: the number of image files, or the frame count a video container
    announces in its header. ``read()`` decodes; a video whose decoding stops before the frame
    count its header announces is reported as corrupt at the frame where it stopped.
    """

    path: Path
    video: str

    @property
    def is_folder(self) -> bool:
        return self.path.is_dir()

    def files(self) -> list[Path]:
        return image_files(self.path)

    def count(self) -> int:
        if self.is_folder:
            return len(self.files())
        capture = self._open()
        try:
            return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
        finally:
            capture.release()

    def read(self) -> Iterator[np.ndarray]:
        if self.is_folder:
            for position, path in enumerate(self.files()):
                yield read_image(path, self.video, position)
        else:
            yield from self._decode()

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise DatasetError(f"cannot open video {self.video!r}: {self.path} is missing, unreadable or not a video")
        return capture

    def _decode(self) -> Iterator[np.ndarray]:
        capture = self._open()
        try:
            announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            position = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                yield to_rgb(frame)
                position += 1
        finally:
            capture.release()
        if position == 0 or position < announced:
            raise DatasetError(
                f"cannot decode frame {position} of video {self.video!r}: {self.path} is corrupt or truncated "
                f"(its header announces {announced} frames)"
            )


def frame_source(path: Path, video: str | None = None) -> FrameSource:
    """A :class:`FrameSource` for a frame folder or a video file, named after it by default."""
    return FrameSource(path, video if video is not None else (path.name if path.is_dir() else path.stem))


def video_entries(folder: Path) -> list[Path]:
    """The videos of a split folder: sub-folders holding images, and video files."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if not p.name.startswith(".") and (is_video_file(p) or (p.is_dir() and any(map(is_image, p.iterdir())))))
