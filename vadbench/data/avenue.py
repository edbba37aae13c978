"""CUHK Avenue, from the original videos or the ano_pred / MNAD frame folders.

Layouts (``docs/datasets.md`` §2, §4):

* original: ``training_videos/NN.avi`` and ``testing_videos/NN.avi`` (in the root or its
  ``Avenue Dataset`` folder), pixel masks ``ground_truth_demo/testing_label_mask/N_label.mat``
  (variable ``volLabel``; not zero-padded names);
* re-packaged: ``training/frames/NN/NNNN.jpg``, ``testing/frames/NN/NNNN.jpg``.

Two frame-label versions exist and disagree on 441 frames. The option ``labels`` (e.g.
``--data-set labels=mask``) chooses: ``interval`` (ano_pred's ``avenue.mat`` or MNAD's
``frame_labels_avenue.npy``, 3,867 anomalous frames, what most papers compare against; the
default when such a file is present) or ``mask`` (a frame is anomalous iff its official mask is
non-empty, 3,712). The choice is recorded as the protocol field ``gt_source``. The pixel masks go
into the cache under either version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vadbench.registry import register_dataset
from vadbench.data.frames import FrameSource, in_file, is_video_file
from vadbench.data.labels import avenue_mask_labels, avenue_masks, load_anopred_mat
from vadbench.data.layout import (Facts, FileAdapter, LabelSource, Scan, SplitFacts, concatenated_labels,
                                  first_existing, interval_labels, named_sources)
from vadbench.data.source import printable
from vadbench.errors import DatasetError

_TRAIN = (1364, 1511, 1487, 1511, 815, 1511, 1099, 1017, 1391, 1223, 781, 145, 366, 510, 353, 244)
_TEST = (1439, 1211, 923, 947, 1007, 1283, 605, 36, 1175, 841, 472, 1271, 549, 507, 1001, 740, 426, 294, 248, 273, 76)
_MASK_FILE = re.compile(r"(\d+)_label\.mat")


def _numbered(folder: Path, videos: bool) -> dict[str, FrameSource]:
    """Videos ``NN.avi`` (``videos``) or frame folders ``NN`` of ``folder``, named ``NN``."""

    def name_of(path: Path) -> str | None:
        stem = path.stem if videos else path.name
        wanted = is_video_file(path) if videos else path.is_dir()
        return f"{int(stem):02d}" if wanted and stem.isdigit() else None

    return named_sources(folder, name_of)


@register_dataset("avenue")
class Avenue(FileAdapter):
    """CUHK Avenue: 16 training / 21 test videos (15,328 / 15,324 frames), 640×360 colour."""

    name = "avenue"
    layouts = ("the original training_videos/NN.avi and testing_videos/NN.avi (in the root or its 'Avenue Dataset' "
               "folder) or the re-packaged training/frames/NN/ and testing/frames/NN/")
    facts = Facts(
        train=SplitFacts.listed([f"{i:02d}" for i in range(1, 17)], _TRAIN),
        test=SplitFacts.listed([f"{i:02d}" for i in range(1, 22)], _TEST),
        anomalous={"interval": 3867, "mask": 3712},
        resolution=(360, 640),
        fully_anomalous={"interval": (), "mask": ("08", "18")},
        mask_videos=tuple(f"{i:02d}" for i in range(1, 22)),
    )

    track_layout = "centre"  # MERL's tracks, released with Street Scene
    evaluation_options = ("tracks",)

    @dataclass
    class Options:
        """``labels``: the frame-label version (None: ``interval`` when its file is present, else ``mask``);
        ``tracks``: a folder of MERL's per-video track files for RBDC/TBDC (read by ``run --regions``,
        never cached; ``docs/datasets.md``)."""

        labels: Literal["interval", "mask"] | None = None
        tracks: str | None = None

    def track_names(self, video: str) -> tuple[str, ...]:
        """``01.txt`` or ``1.txt`` (the masks' own numbering is not zero-padded)."""
        return (f"{video}.txt", f"{int(video)}.txt") if video.isdigit() else (f"{video}.txt",)

    def find(self) -> Scan:
        root = self.root
        base = next((d for d in (root, root / "Avenue Dataset", root / "Avenue_Dataset")
                     if (d / "training_videos").is_dir() or (d / "testing_videos").is_dir()), None)
        if base is not None:
            layout = "original"
            videos = {"train": _numbered(base / "training_videos", True), "test": _numbered(base / "testing_videos", True)}
        elif (root / "training" / "frames").is_dir() or (root / "testing" / "frames").is_dir():
            layout, base = "re-packaged", root
            videos = {"train": _numbered(root / "training" / "frames", False),
                      "test": _numbered(root / "testing" / "frames", False)}
        else:
            raise self.unrecognised()
        places = list(dict.fromkeys([root, base]))
        mask_dir = first_existing(*(d / "ground_truth_demo" / "testing_label_mask" for d in places),
                                  *(d / "testing_label_mask" for d in places))
        mask_files = {}
        for path in sorted(mask_dir.iterdir()) if mask_dir else []:
            match = _MASK_FILE.fullmatch(path.name)
            if match and f"{int(match.group(1)):02d}" in videos["test"]:
                mask_files[f"{int(match.group(1)):02d}"] = path
        masks = {name: (lambda path=path: in_file(path, avenue_masks(path))) for name, path in mask_files.items()}
        labels, alternatives = self._labels(places, mask_files, mask_dir)
        return Scan(layout, videos, labels, masks, f"{mask_dir.name}/N_label.mat" if mask_files else "none",
                    sorted(mask_files.values()), alternatives)

    def _labels(self, places: list[Path], mask_files: dict[str, Path],
                mask_dir: Path | None) -> tuple[LabelSource, list[LabelSource]]:
        """The label version chosen (option ``labels``, default interval when present) and the others."""
        mat = first_existing(*(d / "avenue.mat" for d in places))
        npy = first_existing(*(d / "frame_labels_avenue.npy" for d in places))
        sources = []
        if mat is not None:
            sources.append(interval_labels(mat, load_anopred_mat, self.facts.test.names, "interval"))
        if npy is not None:
            sources.append(concatenated_labels(npy, self.facts.test, "interval"))
        if mask_files:
            sources.append(LabelSource(f"the masks in {mask_dir}", "mask",
                                       lambda counts: {name: avenue_mask_labels(mask_files[name])
                                                       for name in counts if name in mask_files},
                                       sorted(mask_files.values())))
        if not sources:
            raise DatasetError(f"avenue: no frame labels found; looked for avenue.mat, frame_labels_avenue.npy and "
                               f"ground_truth_demo/testing_label_mask/N_label.mat in "
                               f"{' and '.join(map(printable, places))}")
        version = self.settings.labels or sources[0].gt_source
        chosen = next((s for s in sources if s.gt_source == version), None)
        if chosen is None:
            wanted = "avenue.mat or frame_labels_avenue.npy" if version == "interval" else "testing_label_mask/N_label.mat"
            raise DatasetError(f"avenue: labels={version} needs {wanted} in {' or '.join(map(printable, places))}")
        return chosen, [s for s in sources if s is not chosen]
