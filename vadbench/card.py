"""Method cards: what a benchmark says about a method, as plain data beside its detector.

A detector class holds what scoring needs; its card holds the bookkeeping: the paper, named
profiles and how one is chosen, the literature's protocol defaults, the ablation grid and the
published numbers with their source. Cards are registered in the ``vadbench.cards`` entry-point
group (or with :func:`register_card` in a ``--plugin`` file) and live in modules that import
neither torch nor the detector, so ``vadbench list`` and ``vadbench table`` read them without
loading any model code (the spirit of timm's ``PretrainedCfg``: metadata beside the model).

A card may also define a **variant**: a registered name for another detector under a preset
config (``mnad-p-nomem`` is ``mnad-p`` with ``memory=false``...), so a variant is a config,
never a subclass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

Settings = Mapping[str, Any]


@dataclass(frozen=True)
class Reported:
    """Published numbers: ``{dataset: {metric: value in %}}`` and the publication they come from."""

    values: Mapping[str, Mapping[str, float]]
    source: str

    def auc(self, dataset: str) -> float | None:
        """The published micro AUC on ``dataset`` (%), if any."""
        return self.values.get(dataset, {}).get("auc_micro")


@dataclass(frozen=True)
class AblationRow:
    """One row of an ablation grid: config overrides of the method (or another registered
    ``detector``, e.g. a variant without memory) and the paper's micro AUC per dataset (%).
    A row that names a ``detector`` and no number takes that detector's published one.

    ``reference`` marks the row that is the method itself, unchanged (MNAD's "7 full model"):
    ``vadbench table --layout ablation`` compares every other row of the grid with it, seed by
    seed. It is marked, not inferred from empty settings and no detector, because a grid may hold
    several such rows (rows that share the full model's training and differ only in how a run is
    scored or named) and only the card knows which one the paper compares against; a grid has at
    most one (:class:`MethodCard` refuses more), and one without a reference row gets no
    comparison columns.
    """

    label: str
    settings: Settings = field(default_factory=dict)
    detector: str | None = None
    reported: Mapping[str, float] = field(default_factory=dict)
    reference: bool = False


@dataclass(frozen=True)
class AutoProfile:
    """Which profile a run uses when the user names none: ``cpu`` on a CPU; on a GPU ``gpu``,
    or ``large`` = (training frames, profile) once the training split is larger than that."""

    cpu: str | None = None
    gpu: str | None = None
    large: tuple[int, str] | None = None

    def choose(self, n_train_frames: int, device: str) -> str | None:
        if not device.startswith("cuda"):
            return self.cpu
        if self.large is not None and n_train_frames > self.large[0]:
            return self.large[1]
        return self.gpu


@dataclass(frozen=True)
class MethodCard:
    """Everything a benchmark records about one registered method (a detector or a variant).

    ``name`` is the registered name; ``variant_of`` (with ``settings``) makes it a preset config
    of another registered detector. ``profiles`` are named config overrides (recorded with each
    result); ``protocol`` holds the literature's protocol fields for this method (applied when a
    run names no protocol, and then recorded as changes of ``mnad``); ``ablations`` is the grid
    ``vadbench ablate`` runs; ``reported`` the published numbers tables print beside ours.
    """

    name: str
    title: str
    paper: str = ""
    variant_of: str | None = None
    settings: Settings = field(default_factory=dict)
    profiles: Mapping[str, Settings] = field(default_factory=dict)
    auto_profile: AutoProfile = AutoProfile()
    protocol: Settings = field(default_factory=dict)
    ablations: tuple[AblationRow, ...] = ()
    reported: Reported | None = None

    def __post_init__(self) -> None:
        marked = [row.label for row in self.ablations if row.reference]
        if len(marked) > 1:  # which row would the others be compared with?
            raise ValueError(f"the ablation grid of {self.name} marks {len(marked)} reference rows "
                             f"({', '.join(marked)}); mark one")

    def reported_auc(self, dataset: str) -> float | None:
        return self.reported.auc(dataset) if self.reported else None
