"""The detector contract: the one interface every built-in and third-party detector implements.

Modelled on scikit-learn's estimators: a detector is built from a typed, defaulted config
dataclass, learns in :meth:`Detector.fit` from the training split, and then scores one test
video at a time in :meth:`Detector.score_video`, one anomaly score per frame (higher = more
anomalous, NaN where the method cannot decide). Everything else (caching, seeding,
checkpoints, metrics, result files) is the harness's job, so a detector stays small.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from vadbench.config import validate
from vadbench.errors import EvaluationError

if TYPE_CHECKING:  # imported for type hints only; keeps `import vadbench` light
    from vadbench.data.cache import TrainData, Video
    from vadbench.training import Trainer

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
    and 3); each gives its own set of windows. ``target`` names the frame a clip speaks for:
    the last (prediction), the centre, or all of them (reconstruction).
    """

    length: int
    stride: int = 1
    skips: tuple[int, ...] = (1,)
    target: Literal["last", "center", "all"] = "last"

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
    """

    scores: np.ndarray
    maps: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    raw: np.ndarray | None = None

    def check(self, n_frames: int, video: str) -> None:
        """Raise a readable error if the arrays do not have one entry per frame."""
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


@dataclass
class NoConfig:
    """Config of a detector that has no settings."""


class Detector(abc.ABC):
    """Base class of all detectors.

    Subclasses set ``Config`` (a dataclass with defaults; ``--set key=value`` overrides are
    validated against it) and implement :meth:`fit` and :meth:`score_video`. The first line of
    the class docstring is the description ``vadbench list`` shows.

    Class attributes a subclass may set:

    * ``profiles``: named sets of config overrides (e.g. a CPU-sized ``cpu`` profile); the
      profile used is recorded with every result.
    * ``protocol_defaults``: protocol fields this method's literature uses (e.g. MNAD-R scores
      every frame, so its parity protocol drops none); applied unless the user overrides them.
    * ``stateful_test``: True when scoring changes the detector (MNAD updates its memory while
      testing); the harness then scores videos in sorted order, batch 1, and records it.
    * ``ablations``: named rows of an ablation grid (e.g. MNAD's Table 2), each a dict of config
      overrides; two keys are reserved: ``"detector"`` (run another registered detector for this
      row) and ``"reported"`` (the paper's number per dataset, e.g. ``{"ped2": 97.0}``, AUC in %).
      ``vadbench ablate`` runs every row; ``vadbench table --layout ablation`` lays them out.
    * ``reported``: published numbers per dataset, ``{"ped2": {"auc_micro": 97.0}}`` (in %), with
      ``reported_source`` naming where they come from; tables print them beside our runs.
    """

    Config: ClassVar[type] = NoConfig
    profiles: ClassVar[dict[str, dict[str, Any]]] = {}
    protocol_defaults: ClassVar[dict[str, Any]] = {}
    stateful_test: ClassVar[bool] = False
    ablations: ClassVar[dict[str, dict[str, Any]]] = {}
    reported: ClassVar[dict[str, dict[str, float]]] = {}
    reported_source: ClassVar[str] = ""

    def __init__(self, config: Any = None) -> None:
        self.config = validate(config if config is not None else self.Config())
        self.device = "cpu"

    # -- what the harness asks of every detector ------------------------------------------
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
        """Forget test-time state (no-op for stateless detectors)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to score again: tensors and plain values only."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""

    def deviations(self) -> dict[str, Any]:
        """Settings that depart from the method's reference (paper or official code); recorded
        with every result so a table can flag them."""
        return {}

    def to(self, device: str) -> Detector:
        """Move to a torch device (``cpu`` or ``cuda``)."""
        self.device = device
        return self

    @classmethod
    def auto_profile(cls, n_train_frames: int, device: str) -> str | None:
        """The profile to use when the user names none; None means the full config."""
        return None

    @classmethod
    def describe(cls) -> str:
        """One-line description: the first line of the class docstring."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


def config_fields(config_cls: type) -> dict[str, dataclasses.Field]:
    """The fields of a config dataclass by name."""
    return {f.name: f for f in dataclasses.fields(config_cls)}
