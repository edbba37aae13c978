"""The dataset-adapter contract: how a dataset's own files become videos for the cache builder.

An adapter knows one dataset's layouts. It lists the videos of a split as :class:`SourceVideo`
objects that stream their frames (and, for test videos, carry their labels and stream their
pixel masks) on demand, so the cache builder holds one video at a time, never a dataset.

The choices an adapter offers (a label version, a scene subset, the size of a generated set)
are its ``Options`` dataclass, set from the command line with ``--data-set key=value`` and
typed and validated exactly as a detector's ``--set`` is (:mod:`vadbench.config`).
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping

import numpy as np

from vadbench.config import apply_overrides
from vadbench.errors import ConfigError
from vadbench.tracks import TrackDir

SPLITS = ("train", "test")


def printable(path: Path | str) -> str:
    """``path`` as text that can always be printed and stored, e.g. ``Test\\xff01``.

    On Linux a file name is bytes; one that is not valid UTF-8 comes from ``os.fsdecode`` with
    lone surrogates, which crash ``print``, HDF5 and OpenCV. Here each undecodable byte is
    written as ``\\xNN`` instead: the same bytes always give the same text, so it also serves as
    the (stable) video name of such a file or folder.
    """
    text = os.fspath(path)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file name decodes to: not from the file system
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass
class SourceVideo:
    """One video of a dataset as found on disk.

    ``frames()`` yields uint8 frames in temporal order, ``H×W×3`` RGB or ``H×W`` grayscale.
    ``labels`` are the frame labels (1 = anomalous) of a test video, None for training videos.
    ``masks()``, when the dataset has pixel ground truth for this video, yields one ``H×W``
    boolean mask per frame. ``origin`` (a path) is what error messages name. ``name`` and
    ``origin`` must be printable (see :func:`printable`): they are stored in the cache.
    """

    name: str
    frames: Callable[[], Iterator[np.ndarray]]
    origin: str
    n_frames: int | None = None
    labels: np.ndarray | None = None
    masks: Callable[[], Iterator[np.ndarray]] | None = None


@dataclass
class SplitListing:
    """The videos of one split, plus the ones a ``--partial`` copy lacks."""

    videos: list[SourceVideo]
    missing: list[str] = field(default_factory=list)


class DatasetAdapter(abc.ABC):
    """Base class of dataset adapters (registered in the ``vadbench.datasets`` group).

    An adapter declares its choices as a nested ``Options`` dataclass (fields with defaults,
    typed; ``Annotated[..., Range(...)]`` and ``Literal`` are checked; ``__post_init__`` may
    normalise). ``settings`` is that dataclass with the given options applied; ``options`` is
    the plain dict of :meth:`identity`, which names the cache and is stored in it.
    """

    @dataclass
    class Options:
        """No options: the dataset is read one way."""

    needs_root: ClassVar[bool] = True
    # Options read at evaluation time, not by the cache (e.g. ``tracks``, the folder of published
    # ground-truth tracks): they are left out of :meth:`identity`, so they never name a cache.
    evaluation_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, root: Path | None = None, **given: Any) -> None:
        self.root = Path(root) if root is not None else None
        self.settings = self.parse_options(given)
        self.options = self.identity(self.settings)

    @classmethod
    def parse_options(cls, given: Mapping[str, Any]) -> Any:
        """``given`` (``--data-set`` strings or typed values) applied to the defaults of ``Options``.

        An unknown key names the valid ones and a value of the wrong type, out of range or not
        among a ``Literal``'s choices says what is valid, as for a detector's ``--set``; the CLI
        calls this before any work, so a typo never leaves a half-made run directory.
        """
        if given and not dataclasses.fields(cls.Options):
            raise ConfigError(f"unknown setting {next(iter(given))!r} for {cls.__name__}; valid: none "
                              f"(this dataset has no options)")
        return apply_overrides(cls.Options(), given)

    @classmethod
    def identity(cls, settings: Any) -> dict[str, Any]:
        """The options that tell this data apart: those that differ from their defaults.

        They name the cache (``cache_path``), go into its fingerprint and its ``options``
        attribute. Defaults are left out so that a new option (or spelling out a default)
        keeps the existing caches; a tuple is written as the comma-separated text that
        ``--data-set`` takes, so one selection has one spelling (``scenes=04``). The
        :attr:`evaluation_options` are left out: they change no cached byte.
        """
        default = cls.Options()
        return {f.name: _plain(getattr(settings, f.name)) for f in dataclasses.fields(settings)
                if getattr(settings, f.name) != getattr(default, f.name) and f.name not in cls.evaluation_options}

    @abc.abstractmethod
    def listing(self, split: str) -> SplitListing:
        """The videos of ``split`` (``train`` or ``test``), sorted."""

    def fingerprint(self) -> str:
        """Identity of the source data; the cache is rebuilt when it changes.

        The default hashes the adapter's options and, for a root on disk, the names, sizes and
        modification times of its files: cheap (no file is read) and sensitive to any change.
        Names are hashed as the file system's bytes, so a name that is not UTF-8 is no error.
        """
        digest = hashlib.sha256(json.dumps(
            {"adapter": type(self).__name__, "options": self.options}, sort_keys=True, default=str
        ).encode())
        if self.root is not None:
            for path in sorted(self.root.rglob("*")):
                if path.is_file():
                    stat = path.stat()
                    name = os.fsencode(path.relative_to(self.root))
                    digest.update(name + f":{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest.hexdigest()[:16]

    def protocol_fields(self) -> dict[str, Any]:
        """Protocol record entries that come from the data, e.g. ``gt_source``."""
        return {}

    # -- published ground-truth tracks (RBDC/TBDC, ``docs/protocols.md`` §6.5) ----------------------
    track_layout: ClassVar[str | None] = None  # the rows of the dataset's published track files, if any

    def track_names(self, video: str) -> tuple[str, ...]:
        """The file names the published track file of test video ``video`` may have in the folder."""
        return (f"{video}.txt",)

    def tracks(self) -> TrackDir | None:
        """The folder of track files the ``tracks`` option names (checked), or None.

        An adapter offers published tracks by declaring a ``tracks: str | None`` option, listing it
        in :attr:`evaluation_options` and setting :attr:`track_layout`.
        """
        given = getattr(self.settings, "tracks", None)
        if not given or self.track_layout is None:
            return None
        return TrackDir.at(given, self.track_layout, self.track_names,  # type: ignore[arg-type]
                           what=f"{getattr(self, 'name', '') or type(self).__name__.lower()}: tracks")

    @classmethod
    def describe(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


def _plain(value: Any) -> Any:
    """An option value as JSON stores it: sequences as ``a,b`` text, the rest as it is."""
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else value
