"""``vadbench datasets verify``: check a dataset copy against what its distribution is known to hold.

Every check of ``docs/datasets.md`` §5 that can be made from the files is made, and all problems
are reported, not just the first: expected videos (missing, unexpected), frames per video and
in total (no decoding: file counts and video headers), contiguous frame numbering, one label per
frame, anomalous totals per label version, fully anomalous videos, pixel masks (one per frame,
the frames' size, "non-empty" against the labels), the resolution of each video's first frame,
and SHA-256 hashes: of the ground-truth files vadbench ships a manifest for
(``vadbench/data/manifests/<name>.sha256``) and of every file listed in a ``MANIFEST.sha256``
found at the root. ``decode=True`` also decodes every frame.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

from vadbench.data.layout import FileAdapter, few
from vadbench.data.prepare import make_adapter
from vadbench.data.source import printable
from vadbench.errors import DatasetError, VadbenchError

Status = Literal["ok", "fail", "info"]


@dataclass
class Check:
    status: Status
    message: str


@dataclass
class Report:
    """The outcome of a verification: a list of checks; ``ok`` when none failed."""

    dataset: str
    root: Path
    checks: list[Check] = field(default_factory=list)

    def add(self, status: Status, message: str) -> None:
        self.checks.append(Check(status, printable(message)))  # a file name that is not UTF-8 must not crash print

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def lines(self) -> list[str]:
        return [f"{c.status.upper():4}  {c.message}" for c in self.checks]

    def __str__(self) -> str:
        return "\n".join([f"{self.dataset} at {self.root}", *self.lines(), "verified" if self.ok else "FAILED"])


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(text: str) -> dict[str, str]:
    """``sha256sum`` lines (``<hex>  <path>``) as path -> hex, paths without a leading ``./``."""
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            digest, _, path = line.strip().partition("  ")
            out[path.strip().removeprefix("./").lstrip("*")] = digest.lower()
    return out


def shipped_manifest(dataset: str) -> dict[str, str]:
    """The manifest of canonical ground-truth files vadbench ships for ``dataset`` (may be empty)."""
    path = resources.files("vadbench.data") / "manifests" / f"{dataset}.sha256"
    return read_manifest(path.read_text()) if path.is_file() else {}


def verify(name: str, root: str | Path | None = None, *, decode: bool = False,
           progress: Callable[[str], None] | None = None, **options: Any) -> Report:
    """Verify the copy of dataset ``name`` at ``root``; see the module docstring for the checks."""
    adapter = make_adapter(name, root, **options)
    if not isinstance(adapter, FileAdapter):
        raise DatasetError(f"dataset {name!r} is not read from files; there is nothing to verify")
    report = Report(name, Path(printable(adapter.root)))
    say = progress or (lambda _: None)
    scan = adapter.scan()
    labels_desc = scan.labels.description if scan.labels else "none"
    report.add("info", f"layout: {scan.layout}; labels: {labels_desc}; pixel masks: {scan.mask_description}")
    states = {}
    for split in ("train", "test"):
        say(f"counting {split} frames")
        states[split] = state = adapter.inspect(split)
        _check_split(report, adapter, split, state)
    say("checking labels")
    labels = _check_labels(report, adapter, states["test"])
    _check_alternatives(report, adapter, states["test"], labels)
    say("checking masks")
    _check_masks(report, adapter, states["test"], labels)
    say("checking frames")
    _check_frames(report, adapter, states, decode, say)
    say("hashing ground-truth files")
    _check_hashes(report, adapter)
    return report


def _check_split(report: Report, adapter: FileAdapter, split: str, state: Any) -> None:
    expected = adapter.expected(split)
    n, frames = len(state.counts), sum(state.counts.values())
    if expected is not None and expected.n_videos is not None:
        want = f"; official: {expected.n_videos} videos" + (f" / {expected.n_frames} frames" if expected.n_frames else "")
    else:
        want = ""
    clean = not (state.missing or state.unexpected or state.problems)
    report.add("ok" if clean else "fail", f"{split}: {n} videos, {frames} frames{want}")
    if state.missing:
        report.add("fail", f"{split}: missing {few(state.missing, 20)}")
    if state.unexpected:
        report.add("fail", f"{split}: unexpected {few(state.unexpected, 20)}")
    for problem in state.problems:
        report.add("fail", problem)


def _check_labels(report: Report, adapter: FileAdapter, state: Any) -> dict[str, np.ndarray]:
    try:
        labels = adapter.test_labels(state)
    except VadbenchError as exc:
        report.add("fail", f"labels: {exc}")
        return {}
    source = adapter.scan().labels
    anomalous = int(sum(int(v.sum()) for v in labels.values()))
    total = int(sum(len(v) for v in labels.values()))
    known = adapter.facts.anomalous.get(source.gt_source) if adapter.facts else None
    official = known is not None and not state.missing and adapter.official_selection()
    report.add("ok", f"labels ({source.gt_source}): {total} labels, one per frame of {len(labels)} test videos; "
                     f"{anomalous} anomalous ({100 * anomalous / max(total, 1):.1f} %)"
                     + (", as in the official labels" if official else ""))
    full = tuple(n for n, v in labels.items() if len(v) and v.all())
    report.add("info", f"entirely anomalous test videos: {', '.join(full) or 'none'}")
    normal = [n for n, v in labels.items() if not v.any()]
    if normal:
        report.add("info", f"test videos without anomalous frames: {', '.join(normal)}")
    if official and source.gt_source in adapter.facts.fully_anomalous:
        known_full = adapter.facts.fully_anomalous[source.gt_source]
        if full != known_full:
            report.add("fail", f"entirely anomalous videos differ from the official {', '.join(known_full) or 'none'}")
    return labels


def _check_alternatives(report: Report, adapter: FileAdapter, state: Any, labels: dict[str, np.ndarray]) -> None:
    """Other label files found must agree with the one used when they claim the same version."""
    primary = adapter.scan().labels
    for other in adapter.scan().alternatives:
        try:
            theirs = other.read(state.counts)
        except VadbenchError as exc:
            report.add("fail" if other.gt_source == primary.gt_source else "info", f"{other.description}: {exc}")
            continue
        common = [n for n in labels if n in theirs and len(theirs[n]) == len(labels[n])]
        diff = {n: int(np.sum(theirs[n] != labels[n])) for n in common}
        diff = {n: d for n, d in diff.items() if d}
        if not diff:
            report.add("ok", f"{other.description} ({other.gt_source}) agrees with {primary.description} on every frame")
            continue
        status = "fail" if other.gt_source == primary.gt_source else "info"
        report.add(status, f"{other.description} ({other.gt_source}) differs from {primary.description} "
                           f"({primary.gt_source}) on {sum(diff.values())} frames in {len(diff)} video(s): "
                           + ", ".join(f"{k} ({v})" for k, v in diff.items()))


def _check_masks(report: Report, adapter: FileAdapter, state: Any, labels: dict[str, np.ndarray]) -> None:
    masks = adapter.scan().masks
    if not masks:
        report.add("info", "no pixel masks found")
        return
    wanted = adapter.facts.mask_videos if adapter.facts else None
    if wanted is not None:
        absent = [v for v in wanted if v in state.counts and v not in masks]
        if absent:
            report.add("fail", f"pixel masks missing for test video(s) {few(absent, 20)}")
    strict = bool(adapter.facts and adapter.facts.masks_match_labels)
    differ, bad = {}, False
    for name in masks:
        count, shapes, nonempty = 0, set(), []
        try:
            for mask in adapter.mask_stream(name)():
                count += 1
                shapes.add(mask.shape)
                nonempty.append(bool(mask.any()))
        except VadbenchError as exc:
            report.add("fail", f"masks of {name}: {exc}")
            bad = True
            continue
        frames = state.counts.get(name)
        if count != frames:
            report.add("fail", f"masks of {name}: {count} masks for {frames} frames")
            bad = True
            continue
        if adapter.facts and shapes != {adapter.facts.resolution}:
            report.add("fail", f"masks of {name}: size {sorted(shapes)}, expected {adapter.facts.resolution}")
            bad = True
        if name in labels:
            n_diff = int(np.sum(np.array(nonempty, dtype=np.uint8) != labels[name]))
            if n_diff:
                differ[name] = n_diff
    summary = f"pixel masks: {len(masks)} test videos, one mask per frame"
    report.add("fail" if bad else "ok", summary)
    if differ:
        text = (f"'mask non-empty' differs from the frame labels on {sum(differ.values())} frames in {len(differ)} "
                f"video(s): " + ", ".join(f"{k} ({v})" for k, v in differ.items()))
        report.add("fail" if strict else "info", text)
    elif labels:
        report.add("ok", "'mask non-empty' equals the frame labels on every frame with a mask")


def _check_frames(report: Report, adapter: FileAdapter, states: dict[str, Any], decode: bool,
                  say: Callable[[str], None]) -> None:
    """Each video's first frame (every frame with ``decode``) decodes, at the official size."""
    sizes: dict[tuple[int, ...], list[str]] = {}
    failures = []
    for split, videos in adapter.scan().videos.items():
        for name, source in videos.items():
            frames = source.read()
            try:
                first = next(frames, None)
                if first is None:
                    failures.append(f"{split}/{name}: no frames")
                    continue
                sizes.setdefault(first.shape[:2], []).append(f"{split}/{name}")
                if decode:
                    say(f"decoding {split}/{name}")
                    n = 1 + sum(1 for _ in frames)
                    if n != states[split].counts.get(name):
                        failures.append(f"{split}/{name} decodes to {n} frames, {states[split].counts.get(name)} counted")
            except VadbenchError as exc:
                failures.append(f"{split}/{name}: {exc}")
            finally:
                frames.close()
    for failure in failures:
        report.add("fail", failure)
    expected = adapter.facts.resolution if adapter.facts else None
    for size, where in sizes.items():
        status = "ok" if expected is None or size == expected else "fail"
        report.add(status, f"{len(where)} videos of {size[1]}×{size[0]} (W×H)"
                   + ("" if status == "ok" else f", expected {expected[1]}×{expected[0]}: {few(where)}"))
    if decode and not failures:
        report.add("ok", "every frame decodes")


def _check_hashes(report: Report, adapter: FileAdapter) -> None:
    scan = adapter.scan()
    files = {p.name: p for p in scan.ground_truth_files()}
    for name, digest in shipped_manifest(adapter.name).items():
        path = files.get(Path(name).name)
        if path is None:
            continue
        same = sha256(path) == digest
        report.add("ok" if same else "fail",
                   f"{path.name}: SHA-256 {'matches' if same else 'differs from'} the canonical file")
    root_manifest = adapter.root / "MANIFEST.sha256"
    if root_manifest.is_file():
        entries = read_manifest(root_manifest.read_text())
        absent = [p for p in entries if not (adapter.root / p).is_file()]
        wrong = [p for p in entries if p not in absent and sha256(adapter.root / p) != entries[p]]
        ok = not absent and not wrong
        report.add("ok" if ok else "fail", f"MANIFEST.sha256: {len(entries) - len(absent) - len(wrong)} of "
                   f"{len(entries)} files match" + (f"; missing {few(absent)}" if absent else "")
                   + (f"; differ {few(wrong)}" if wrong else ""))
