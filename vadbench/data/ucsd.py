"""UCSD Ped1 and Ped2, from the original distribution or the ano_pred / MNAD re-packaging.

Layouts (``docs/datasets.md`` §1, §4, §6):

* original: ``UCSDpedN/Train/TrainNNN/*.tif``, ``UCSDpedN/Test/TestNNN/*.tif``, pixel masks
  ``Test/TestNNN_gt/*.bmp`` (Ped2 names some ``frameNNN.bmp``), labels ``Test/UCSDpedN.m``; the
  root may be ``UCSDpedN`` itself or the folder holding it.
* re-packaged: ``training/frames/NN/NNN.jpg``, ``testing/frames/NN/NNN.jpg`` (0-based frames),
  labels ``UCSDpedN.m``, ``pedN.mat`` or ``frame_labels_pedN.npy``; pixel masks from the
  official ``UCSDpedN_pixel_gt.tar.gz`` (read in place, never extracted) or extracted
  ``TestNNN_gt`` folders.

Videos get the official names (``Train001``, ``Test001``) in both layouts, so results from
either copy line up. Labels come from the ``.m`` file when present (the official source), then
the ano_pred ``.mat``, then MNAD's concatenated ``.npy``. For Ped2 all three agree (and the
official total of 1,648 anomalous frames is checked), so the label version is ``ucsd_m``
whichever was read. Ped1's circulating ``frame_labels_ped1.npy`` starts every event two frames
late and is refused.
"""

from __future__ import annotations

import re
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar, Iterator

import numpy as np

from vadbench.registry import register_dataset
from vadbench.data.frames import FrameSource, Located, decode_mask, is_image, number, read_masks
from vadbench.data.labels import load_anopred_mat, parse_ucsd_m
from vadbench.data.layout import (Facts, FileAdapter, LabelSource, MaskSource, Scan, SplitFacts,
                                  concatenated_labels, first_existing, interval_labels, named_sources)
from vadbench.data.source import printable
from vadbench.errors import DatasetError

_GT_FOLDER = re.compile(r"Test(\d+)_gt")


class MaskArchive:
    """Pixel masks read straight from a ``.tar.gz`` of ``TestNNN_gt`` folders, without extracting.

    A gzip stream cannot be read out of order cheaply, so the archive is read once, on first
    use, and its masks are kept bit-packed (Ped2: 2,010 masks in 22 MB).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._folders: dict[str, list[tuple[int, str, np.ndarray, tuple[int, int]]]] | None = None

    def _read(self) -> dict[str, list[tuple[int, str, np.ndarray, tuple[int, int]]]]:
        with self._lock:
            if self._folders is None:
                folders: dict[str, list] = {}
                try:
                    with tarfile.open(self.path, "r|*") as tar:
                        for member in tar:
                            name = PurePosixPath(member.name)
                            if not member.isfile() or not is_image(Path(name.name)) or number(name.name) is None:
                                continue
                            where = f"{printable(str(name))} in {printable(self.path)}"
                            mask = decode_mask(tar.extractfile(member).read(), where)
                            folders.setdefault(name.parent.name, []).append(
                                (number(name.name), where, np.packbits(mask), mask.shape))
                except (tarfile.TarError, OSError, EOFError) as exc:
                    raise DatasetError(f"cannot read mask archive {printable(self.path)}: {exc}") from None
                for folder, items in folders.items():
                    items.sort(key=lambda item: item[0])
                    numbers = [item[0] for item in items]
                    if len(set(numbers)) != len(numbers):
                        raise DatasetError(f"mask archive {printable(self.path)}: folder {printable(folder)} holds two "
                                           f"masks with one frame number")
                self._folders = folders
            return self._folders

    def folders(self) -> list[str]:
        return sorted(self._read())

    def masks(self, folder: str) -> Iterator[Located]:
        for _, where, packed, shape in self._read()[folder]:
            yield where, np.unpackbits(packed, count=shape[0] * shape[1]).reshape(shape).astype(bool)


def _videos(folder: Path, pattern: str, prefix: str) -> dict[str, FrameSource]:
    """Video folders whose names match ``pattern`` (one number group), under official names."""

    def name_of(path: Path) -> str | None:
        match = re.fullmatch(pattern, path.name)
        return f"{prefix}{int(match.group(1)):03d}" if match and path.is_dir() else None

    return named_sources(folder, name_of)


def _layouts(n: int) -> str:
    return (f"the original UCSDped{n}/Train/TrainNNN/ and UCSDped{n}/Test/TestNNN/ frame folders (in the root "
            f"or its UCSDped{n} folder) or the re-packaged training/frames/NN/ and testing/frames/NN/")


class _UCSD(FileAdapter):
    """Base of the two UCSD pedestrian datasets (they differ only in number and facts)."""

    ped: ClassVar[int]
    mat_source: ClassVar[str]  # label version recorded when ``pedN.mat`` is read

    def find(self) -> Scan:
        n, root = self.ped, self.root
        original = next((d for d in (root, root / f"UCSDped{n}") if (d / "Train").is_dir() or (d / "Test").is_dir()), None)
        if original is not None:
            layout = "original"
            videos = {"train": _videos(original / "Train", r"Train(\d+)", "Train"),
                      "test": _videos(original / "Test", r"Test(\d+)", "Test")}
            places = [original / "Test", original, root]
        elif (root / "training" / "frames").is_dir() or (root / "testing" / "frames").is_dir():
            layout = "re-packaged"
            videos = {"train": _videos(root / "training" / "frames", r"(\d+)", "Train"),
                      "test": _videos(root / "testing" / "frames", r"(\d+)", "Test")}
            places = [root, root / "testing"]
        else:
            raise self.unrecognised()
        masks, mask_description, archive = self._masks(places + [root / f"UCSDped{n}_pixel_gt"], videos["test"])
        labels, alternatives = self._labels(places)
        return Scan(layout, videos, labels, masks, mask_description, [archive] if archive else [], alternatives)

    def _labels(self, places: list[Path]) -> tuple[LabelSource, list[LabelSource]]:
        """The label source to use (``.m``, then ``.mat``, then ``.npy``) and the other ones found."""
        n, names = self.ped, self.facts.test.names
        m = first_existing(*(d / f"UCSDped{n}.m" for d in places))
        mat = first_existing(*(d / f"ped{n}.mat" for d in places))
        npy = first_existing(*(d / f"frame_labels_ped{n}.npy" for d in places))
        sources = []
        if m is not None:
            sources.append(interval_labels(m, parse_ucsd_m, names, "ucsd_m"))
        if mat is not None:
            sources.append(interval_labels(mat, load_anopred_mat, names, self.mat_source))
        if npy is not None:
            sources.append(concatenated_labels(npy, self.facts.test, "ucsd_m" if n == 2 else "community_npy"))
        usable = [s for s in sources if s.gt_source != "community_npy"]
        if usable:
            return usable[0], [s for s in sources if s is not usable[0]]
        if npy is not None:
            raise DatasetError(f"{printable(npy)} is the community Ped1 label file whose anomalous segments start two "
                               f"frames late; vadbench reads Ped1 labels from UCSDped1.m or ped1.mat: put one of them "
                               f"in {printable(self.root)}")
        raise DatasetError(f"{self.name}: no frame labels found; looked for UCSDped{n}.m, ped{n}.mat and "
                           f"frame_labels_ped{n}.npy in {', '.join(map(printable, dict.fromkeys(places)))}")

    def _masks(self, places: list[Path], test: dict[str, FrameSource]) -> tuple[dict[str, MaskSource], str, Path | None]:
        """Masks per test video: extracted ``TestNNN_gt`` folders first, else the archive."""
        masks: dict[str, MaskSource] = {}
        for place in dict.fromkeys(places):
            for path in sorted(place.iterdir()) if place.is_dir() else []:
                match = _GT_FOLDER.fullmatch(path.name)
                name = f"Test{int(match.group(1)):03d}" if match else None
                if name in test and name not in masks and path.is_dir():
                    masks[name] = lambda path=path, name=name: read_masks(path, name)
        if masks:
            return masks, "TestNNN_gt folders", None
        archive = first_existing(*(d / f"UCSDped{self.ped}_pixel_gt.tar.gz" for d in places))
        if archive is None:
            return {}, "none", None
        reader = MaskArchive(archive)
        for folder in reader.folders():
            match = _GT_FOLDER.fullmatch(folder)
            name = f"Test{int(match.group(1)):03d}" if match else None
            if name in test:
                masks[name] = lambda folder=folder: reader.masks(folder)
        return masks, archive.name, archive


_PED1_MASKS = ("Test003", "Test004", "Test014", "Test018", "Test019", "Test021", "Test022", "Test023", "Test024", "Test032")


@register_dataset("ped1")
class Ped1(_UCSD):
    """UCSD Ped1: 34 training / 36 test clips of 200 frames, 238×158 gray (original or re-packaged)."""

    name = "ped1"
    ped = 1
    mat_source = "ano_pred_mat"
    layouts = _layouts(1)
    facts = Facts(
        train=SplitFacts.listed([f"Train{i:03d}" for i in range(1, 35)], [200] * 34),
        test=SplitFacts.listed([f"Test{i:03d}" for i in range(1, 37)], [200] * 36),
        anomalous={"ucsd_m": 4045},
        resolution=(158, 238),
        mask_videos=_PED1_MASKS,
    )


_PED2_TRAIN = (120, 150, 150, 180, 180, 150, 150, 120, 180, 180, 180, 180, 180, 150, 150, 150)
_PED2_TEST = (180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180)


@register_dataset("ped2")
class Ped2(_UCSD):
    """UCSD Ped2: 16 training / 12 test clips (2,550 / 2,010 frames), 360×240 gray, masks for all."""

    name = "ped2"
    ped = 2
    mat_source = "ucsd_m"
    layouts = _layouts(2)
    track_layout = "centre"  # MERL's tracks, released with Street Scene
    evaluation_options = ("tracks",)

    @dataclass
    class Options:
        """``tracks``: a folder of MERL's per-video track files for RBDC/TBDC (read by ``run --regions``,
        never cached; ``docs/datasets.md``)."""

        tracks: str | None = None

    def track_names(self, video: str) -> tuple[str, ...]:
        """``Test001.txt``, or the bare number: ``01.txt``, ``1.txt``."""
        digits = video.removeprefix("Test")
        if not digits.isdigit():
            return (f"{video}.txt",)
        return (f"{video}.txt", f"{int(digits):02d}.txt", f"{int(digits)}.txt")
    facts = Facts(
        train=SplitFacts.listed([f"Train{i:03d}" for i in range(1, 17)], _PED2_TRAIN),
        test=SplitFacts.listed([f"Test{i:03d}" for i in range(1, 13)], _PED2_TEST),
        anomalous={"ucsd_m": 1648},
        resolution=(240, 360),
        fully_anomalous={"ucsd_m": ("Test008", "Test009", "Test010", "Test011")},
        mask_videos=tuple(f"Test{i:03d}" for i in range(1, 13)),
        masks_match_labels=True,
    )
