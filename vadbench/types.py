"""The value types every layer shares: what a detector asks for, sees and returns.

Nearly a leaf module (it imports only the error classes and ``vadbench.regions``, itself a leaf,
for :class:`~vadbench.regions.Regions`), so the detector contract, the cache, the trainer and the
runner can all use these types without importing one another.
``Video`` and ``TrainData`` are protocols: the cache provides them, a detector relies on
nothing else of the cache, and tests can hand a detector any object of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Protocol

import numpy as np

from vadbench.errors import EvaluationError
from vadbench.regions import Regions

Color = Literal["gray", "rgb"]


@dataclass(frozen=True)
class InputSpec:
    """The frames a detector wants from the cache: size and colour (frames are stored RGB)."""

    height: int = 256
    width: int = 256
    color: Color = "rgb"

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    @property
    def key(self) -> str:
        """Short, file-name-safe name of this preprocessing, e.g. ``256x256-rgb``."""
        return f"{self.height}x{self.width}-{self.color}"


@dataclass(frozen=True)
class ClipSpec:
    """How training clips are cut from a video.

    A clip is ``length`` frames, ``skip`` frames apart, starting every ``stride`` frames; clips
    never cross a video boundary. ``skips`` lists several dilations (ConvAE trains on skips 1, 2
    and 3); each gives its own set of windows.
    """

    length: int
    stride: int = 1
    skips: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        if self.length < 1 or self.stride < 1 or not self.skips or min(self.skips) < 1:
            raise ValueError(f"invalid clip spec {self}")

    def span(self, skip: int) -> int:
        """Frames covered by one clip at dilation ``skip``."""
        return (self.length - 1) * skip + 1


@dataclass
class VideoScores:
    """What a detector returns for one test video of ``T`` frames.

    ``scores``: float [T], higher = more anomalous, NaN where undecided (e.g. the first frames
    of a predictor). ``maps``: optional float [T, h, w] per-pixel anomaly maps at any resolution
    (the pixel protocols resize them to the mask size). ``extras``: optional per-frame columns
    (float [T] each) written beside the score in ``frames.csv`` so that a method's own score
    components can be recombined later without rerunning it. ``raw``: optional float [T], a score
    free of test statistics, for detectors whose ``scores`` already use them (MNAD fuses per-video
    min-max normalised streams; its raw score is −PSNR); the leak-free metrics use it.
    ``regions``: optional scored boxes the detector found itself (object detections, say), frames
    numbered within the video (0..T−1) and boxes ``x0, y0, x1, y1`` in inclusive pixel
    coordinates of the source frames (the mask resolution); ``run --regions`` evaluates them
    instead of regions derived from ``maps`` (``docs/protocols.md`` §6.4).
    """

    scores: np.ndarray
    maps: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    raw: np.ndarray | None = None
    regions: Regions | None = None

    def check(self, n_frames: int, video: str, image_size: tuple[int, int] | None = None) -> None:
        """Raise a readable error if the arrays do not have one entry per frame, or if a region
        lies outside the video's frames or, when ``image_size`` (height, width of the source
        frames) is known, outside the image."""
        if self.scores.shape != (n_frames,):
            raise EvaluationError(
                f"detector returned scores of shape {self.scores.shape} for video {video!r} "
                f"with {n_frames} frames; expected ({n_frames},)"
            )
        if self.maps is not None and (self.maps.ndim != 3 or len(self.maps) != n_frames):
            raise EvaluationError(
                f"detector returned maps of shape {self.maps.shape} for video {video!r}; "
                f"expected ({n_frames}, h, w)"
            )
        if self.raw is not None and np.shape(self.raw) != (n_frames,):
            raise EvaluationError(f"raw scores have shape {np.shape(self.raw)} for video {video!r}; expected ({n_frames},)")
        for key, column in self.extras.items():
            if np.shape(column) != (n_frames,):
                raise EvaluationError(
                    f"extra column {key!r} has shape {np.shape(column)} for video {video!r}; "
                    f"expected ({n_frames},)"
                )
        if self.regions is not None:
            self._check_regions(n_frames, video, image_size)

    def _check_regions(self, n_frames: int, video: str, image_size: tuple[int, int] | None) -> None:
        regions = self.regions
        if not isinstance(regions, Regions):
            raise EvaluationError(f"detector returned regions of type {type(regions).__name__} for video {video!r}; "
                                  "expected vadbench.Regions (frame, boxes, scores)")
        late = np.flatnonzero(regions.frame >= n_frames)
        if len(late):
            raise EvaluationError(f"detector returned region {late[0]} of video {video!r} in frame "
                                  f"{regions.frame[late[0]]}, beyond its {n_frames} frames (0..{n_frames - 1}); "
                                  "region frames are numbered within the video")
        if image_size is not None:
            height, width = image_size
            b = regions.boxes
            out = np.flatnonzero((b < 0).any(axis=1) | (b[:, [0, 2]] > width - 1).any(axis=1)
                                 | (b[:, [1, 3]] > height - 1).any(axis=1))
            if len(out):
                raise EvaluationError(f"detector returned region {out[0]} of video {video!r} with box "
                                      f"{[float(v) for v in b[out[0]]]} outside its {width}×{height} source frames "
                                      f"(x 0..{width - 1}, y 0..{height - 1}, inclusive corners)")



class Video(Protocol):
    """One test (or training) video as a detector sees it in ``score_video``."""

    name: str
    frames: np.ndarray  # uint8 [T, H, W, C] at the detector's InputSpec
    labels: np.ndarray | None  # uint8 [T], 1 = anomalous (test videos)

    def __len__(self) -> int: ...

    @property
    def has_masks(self) -> bool: ...

    def masks(self) -> np.ndarray | None:
        """Pixel ground truth ``uint8 [T, h0, w0]`` at source resolution, or None."""


class TrainData(Protocol):
    """The training split as a detector sees it in ``fit``."""

    path: Path
    videos: list[str]
    lengths: np.ndarray
    spec: InputSpec

    @property
    def n_frames(self) -> int: ...

    def clips(self, spec: ClipSpec) -> Any:
        """A torch Dataset of uint8 clips ``[L, H, W, C]`` cut as ``spec`` says."""

    def iter_frames(self, every: int = 1) -> Iterator[np.ndarray]:
        """Each video's frames ``uint8 [T, H, W, C]`` (every ``every``-th), one video at a time."""
