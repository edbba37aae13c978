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
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from vadbench.data.source import printable
from vadbench.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".tif", ".tiff", ".bmp", ".jpg", ".jpeg", ".png"})
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mov", ".mkv", ".mpg", ".mpeg", ".m4v", ".webm"})
_TRAILING_NUMBER = re.compile(r"(\d+)$")
Located = tuple[str, np.ndarray]  # an image and where it was read (printable): a file, or a part of one


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
            raise DatasetError(f"{what}: file {printable(path.name)!r} has no frame number in its name "
                               f"({printable(path.parent)})")
        keyed.append((n, path))
    keyed.sort()
    for (a, pa), (b, pb) in zip(keyed, keyed[1:]):
        if a == b:
            raise DatasetError(f"{what}: files {printable(pa.name)!r} and {printable(pb.name)!r} carry the same frame "
                               f"number {a} ({printable(pa.parent)})")
    return [p for _, p in keyed]


def image_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` in frame order (non-image files are ignored)."""
    return sort_numbered([p for p in folder.iterdir() if p.is_file() and is_image(p)], f"folder {printable(folder)}")


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


def decode_image(data: np.ndarray | bytes, flags: int) -> np.ndarray | None:
    """An encoded image held in memory, decoded by OpenCV (None when it is empty or corrupt)."""
    data = np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data
    return cv2.imdecode(data, flags) if data.size else None


def load_image(path: Path, flags: int) -> np.ndarray | None:
    """``cv2.imread`` for any path (None when missing, unreadable or corrupt).

    OpenCV cannot take a path that is not valid UTF-8 (it crashes), so NumPy reads the bytes,
    which works for every path, and OpenCV decodes them in memory.
    """
    try:
        return decode_image(np.fromfile(path, np.uint8), flags)
    except OSError:
        return None


def read_image(path: Path, video: str, position: int) -> np.ndarray:
    """One image file as uint8 gray or RGB; an unreadable file names itself, its video and position."""
    image = load_image(path, cv2.IMREAD_ANYCOLOR)
    if image is None:
        raise DatasetError(f"cannot read frame {position} of video {video!r}: {printable(path)} is missing, "
                           f"unreadable or corrupt")
    return to_rgb(image)


def read_mask(path: Path, video: str, position: int) -> np.ndarray:
    """One mask image as a boolean ``H×W`` array (any non-zero pixel is anomalous)."""
    image = load_image(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetError(f"cannot read mask {position} of video {video!r}: {printable(path)} is unreadable or "
                           f"corrupt")
    return image > 0


def decode_mask(data: bytes, origin: str) -> np.ndarray:
    """A mask image held in memory (e.g. an archive member named ``origin``) as a boolean array."""
    image = decode_image(data, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetError(f"cannot decode mask {origin}: the image is corrupt")
    return image > 0


def read_masks(folder: Path, video: str) -> Iterator[Located]:
    """The mask images of ``folder`` in frame order (matched to frames by rank, not by name)."""
    for position, path in enumerate(image_files(folder)):
        yield printable(path), read_mask(path, video, position)


def in_file(path: Path, arrays: Iterable[np.ndarray]) -> Iterator[Located]:
    """``arrays`` read from the one file ``path`` (a video, a ``.mat`` or ``.npy`` of masks), located."""
    where = printable(path)
    return ((where, array) for array in arrays)


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}×{shape[0]}"


def one_size(items: Iterable[Located], kind: str, video: str,
             like: tuple[str, Located] | None = None) -> Iterator[np.ndarray]:
    """The arrays of ``items`` (frames or masks of ``video``), each checked to have one size.

    The size (H×W; gray and colour may mix) is that of ``like`` (a description, e.g. "its
    frames", and a located array) or else of the first item. Why: the cache resizes every frame
    to the cache size, so a frame of another size in the middle of a video would be stretched
    without a word, and a mask of another size would crash the build or misalign the pixel metric.
    The error names the video, the position, both files and both sizes.
    """
    reference = like
    for position, (origin, array) in enumerate(items):
        if reference is None:
            reference = (f"{kind} 0", (origin, array))
        what, (first_origin, first) = reference
        if array.shape[:2] != first.shape[:2]:
            where = origin if origin == first_origin else f"{origin}; {what}: {first_origin}"
            raise DatasetError(f"{kind} {position} of video {video!r} is {_size(array.shape)} (W×H), unlike "
                               f"{what} ({_size(first.shape)}): {where}")
        yield array


@dataclass(frozen=True)
class FrameSource:
    """The frames of one video on disk: a folder of image files or one video file.

    ``count()`` is cheap: the number of image files, or the frame count a video container
    announces in its header. ``read()`` decodes; a video whose decoding stops before the frame
    count its header announces is reported as corrupt at the frame where it stopped, and a frame
    whose size differs from the first frame's is an error (see :func:`one_size`).
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
        with self._open() as capture:
            return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))

    def read(self) -> Iterator[np.ndarray]:
        return one_size(self.located(), "frame", self.video)

    def located(self) -> Iterator[Located]:
        """The frames with the file each comes from, unchecked (``read()`` checks their sizes)."""
        if self.is_folder:
            for position, path in enumerate(self.files()):
                yield printable(path), read_image(path, self.video, position)
        else:
            yield from in_file(self.path, self._decode())

    @contextmanager
    def _open(self) -> Iterator[cv2.VideoCapture]:
        with openable(self.path) as path:
            capture = cv2.VideoCapture(path)
            try:
                if not capture.isOpened():
                    raise DatasetError(f"cannot open video {self.video!r}: {printable(self.path)} is missing, "
                                       f"unreadable or not a video")
                yield capture
            finally:
                capture.release()

    def _decode(self) -> Iterator[np.ndarray]:
        with self._open() as capture:
            announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            position = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                yield to_rgb(frame)
                position += 1
        if position == 0 or position < announced:
            raise DatasetError(
                f"cannot decode frame {position} of video {self.video!r}: {printable(self.path)} is corrupt or "
                f"truncated (its header announces {announced} frames)"
            )


@contextmanager
def openable(path: Path) -> Iterator[str]:
    """A name of ``path`` that OpenCV's ``VideoCapture`` can open (it cannot read from memory).

    OpenCV crashes on a path that is not valid UTF-8, so such a file is opened through a
    temporary symbolic link with a plain name, removed afterwards.
    """
    text = str(path)
    if printable(text) == text:
        yield text
        return
    with tempfile.TemporaryDirectory(prefix="vadbench-") as folder:
        link = Path(folder) / ("video" + printable(path.suffix))
        try:
            link.symlink_to(Path(path).absolute())
        except OSError as exc:
            raise DatasetError(f"cannot open video {printable(path)}: its name is not valid UTF-8, which OpenCV "
                               f"cannot take, and no link to it could be made ({exc.strerror}); rename it") from None
        yield str(link)


def frame_source(path: Path, video: str | None = None) -> FrameSource:
    """A :class:`FrameSource` for a frame folder or a video file, named after it by default.

    The default name is the folder name or the file name without suffix, made printable: a byte
    that is not UTF-8 is written ``\\xNN`` (folder ``b"cam\\xff1"`` is video ``cam\\xff1``).
    """
    return FrameSource(path, video if video is not None else printable(path.name if path.is_dir() else path.stem))


def video_entries(folder: Path) -> list[Path]:
    """The videos of a split folder: its sub-folders and video files (hidden ones excepted).

    A sub-folder without images is listed too, so that an empty video folder is reported by
    name (``FileAdapter.inspect``) instead of silently leaving a video out.
    """
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (is_video_file(p) or p.is_dir()))
