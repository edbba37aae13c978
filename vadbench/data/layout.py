"""What the file-based dataset adapters share: layout scans, known facts, strict listings.

An adapter's only dataset-specific work is :meth:`FileAdapter.find`: recognise the layout of
its root and say where each video's frames, the labels and the pixel masks are. From that scan
this base class derives the listing the cache builder streams from, checking it against the
published structure of the dataset (:class:`Facts`): missing videos are named, a frame count
that differs from the official one is an error (a missing frame would shift every later label),
and label totals must equal the official ones. ``vadbench datasets verify`` reports the same
checks instead of stopping at the first (``vadbench/data/verify.py``).
"""

from __future__ import annotations

import abc
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Sequence

import numpy as np

from vadbench.data.frames import FrameSource, Located, numbering_gaps, one_size
from vadbench.data.labels import Interval, check_length, intervals_to_labels, load_npy_labels, split_concatenated
from vadbench.data.source import DatasetAdapter, SourceVideo, SplitListing, printable
from vadbench.errors import DatasetError

MaskSource = Callable[[], Iterator[Located]]  # a video's masks in frame order, each with where it was read


@dataclass(frozen=True)
class SplitFacts:
    """A split of the official distribution: video names with frames per video, or only totals."""

    n_videos: int | None = None
    n_frames: int | None = None
    names: tuple[str, ...] | None = None
    counts: tuple[int, ...] | None = None

    @classmethod
    def listed(cls, names: Sequence[str], counts: Sequence[int]) -> SplitFacts:
        assert len(names) == len(counts)
        return cls(len(names), int(sum(counts)), tuple(names), tuple(counts))

    def count_of(self) -> dict[str, int]:
        return dict(zip(self.names or (), self.counts or ()))


@dataclass(frozen=True)
class Facts:
    """The published structure of a dataset (``docs/datasets.md``), checked by listing and verify.

    ``anomalous`` and ``fully_anomalous`` are keyed by label version (``gt_source``);
    ``resolution`` is (height, width); ``mask_videos`` lists the test videos with pixel masks;
    ``masks_match_labels`` says whether "mask non-empty" must equal the frame labels.
    """

    train: SplitFacts
    test: SplitFacts
    anomalous: dict[str, int]
    resolution: tuple[int, int]
    fully_anomalous: dict[str, tuple[str, ...]] = field(default_factory=dict)
    mask_videos: tuple[str, ...] | None = None
    masks_match_labels: bool = False

    def split(self, split: str) -> SplitFacts:
        return self.train if split == "train" else self.test


@dataclass
class LabelSource:
    """Where the frame labels of the test videos come from.

    ``read(counts)`` returns labels for the videos in ``counts`` (name -> frames) that the
    source covers; ``gt_source`` is the protocol's name of this label version and ``files``
    the ground-truth files read (hashed by verify).
    """

    description: str
    gt_source: str
    read: Callable[[dict[str, int]], dict[str, np.ndarray]]
    files: list[Path] = field(default_factory=list)


@dataclass
class Scan:
    """A dataset root as found: its layout, each video's frames, the labels and the masks.

    ``masks`` are unchecked; :meth:`FileAdapter.mask_stream` gives them checked against the frames.
    """

    layout: str
    videos: dict[str, dict[str, FrameSource]]
    labels: LabelSource | None
    masks: dict[str, MaskSource] = field(default_factory=dict)
    mask_description: str = "none"
    files: list[Path] = field(default_factory=list)  # ground-truth files besides the label files
    alternatives: list[LabelSource] = field(default_factory=list)  # other label files found (verify compares)

    def ground_truth_files(self) -> list[Path]:
        sources = ([self.labels] if self.labels else []) + self.alternatives
        return list(dict.fromkeys([p for s in sources for p in s.files] + self.files))


@dataclass
class SplitState:
    """A split as found, compared with the facts: what :meth:`FileAdapter.listing` checks."""

    counts: dict[str, int]
    missing: list[str]
    unexpected: list[str]
    problems: list[str]


class FileAdapter(DatasetAdapter):
    """Base of adapters that read a dataset from a root folder (all but ``synthetic``)."""

    name: ClassVar[str] = ""
    facts: ClassVar[Facts | None] = None
    layouts: ClassVar[str] = ""  # the layouts looked for, for the "unrecognised root" error

    def __init__(self, root: Path | None = None, **given: Any) -> None:
        super().__init__(Path(root).resolve() if root is not None else None, **given)
        self._scan: Scan | None = None
        self._lock = threading.Lock()

    # -- the dataset-specific part ---------------------------------------------------------------
    @abc.abstractmethod
    def find(self) -> Scan:
        """Recognise the layout of ``self.root`` (or raise :meth:`unrecognised`)."""

    def expected(self, split: str) -> SplitFacts | None:
        """The official content of ``split`` under the current options (None: nothing known)."""
        return self.facts.split(split) if self.facts else None

    def official_selection(self) -> bool:
        """Whether the options select the whole official dataset (so official totals apply)."""
        return True

    # -- shared ------------------------------------------------------------------------------------
    def scan(self) -> Scan:
        with self._lock:
            if self._scan is None:
                if self.root is None or not self.root.is_dir():
                    raise DatasetError(f"{self.name}: dataset root {printable(self.root)} is not a folder")
                self._scan = self.find()
            return self._scan

    def unrecognised(self) -> DatasetError:
        """The error for a root in none of the known layouts: what was looked for and found."""
        entries = sorted(printable(p.name) + ("/" if p.is_dir() else "") for p in self.root.iterdir()
                         if not p.name.startswith("."))
        shown = ", ".join(entries[:12]) + (f", ... ({len(entries)} entries)" if len(entries) > 12 else "")
        return DatasetError(f"{self.name}: {printable(self.root)} is not in a recognised layout; looked for "
                            f"{self.layouts}; found: {shown or 'an empty folder'}")

    def mask_stream(self, name: str) -> Callable[[], Iterator[np.ndarray]] | None:
        """The pixel masks of test video ``name`` (None: it has none), checked while they stream.

        Every mask must have the size of the video's frames (see :func:`one_size`): a mask of
        another size, in the middle of a video or for all of it, is ground truth for other frames.
        """
        source = self.scan().masks.get(name)
        if source is None:
            return None
        frames = self.scan().videos["test"][name]

        def stream() -> Iterator[np.ndarray]:
            first = next(frames.located(), None)
            yield from one_size(source(), "mask", name, like=("its frames", first) if first else None)

        return stream

    def protocol_fields(self) -> dict[str, Any]:
        labels = self.scan().labels
        return {"gt_source": labels.gt_source} if labels else {}

    def inspect(self, split: str) -> SplitState:
        """Count the frames of every video of ``split`` and compare with the facts (no decoding)."""
        found = self.scan().videos.get(split, {})
        counts, problems = {}, []
        for name, source in found.items():
            if source.is_folder:
                files = source.files()
                counts[name] = len(files)
                gaps = numbering_gaps(files) if self.facts else []
                if not files:
                    problems.append(f"{split} video {name!r}: its folder {printable(source.path)} holds no image files")
                elif gaps:
                    problems.append(f"{split} video {name!r} has gaps in its frame numbering "
                                    f"(missing number(s) {few(gaps)}) in {printable(source.path)}")
            else:
                counts[name] = source.count()
        expected = self.expected(split)
        missing, unexpected = [], []
        if expected is not None and expected.names is not None:
            missing = [n for n in expected.names if n not in found]
            unexpected = [n for n in found if n not in expected.names]
            official = expected.count_of()
            for name, n in counts.items():
                if name in official and n != official[name]:
                    how = "frame files" if found[name].is_folder else "frames (as its video header announces)"
                    problems.append(f"{split} video {name!r} has {n} {how}; the official copy has {official[name]} "
                                    f"({printable(found[name].path)})")
        elif expected is not None and expected.n_videos is not None:
            if len(found) < expected.n_videos:
                missing = [f"{expected.n_videos - len(found)} of {expected.n_videos} {split} videos "
                           f"(the dataset publishes no list of their names)"]
            elif len(found) > expected.n_videos:
                problems.append(f"{split} has {len(found)} videos; the official copy has {expected.n_videos}")
        if (expected is not None and expected.counts is None and expected.n_frames is not None
                and not missing and not unexpected and sum(counts.values()) != expected.n_frames):
            problems.append(f"{split} has {sum(counts.values())} frames in {len(found)} videos; the official copy "
                            f"has {expected.n_frames}")
        return SplitState(counts, missing, unexpected, problems)

    def test_labels(self, state: SplitState) -> dict[str, np.ndarray]:
        """Labels of the present test videos, checked against the official totals when complete."""
        labels = self.scan().labels
        if labels is None:
            raise DatasetError(f"{self.name}: no frame labels found under {printable(self.root)}")
        out = labels.read(state.counts)
        absent = [n for n in state.counts if n not in out]
        if absent:
            raise DatasetError(f"{self.name}: {labels.description} has no labels for test video(s) {few(absent)}")
        for name, n in state.counts.items():
            check_length(out[name], n, name, labels.description)
        known = self.facts.anomalous.get(labels.gt_source) if self.facts else None
        if known is not None and not state.missing and self.official_selection():
            total = int(sum(int(v.sum()) for v in out.values()))
            if total != known:
                raise DatasetError(f"{self.name}: {labels.description} marks {total} anomalous test frames; the "
                                   f"official {labels.gt_source!r} labels mark {known}")
        return out

    def listing(self, split: str) -> SplitListing:
        state = self.inspect(split)
        if state.unexpected:
            raise DatasetError(f"{self.name}: unexpected {split} video(s) {few(state.unexpected)} under "
                               f"{printable(self.root)}; "
                               f"the official copy has {self.expected(split).n_videos}")
        if state.problems:
            more = f" (and {len(state.problems) - 1} more problems)" if len(state.problems) > 1 else ""
            raise DatasetError(f"{self.name}: {state.problems[0]}{more}; `vadbench datasets verify` lists them all")
        labels = self.test_labels(state) if split == "test" else {}
        videos = [
            SourceVideo(name, source.read, printable(source.path), state.counts[name], labels.get(name),
                        self.mask_stream(name) if split == "test" else None)
            for name, source in self.scan().videos.get(split, {}).items()
        ]
        return SplitListing(videos, state.missing)


# -- label sources shared by several datasets ------------------------------------------------------
def interval_labels(path: Path, parse: Callable[[Path], list[list[Interval]]], official: Sequence[str],
                    gt_source: str, first: int = 1) -> LabelSource:
    """Labels from per-video interval lists in official video order (``.m`` and ano_pred ``.mat``).

    ``parse(path)`` reads the file when labels are needed. Entry ``i`` belongs to the ``i``-th
    official test video, whichever videos are present.
    """
    index = {name: i for i, name in enumerate(official)}

    def read(counts: dict[str, int]) -> dict[str, np.ndarray]:
        entries = parse(path)
        if len(entries) != len(official):
            raise DatasetError(f"{printable(path)} has {len(entries)} entries but the dataset has {len(official)} "
                               f"test videos")
        return {name: intervals_to_labels(entries[index[name]], n, name, printable(path), first)
                for name, n in counts.items() if name in index}

    return LabelSource(path.name, gt_source, read, [path])


def concatenated_labels(path: Path, official: SplitFacts | None, gt_source: str) -> LabelSource:
    """Labels from one concatenated vector (MNAD's ``frame_labels_*.npy``) in sorted video order.

    Cut by the official per-video counts when they are known (so a partial copy still finds its
    videos' slices), else by the present videos' counts, which must then be all of them.
    """

    def read(counts: dict[str, int]) -> dict[str, np.ndarray]:
        labels = load_npy_labels(path)
        order = list(zip(official.names, official.counts)) if official and official.names else sorted(counts.items())
        parts = split_concatenated(labels, order, path.name)
        return {name: parts[name] for name in counts if name in parts}

    return LabelSource(path.name, gt_source, read, [path])


def per_video_labels(files: dict[str, Path], description: str, gt_source: str) -> LabelSource:
    """Labels from one ``.npy`` per video (ShanghaiTech ``test_frame_mask``, a user's own files)."""

    def read(counts: dict[str, int]) -> dict[str, np.ndarray]:
        return {name: check_length(load_npy_labels(files[name]), n, name, printable(files[name]))
                for name, n in counts.items() if name in files}

    return LabelSource(description, gt_source, read, sorted(files.values()))


def named_sources(folder: Path, name_of: Callable[[Path], str | None]) -> dict[str, FrameSource]:
    """The videos of ``folder`` under the names ``name_of`` gives its entries (None: not a video),
    sorted by name; two entries with one name (``01.avi`` and ``1.avi``) are an error naming both."""
    found: dict[str, FrameSource] = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        name = name_of(path)
        if name is None:
            continue
        if name in found:
            raise DatasetError(f"{printable(found[name].path.name)} and {printable(path.name)} in "
                               f"{printable(folder)} are both video {name}")
        found[name] = FrameSource(path, name)
    return dict(sorted(found.items()))


def first_existing(*candidates: Path) -> Path | None:
    return next((p for p in candidates if p.exists()), None)


def few(items: Sequence[Any], n: int = 5) -> str:
    shown = ", ".join(map(str, items[:n]))
    return shown + (f" ... ({len(items)} in all)" if len(items) > n else "")
