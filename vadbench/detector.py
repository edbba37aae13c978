"""The detector contract: the one interface every built-in and third-party detector implements.

Modelled on scikit-learn's estimators: a detector is built from a typed, defaulted config
dataclass, learns in :meth:`Detector.fit` from the training split, and then scores one test
video at a time in :meth:`Detector.score_video`, one anomaly score per frame (higher = more
anomalous, NaN where the method cannot decide). Everything else (caching, seeding,
checkpoints, metrics, result files) is the harness's job, so a detector stays small.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from vadbench.config import validate
from vadbench.types import InputSpec, TrainData, Video, VideoScores

if TYPE_CHECKING:  # the trainer is handed in by the harness; named here for type hints only
    from vadbench.training import Trainer


@dataclass
class NoConfig:
    """Config of a detector that has no settings."""


class Detector(abc.ABC):
    """Base class of all detectors.

    Subclasses set ``Config`` (a dataclass with defaults; ``--set key=value`` overrides are
    validated against it, ``Annotated[..., Range(...)]`` fields against their range) and
    implement :meth:`fit` and :meth:`score_video`. The harness scores the test videos in sorted
    order, one :meth:`score_video` call per video after one :meth:`reset` per test pass, so a
    detector may carry state from video to video (MNAD's memory does).

    ``score_normalisation`` declares what the score already is: ``"none"`` for a plain score,
    or a description of the per-video normalisation the detector applies itself (MNAD fuses
    per-video min-max normalised streams). The harness records it and then computes the
    leak-free raw metrics only from :attr:`VideoScores.raw`.

    Everything a benchmark says *about* a method (its paper, named profiles, literature
    protocol, ablation grid, published numbers) is its method card (:mod:`vadbench.card`),
    plain data beside the class, readable without importing it.
    """

    Config: ClassVar[type] = NoConfig
    score_normalisation: ClassVar[str] = "none"

    def __init__(self, config: Any = None) -> None:
        self.config = validate(config if config is not None else self.Config())
        self.device = "cpu"

    def input_spec(self) -> InputSpec:
        """Frame size and colour to cache; read from config fields when the config has them."""
        cfg = self.config
        return InputSpec(
            height=getattr(cfg, "height", InputSpec.height),
            width=getattr(cfg, "width", InputSpec.width),
            color=getattr(cfg, "color", InputSpec.color),
        )

    @abc.abstractmethod
    def fit(self, data: TrainData, trainer: Trainer) -> None:
        """Learn from the (normal-only) training split."""

    @abc.abstractmethod
    def score_video(self, video: Video) -> VideoScores:
        """Score one test video; frames arrive in order."""

    def reset(self) -> None:
        """Forget test-time state before a test pass (no-op for stateless detectors)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to score again: tensors and plain values only."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""

    def deviations(self) -> dict[str, Any]:
        """How this instance departs from the method's reference (paper or official code): the
        settings that do, and anything scoring met that the reference handles otherwise. Asked
        again after scoring and recorded with every result, so a table can flag it."""
        return {}

    def execution(self) -> dict[str, Any]:
        """How this instance computed where the choice changes speed, not the numbers (beyond float
        noise): e.g. a scoring step replayed from a CUDA graph or run eagerly, and why. Asked after
        scoring and recorded in ``metrics.json``, so a timing can be read with what produced it."""
        return {}

    def to(self, device: str) -> Detector:
        """Move to a torch device (``cpu`` or ``cuda``)."""
        self.device = device
        return self

    @classmethod
    def describe(cls) -> str:
        """One-line description: the first line of the class docstring."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""
