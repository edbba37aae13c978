"""Parsers of the frame- and pixel-level ground-truth files the datasets ship.

Formats (facts from the datasets' distributions, see ``docs/datasets.md``):

* UCSD ``UCSDpedN.m``: a MATLAB script, one line per test clip in clip order,
  ``TestVideoFile{end+1}.gt_frame = [a:b];`` or ``[a:b, c:d]``; 1-based inclusive ranges.
  Parsed with a regular expression, never executed.
* ano_pred ``<name>.mat``: variable ``gt``, a 1×V cell, entry v a 2×K array of [start; end]
  rows (1-based inclusive); a single event may load as a 1-D or 1×2 array of two values.
* concatenated ``frame_labels_<name>.npy`` (MNAD): the test videos' labels back to back in
  sorted video order, shape (1, N) or (N,).
* per-video ``.npy`` (ShanghaiTech ``test_frame_mask``, a user's own files): one 0/1 per frame.
* Avenue ``N_label.mat``: variable ``volLabel``, a 1×T cell of per-frame masks.
* a CSV of anomalous intervals for the ``folder`` adapter: header ``video,start,end``, one row
  per event, frame positions counted from 0 (the first frame in sorted order), both inclusive.

An interval is kept in its file's numbering together with that numbering's first value, so that
error messages quote the numbers a user can find in the file.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import scipy.io

from vadbench.data.source import printable
from vadbench.errors import DatasetError

Interval = tuple[int, int]  # (start, end), inclusive, in the source file's numbering

_M_ENTRY = re.compile(r"gt_frame\s*=\s*\[([^\]]*)\]")
_M_RANGE = re.compile(r"(\d+)\s*:\s*(\d+)|(\d+)")


def parse_ucsd_m(path: Path) -> list[list[Interval]]:
    """The intervals of every test clip listed in a UCSD ``.m`` ground-truth file (1-based)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        raise cannot_read("ground-truth file", path, exc.strerror) from None
    entries = []
    for body in _M_ENTRY.findall(text):
        intervals = []
        for a, b, single in _M_RANGE.findall(body):
            intervals.append((int(a), int(b)) if a else (int(single), int(single)))
        entries.append(intervals)
    if not entries:
        raise DatasetError(f"{printable(path)} holds no `gt_frame = [a:b];` entries; is it a UCSD ground-truth file?")
    return entries


def load_anopred_mat(path: Path) -> list[list[Interval]]:
    """The intervals of every test video in an ano_pred ``<name>.mat`` file (1-based)."""
    gt = _loadmat(path, "gt")
    cells = gt.reshape(-1) if gt.dtype == object else [gt]
    entries = []
    for i, cell in enumerate(cells):
        arr = numeric(np.asarray(cell), f"entry {i + 1} of `gt` in MATLAB file", path).astype(np.int64)
        if arr.size == 0:
            entries.append([])
            continue
        if arr.size == 2:  # one event, stored 2×1, 1×2 or 1-D
            arr = arr.reshape(2, 1)
        if arr.ndim != 2 or arr.shape[0] != 2:
            raise DatasetError(f"{printable(path)}: entry {i + 1} of `gt` has shape {arr.shape}, expected 2×K "
                               f"[start; end] rows")
        entries.append([(int(a), int(b)) for a, b in arr.T])
    return entries


def intervals_to_labels(intervals: Sequence[Interval], n_frames: int, video: str, source: str,
                        first: int = 1) -> np.ndarray:
    """Per-frame 0/1 labels of a video of ``n_frames`` from inclusive intervals numbered from ``first``."""
    labels = np.zeros(n_frames, dtype=np.uint8)
    for a, b in intervals:
        lo, hi = a - first, b - first
        if lo < 0 or hi < lo or hi >= n_frames:
            raise DatasetError(
                f"{printable(source)}: interval {a}-{b} of video {video!r} does not fit its {n_frames} frames "
                f"(numbered from {first}, both ends inclusive)"
            )
        labels[lo:hi + 1] = 1
    return labels


def load_npy_labels(path: Path) -> np.ndarray:
    """A 0/1 label vector from ``.npy``: shape (N,) or (1, N) (MNAD's files use both)."""
    arr = load_npy(path, "label file")
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise DatasetError(f"label file {printable(path)} has shape {arr.shape}; expected (N,) or (1, N)")
    values = np.unique(arr)
    if not np.isin(values, (0, 1)).all():
        raise DatasetError(f"label file {printable(path)} holds values {values[:5].tolist()}..., expected 0 and 1")
    return arr.astype(np.uint8)


def split_concatenated(labels: np.ndarray, counts: Sequence[tuple[str, int]], source: str) -> dict[str, np.ndarray]:
    """Cut a concatenation of per-video labels by ``(video, frames)`` in concatenation order."""
    total = sum(n for _, n in counts)
    if len(labels) != total:
        raise DatasetError(
            f"{printable(source)} holds {len(labels)} labels but the {len(counts)} test videos have {total} frames"
        )
    bounds = np.cumsum([0] + [n for _, n in counts])
    return {name: labels[bounds[i]:bounds[i + 1]] for i, (name, _) in enumerate(counts)}


def check_length(labels: np.ndarray, n_frames: int, video: str, source: str) -> np.ndarray:
    """``labels`` if it has one entry per frame, else an error naming both numbers and the video."""
    if len(labels) != n_frames:
        raise DatasetError(f"{printable(source)} has {len(labels)} labels for video {video!r}, which has "
                           f"{n_frames} frames")
    return labels


def avenue_masks(path: Path) -> Iterator[np.ndarray]:
    """The per-frame boolean masks of an Avenue ``N_label.mat`` (``volLabel``), in frame order."""
    vol = _loadmat(path, "volLabel")
    for i, cell in enumerate(vol.reshape(-1) if vol.dtype == object else [vol]):
        mask = numeric(np.asarray(cell), f"entry {i + 1} of `volLabel` in MATLAB file", path)
        if mask.ndim != 2:
            raise DatasetError(f"{printable(path)}: entry {i + 1} of `volLabel` has shape {mask.shape}, expected "
                               f"an H×W mask")
        yield mask != 0


def avenue_mask_labels(path: Path) -> np.ndarray:
    """Frame labels derived from an Avenue mask file: anomalous iff the mask is non-empty."""
    return np.array([m.any() for m in avenue_masks(path)], dtype=np.uint8)


def npy_masks(path: Path) -> Iterator[np.ndarray]:
    """Per-frame boolean masks from a ``T×H×W`` ``.npy`` (memory-mapped: one frame at a time)."""
    arr = load_npy(path, "mask file", mmap=True)
    if arr.ndim != 3:
        raise DatasetError(f"mask file {printable(path)} has shape {arr.shape}; expected T×H×W")
    for frame in arr:
        yield np.asarray(frame) != 0


def load_interval_csv(path: Path) -> dict[str, list[Interval]]:
    """Anomalous intervals per video from a CSV with header ``video,start,end`` (0-based, inclusive).

    Blank lines and lines starting with ``#`` are skipped; extra columns (a note) are ignored.
    """
    out: dict[str, list[Interval]] = {}
    try:
        with open(path, newline="") as handle:
            rows = csv.DictReader(line for line in handle if line.strip() and not line.lstrip().startswith("#"))
            header = [h.strip() for h in rows.fieldnames or []]
            if not {"video", "start", "end"} <= set(header):
                raise DatasetError(f"{printable(path)}: the header must name the columns video,start,end "
                                   f"(found: {','.join(header)})")
            for entry, row in enumerate(rows, start=1):
                row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
                try:
                    interval = (int(row["start"]), int(row["end"]))
                except ValueError:
                    raise DatasetError(f"{printable(path)}, data row {entry}: start and end must be whole frame "
                                       f"positions, "
                                       f"got {row['start']!r} and {row['end']!r}") from None
                out.setdefault(row["video"], []).append(interval)
    except OSError as exc:
        raise cannot_read("label file", path, exc.strerror) from None
    return out


def load_npy(path: Path, what: str, mmap: bool = False) -> np.ndarray:
    """The numeric array of a ``.npy`` file (``what`` it is, e.g. "label file", names it in errors).

    Never unpickles: a pickled object array runs code from the file when loaded. A file that is
    not a ``.npy`` at all is said to be one (NumPy would call it "pickled data"). Strings and
    records are refused too: they compare unequal to 0 and 1 without an error.
    """
    try:
        with open(path, "rb") as handle:
            if handle.read(6) != b"\x93NUMPY":
                raise ValueError("it is not a NumPy .npy file")
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise cannot_read(what, path, getattr(exc, "strerror", None) or str(exc)) from None
    return numeric(arr, what, path)


def numeric(arr: np.ndarray, what: str, path: Path) -> np.ndarray:
    """``arr`` if it holds booleans or numbers, else an error naming ``what`` in ``path``."""
    if arr.dtype.kind not in "biuf":
        raise DatasetError(f"{what} {printable(path)} holds {arr.dtype} values, not numbers")
    return arr


def cannot_read(what: str, path: Path, reason: str | None) -> DatasetError:
    """The one-line error for a file that cannot be read: which file, and why (an empty file says so)."""
    try:
        empty = Path(path).stat().st_size == 0
    except OSError:
        empty = False
    why = "the file is empty (0 bytes)" if empty else next(iter(str(reason or "").splitlines()), "") or "unknown error"
    return DatasetError(f"cannot read {what} {printable(path)}: {why}")


def _loadmat(path: Path, variable: str) -> np.ndarray:
    """Variable ``variable`` of a MATLAB file.

    SciPy's reader raises whatever its parsing runs into on a damaged file (``MatReadError``,
    ``ValueError``, ``IndexError``, ``zlib.error``, ...), so any exception from it means "this file
    cannot be read".
    """
    try:
        data = scipy.io.loadmat(str(path), variable_names=[variable])
    except Exception as exc:  # noqa: BLE001 - see the docstring
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
        raise cannot_read("MATLAB file", path, f"damaged or not a MATLAB file ({reason})") from None
    if variable not in data:
        raise DatasetError(f"MATLAB file {printable(path)} has no variable {variable!r}")
    return data[variable]
