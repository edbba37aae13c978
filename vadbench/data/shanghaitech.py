"""ShanghaiTech Campus, from the original distribution or MNAD's layout with extracted frames.

Layouts (``docs/datasets.md`` §3, §4):

* original: ``training/videos/NN_NNN.avi`` (decoded straight into the cache: every frame at
  the native rate, numbered from 0, no JPEG round trip), ``testing/frames/NN_NNNN/NNN.jpg``,
  ``testing/test_frame_mask/NN_NNNN.npy`` (frame labels) and ``testing/test_pixel_mask/*.npy``;
* re-packaged: training frames already extracted to ``training/frames/NN_NNN/``, labels from the
  per-video ``test_frame_mask`` files or MNAD's 1-D ``frame_labels_shanghai.npy``.

Papers report all 13 scenes (107 test videos); the option ``scenes`` (``--data-set scenes=01,04``)
selects a subset, which is recorded in the protocol and makes the official totals inapplicable. The
dataset publishes no list of training-video names, so a missing training video is counted, not
named; test videos are named by their label files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vadbench.registry import register_dataset
from vadbench.data.frames import FrameSource, frame_source, in_file, is_video_file
from vadbench.data.labels import npy_masks
from vadbench.data.layout import (Facts, FileAdapter, Scan, SplitFacts, concatenated_labels,
                                  first_existing, per_video_labels)
from vadbench.data.source import printable
from vadbench.errors import ConfigError, DatasetError

N_SCENES = 13


def parse_scenes(value: Any) -> tuple[str, ...] | None:
    """``"01,4"``, ``("01", "4")`` or ``[1, 4]`` -> ``("01", "04")``; None or ``"all"`` -> None (every scene)."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    texts = [text for text in (str(item).strip() for item in items) if text]
    if not texts or [text.lower() for text in texts] == ["all"]:
        return None
    scenes = set()
    for text in texts:
        if not text.isdigit() or not 1 <= int(text) <= N_SCENES:
            raise ConfigError(f"shanghaitech: scene {text!r} is not one of 01 to {N_SCENES}")
        scenes.add(f"{int(text):02d}")
    return tuple(sorted(scenes))


def _sources(folder: Path, files: bool) -> dict[str, FrameSource]:
    """The video files (``files``) or the frame folders of ``folder``, by video name."""
    found = (p for p in (sorted(folder.iterdir()) if folder.is_dir() else [])
             if (is_video_file(p) if files else p.is_dir()))
    return {source.video: source for source in map(frame_source, found)}


def _npy_files(folder: Path) -> dict[str, Path]:
    """The ``.npy`` files of ``folder`` by the video they belong to (named as :func:`frame_source` does)."""
    return {printable(p.stem): p for p in sorted(folder.glob("*.npy"))}


@register_dataset("shanghaitech")
class ShanghaiTech(FileAdapter):
    """ShanghaiTech Campus: 330 training videos / 107 test videos (274,515 / 40,791 frames), 856×480."""

    name = "shanghaitech"
    layouts = ("training/videos/NN_NNN.avi or training/frames/NN_NNN/, with testing/frames/NN_NNNN/ "
               "(the original or MNAD's layout)")
    facts = Facts(
        train=SplitFacts(330, 274515),
        test=SplitFacts(107, 40791),
        anomalous={"frame_mask": 17326},
        resolution=(480, 856),
        fully_anomalous={"frame_mask": ("04_0011",)},
    )

    track_layout = "corners"  # Georgescu et al.'s tracks
    evaluation_options = ("tracks",)

    @dataclass
    class Options:
        """``scenes``: the scenes to use, e.g. ``01,04`` (None or ``all``: every scene, as papers report);
        ``tracks``: a folder of Georgescu et al.'s per-video track files (``01_0014.txt``, ...) for
        RBDC/TBDC (read by ``run --regions``, never cached; ``docs/datasets.md``)."""

        scenes: tuple[str, ...] | None = None
        tracks: str | None = None

        def __post_init__(self) -> None:
            self.scenes = parse_scenes(self.scenes)  # one spelling per selection ("4" is "04"), so one cache

    def __init__(self, root: Path | None = None, **given: Any) -> None:
        super().__init__(root, **given)
        self._label_names: tuple[str, ...] | None = None  # test videos named by label files

    def official_selection(self) -> bool:
        return self.settings.scenes is None

    def _selected(self, name: str) -> bool:
        return self.settings.scenes is None or name[:2] in self.settings.scenes

    def protocol_fields(self) -> dict[str, Any]:
        return {**super().protocol_fields(), "scenes": self.options.get("scenes", "all")}

    def find(self) -> Scan:
        root = self.root
        videos_dir, frames_dir = root / "training" / "videos", root / "training" / "frames"
        if videos_dir.is_dir():
            layout, train = "original", _sources(videos_dir, files=True)
        elif frames_dir.is_dir():
            layout, train = "re-packaged (extracted training frames)", _sources(frames_dir, files=False)
        elif (root / "testing" / "frames").is_dir():
            layout, train = "test frames only", {}
        else:
            raise self.unrecognised()
        all_test = _sources(root / "testing" / "frames", files=False)
        label_dir = root / "testing" / "test_frame_mask"
        label_files = _npy_files(label_dir)
        self._check_selection([*all_test, *label_files])
        videos = {"train": {n: s for n, s in train.items() if self._selected(n)},
                  "test": {n: s for n, s in all_test.items() if self._selected(n)}}
        if label_dir.is_dir():
            files = {n: p for n, p in label_files.items() if self._selected(n)}
            self._label_names = tuple(files)
            labels = per_video_labels(files, "testing/test_frame_mask/*.npy", "frame_mask")
        else:
            npy = first_existing(root / "frame_labels_shanghai.npy", root / "testing" / "frame_labels_shanghai.npy")
            if npy is None:
                raise DatasetError(f"shanghaitech: no frame labels found; looked for testing/test_frame_mask/*.npy and "
                                   f"frame_labels_shanghai.npy under {printable(root)}")
            # MNAD's file concatenates every test video: cut it by the counts of all videos found.
            order = SplitFacts.listed(list(all_test), [s.count() for s in all_test.values()])
            labels = concatenated_labels(npy, order, "frame_mask")
        pixel_files = {n: p for n, p in _npy_files(root / "testing" / "test_pixel_mask").items() if n in videos["test"]}
        masks = {name: (lambda path=path: in_file(path, npy_masks(path))) for name, path in pixel_files.items()}
        return Scan(layout, videos, labels, masks, "testing/test_pixel_mask/*.npy" if masks else "none",
                    sorted(pixel_files.values()))

    def _check_selection(self, found: list[str]) -> None:
        """A ``scenes`` selection must hold a test video (``found``: the names of all present or labelled).

        Without this check a scene that only has training videos, or none in this copy, would give
        a cache with no test video, whose every result is empty.
        """
        if self.settings.scenes is not None and not any(self._selected(name) for name in found):
            present = sorted({name[:2] for name in found})
            raise DatasetError(f"shanghaitech: scenes {','.join(self.settings.scenes)} hold no test video under "
                               f"{printable(self.root)}; the test videos found are of scene(s) "
                               f"{', '.join(present) or 'none'}")

    def expected(self, split: str) -> SplitFacts | None:
        official = self.settings.scenes is None
        if split == "train":
            return self.facts.train if official else None
        self.scan()
        names = self._label_names
        return SplitFacts(self.facts.test.n_videos if official else (len(names) if names is not None else None),
                          self.facts.test.n_frames if official else None, names)
