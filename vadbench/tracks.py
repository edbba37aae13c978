"""Ground-truth anomaly tracks for TBDC: read from the published files, or derived from masks.

A track is a set of (frame, box) regions of one anomalous object (``docs/protocols.md`` §6.1).
The published tracks are not redistributed: users download them and point vadbench at them.

* :func:`read_tracks` reads one video's track file. Two row layouts (six numbers per row,
  separated by whitespace or commas; blank lines and lines starting with ``#`` are skipped):
  ``"centre"``, MERL's Ped2 and Avenue rows ``track, frame, centre column, centre row, width,
  height`` with 1-based frames; ``"corners"``, Georgescu et al.'s ShanghaiTech rows ``track,
  frame, x_min, y_min, x_max, y_max``. Frame numbers and boxes are validated against the video's
  length and image size, and a bad row is one line naming the file and line.
* :class:`TrackDir` is a folder of such files, one per test video (``--data-set tracks=PATH``):
  it finds each video's file by the names its dataset accepts and reads it checked.
* :func:`tracks_from_masks` derives tracks from pixel masks where no track file exists, and
  marks them ``gt_source="masks"`` so that they are never mistaken for the published tracks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np

from vadbench.errors import DatasetError, EvaluationError
from vadbench.regions import frame_chunks, label_frames, set_columns

Layout = Literal["centre", "corners"]
LAYOUTS: dict[str, str] = {
    "centre": "track, frame, centre column, centre row, width, height (MERL's Ped2/Avenue tracks)",
    "corners": "track, frame, x_min, y_min, x_max, y_max (Georgescu et al.'s ShanghaiTech tracks)",
}
FIRST_FRAME: dict[str, int] = {"centre": 1, "corners": 0}


@dataclass(frozen=True)
class Tracks:
    """Ground-truth regions grouped into tracks, column-wise.

    ``frame`` int64 [N] (0-based), ``boxes`` float64 [N, 4] inclusive ``x0, y0, x1, y1``,
    ``track`` int64 [N] track id of each region. ``gt_source``: ``"track_file"`` or ``"masks"``;
    ``origin``: what it was read from (file path and layout, or the mask rule).
    """

    frame: np.ndarray
    boxes: np.ndarray
    track: np.ndarray
    gt_source: str
    origin: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_columns(self, "ground-truth tracks", "track", np.int64)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def n_tracks(self) -> int:
        return len(np.unique(self.track))

    @classmethod
    def concat(cls, parts: Sequence[Tracks], lengths: Sequence[int]) -> Tracks:
        """One set over consecutive videos: frames offset by the lengths before, track ids made distinct.

        All parts must share one ``gt_source``: published tracks of some videos and mask-derived
        ones of others would be a result of neither kind.
        """
        sources = {p.gt_source for p in parts}
        if len(sources) > 1:
            raise EvaluationError(f"tracks of mixed ground-truth sources {sorted(sources)}; use one kind for all videos")
        if len(parts) != len(lengths):
            raise EvaluationError(f"tracks of {len(parts)} videos for {len(lengths)} video lengths")
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        ids = [np.unique(p.track, return_inverse=True)[1] for p in parts]
        id_offsets = np.concatenate([[0], np.cumsum([i.max() + 1 if len(i) else 0 for i in ids])[:-1]])
        return cls(np.concatenate([np.zeros(0, np.int64)] + [p.frame + o for p, o in zip(parts, offsets)]),
                   np.concatenate([np.zeros((0, 4))] + [p.boxes for p in parts]),
                   np.concatenate([np.zeros(0, np.int64)] + [i + o for i, o in zip(ids, id_offsets)]),
                   sources.pop() if sources else "none", {"videos": [p.origin for p in parts]})


def _rows(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The numeric rows of a track file [N, 6] and their 1-based line numbers."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read track file {path}: {e}") from None
    lines = [(i + 1, line.replace(",", " ").split()) for i, line in enumerate(text.splitlines())]
    lines = [(n, f) for n, f in lines if f and not f[0].startswith("#")]
    for n, f in lines:
        if len(f) != 6:
            raise DatasetError(f"{path}:{n}: {len(f)} fields; expected 6 (track, frame and four box numbers)")
    numbers = np.array([n for n, _ in lines], dtype=np.int64)
    try:
        rows = np.array([f for _, f in lines], dtype=np.float64).reshape(-1, 6)
    except ValueError:
        for n, f in lines:  # only on the error path: find the line to name
            try:
                [float(x) for x in f]
            except ValueError:
                raise DatasetError(f"{path}:{n}: not a number in {' '.join(f)!r}") from None
        raise
    bad = np.flatnonzero(~np.isfinite(rows).all(axis=1) | (rows[:, :2] != np.round(rows[:, :2])).any(axis=1))
    if len(bad):
        raise DatasetError(f"{path}:{numbers[bad[0]]}: track id and frame must be integers, got "
                           f"{rows[bad[0], 0]:g} and {rows[bad[0], 1]:g}")
    return rows, numbers


def _fail_first(path: Path, numbers: np.ndarray, bad: np.ndarray, message: str | Callable[[int], str]) -> None:
    """Raise for the first flagged row, naming its line; ``message`` may depend on the row index."""
    rows = np.flatnonzero(bad)
    if len(rows):
        text = message(int(rows[0])) if callable(message) else message
        raise DatasetError(f"{path}:{numbers[rows[0]]}: {text}")


def read_tracks(path: str | Path, *, layout: Layout, image_size: tuple[int, int], n_frames: int,
                first_frame: int | None = None) -> Tracks:
    """One video's ground-truth tracks from a published track file.

    ``image_size``: (height, width) of the video's frames at source resolution (Ped2 240×360,
    Avenue 360×640, ShanghaiTech 480×856); ``n_frames``: its length; ``first_frame``: the number
    the file gives the video's first frame (default 1 for ``"centre"``, as MERL's files count,
    and 0 for ``"corners"``). Frames become 0-based.

    ``"centre"`` rows become the box of ``width`` × ``height`` pixels centred on the centre,
    corners ``centre ∓ (size − 1) / 2`` (so that under the inclusive convention its area is
    exactly width × height), clipped to the image; a box entirely outside the image is an
    error. ``"corners"`` rows must lie inside the image already. Each (track, frame) may occur once.
    """
    path = Path(path)
    if layout not in LAYOUTS:
        raise DatasetError(f"track file {path}: unknown layout {layout!r}; expected one of {sorted(LAYOUTS)}")
    height, width = image_size
    first = FIRST_FRAME[layout] if first_frame is None else first_frame
    rows, numbers = _rows(path)
    track, frame = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64) - first
    _fail_first(path, numbers, (frame < 0) | (frame >= n_frames),
                lambda i: f"frame {frame[i] + first} is outside the video's frames {first}..{first + n_frames - 1}")
    if layout == "centre":
        cx, cy, w, h = rows[:, 2:].T
        _fail_first(path, numbers, (w <= 0) | (h <= 0), "width and height must be positive")
        boxes = np.stack([cx - (w - 1) / 2, cy - (h - 1) / 2, cx + (w - 1) / 2, cy + (h - 1) / 2], axis=1)
        _fail_first(path, numbers, (boxes[:, 2] < 0) | (boxes[:, 3] < 0) | (boxes[:, 0] > width - 1)
                    | (boxes[:, 1] > height - 1), f"the box lies entirely outside the {width}×{height} image")
        boxes = np.clip(boxes, 0, [width - 1, height - 1, width - 1, height - 1])
    else:
        boxes = rows[:, 2:]
        _fail_first(path, numbers, (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]),
                    "x_max < x_min or y_max < y_min")
        _fail_first(path, numbers, (boxes < 0).any(axis=1) | (boxes[:, [0, 2]] > width - 1).any(axis=1)
                    | (boxes[:, [1, 3]] > height - 1).any(axis=1),
                    f"the box is outside the {width}×{height} image (columns 0..{width - 1}, rows 0..{height - 1})")
    key = track * (n_frames + 1) + frame
    _, first_seen = np.unique(key, return_index=True)
    dup = np.zeros(len(key), bool)
    dup[np.setdiff1d(np.arange(len(key)), first_seen)] = True
    _fail_first(path, numbers, dup, "a second region for the same track and frame")
    return Tracks(frame, boxes, track, "track_file", {"file": str(path), "layout": layout, "first_frame": first})


def _txt_names(video: str) -> tuple[str, ...]:
    return (f"{video}.txt",)


@dataclass(frozen=True)
class TrackDir:
    """A folder of published track files, one per test video, in one ``layout``.

    ``names(video)`` gives the file names a video's file may have (default ``<video>.txt``);
    exactly one of them must exist. Every test video of the datasets that publish tracks (Ped2,
    Avenue, ShanghaiTech) holds an anomaly, so a video without a file is an error, never zero
    tracks. Use :meth:`at` to make one: it checks the folder.
    """

    path: Path
    layout: Layout
    names: Callable[[str], Sequence[str]] = _txt_names
    first_frame: int | None = None

    @classmethod
    def at(cls, path: str | Path, layout: Layout, names: Callable[[str], Sequence[str]] = _txt_names, *,
           first_frame: int | None = None, what: str = "tracks") -> TrackDir:
        """The track folder at ``path`` (``~`` expanded, made absolute); ``what`` names it in errors."""
        folder = Path(path).expanduser().absolute()
        if layout not in LAYOUTS:
            raise DatasetError(f"{what}: unknown track layout {layout!r}; expected one of {sorted(LAYOUTS)}")
        if not folder.exists():
            raise DatasetError(f"{what}: track directory {folder} not found")
        if not folder.is_dir():
            raise DatasetError(f"{what}: {folder} is not a directory; tracks=PATH names the folder that holds "
                               "one track file per test video")
        return cls(folder, layout, names, first_frame)

    def file(self, video: str) -> Path:
        """The track file of test video ``video``: the one of its accepted names that exists."""
        candidates = list(dict.fromkeys(self.names(video)))
        found = [self.path / name for name in candidates if (self.path / name).is_file()]
        if len(found) > 1:
            raise DatasetError(f"track files {found[0].name} and {found[1].name} in {self.path} both name test video "
                               f"{video!r}; keep one")
        if not found:
            raise DatasetError(f"no track file for test video {video!r} in {self.path} (looked for "
                               f"{' or '.join(candidates)}); every test video of this dataset holds an anomaly, so "
                               "each needs its file")
        return found[0]

    def read(self, video: str, n_frames: int, image_size: tuple[int, int]) -> Tracks:
        """Video ``video``'s tracks, checked against its length and (height, width)."""
        return read_tracks(self.file(video), layout=self.layout, image_size=image_size, n_frames=n_frames,
                           first_frame=self.first_frame)

    def record(self) -> dict[str, Any]:
        """What a result stores of the folder: enough to read the same files again."""
        return {"dir": str(self.path), "layout": self.layout,
                "first_frame": FIRST_FRAME[self.layout] if self.first_frame is None else self.first_frame}


def _overlaps(a: np.ndarray, b: np.ndarray, offset_a: int, offset_b: int) -> np.ndarray:
    """Distinct (component of ``a``, component of ``b``) pairs sharing a pixel, as run-wide ids [K, 2].

    ``a`` and ``b`` are label images of the same shape (0 = background) whose components 1..n
    have the run-wide ids offset .. offset + n − 1. Pairs are deduplicated as one int64 key each.
    """
    both = (a > 0) & (b > 0)
    key = np.unique((a[both].astype(np.int64) + (offset_a - 1)) << 32 | (b[both].astype(np.int64) + (offset_b - 1)))
    return np.stack([key >> 32, key & 0xFFFFFFFF], axis=1)


def tracks_from_masks(masks: np.ndarray, connectivity: int = 8) -> Tracks:
    """Tracks derived from one video's pixel masks [T, H, W] (non-zero = anomalous).

    Each connected component of a frame's mask is a region (its bounding box); a component is
    linked to every component of the next frame it shares a pixel with (pixel overlap, IoU > 0),
    and a track is a connected group of linked regions. Objects that merge or split therefore
    join one track, which may then hold several regions in one frame. These are not the
    published tracks: the result says ``gt_source="masks"``.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise EvaluationError(f"tracks from masks: masks of shape {masks.shape}; expected [T, H, W]")
    frames, boxes, edges = [], [], []
    offset, previous = 0, None  # previous: (last frame's labels, their id offset) of the chunk before
    for chunk in frame_chunks(len(masks), *masks.shape[1:]):
        labels, frame, box, _ = label_frames(masks[chunk] != 0, connectivity)
        edges.append(_overlaps(labels[:-1], labels[1:], offset, offset))
        if previous is not None:
            edges.append(_overlaps(previous[0], labels[0], previous[1], offset))
        frames.append(frame + chunk.start)
        boxes.append(box)
        previous = (labels[-1], offset)
        offset += len(frame)
    n = offset
    pairs = np.concatenate([np.zeros((0, 2), np.int64)] + edges)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, track = connected_components(graph, directed=False)
    return Tracks(np.concatenate(frames) if frames else np.zeros(0, np.int64),
                  np.concatenate(boxes) if boxes else np.zeros((0, 4)), track, "masks",
                  {"rule": "connected components per frame, linked by pixel overlap between consecutive frames",
                   "connectivity": connectivity})
