"""Evaluation protocols: every choice that moves a published AUC is an explicit, recorded field.

A :class:`Protocol` names the steps that turn per-frame scores into metrics (fill, exclude,
normalise, smooth; applied by :mod:`vadbench.metrics`) and is recorded with every result. The
named protocols and the meaning of each field are described in ``docs/protocols.md``. This
module holds definitions only (no scikit-learn, no SciPy), so tables and ``--help`` stay light.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from vadbench.config import apply_overrides
from vadbench.errors import ConfigError

Normalisation = Literal["none", "per_video_minmax"]


@dataclass(frozen=True)
class Protocol:
    """The recorded evaluation choices (``docs/protocols.md``). Defaults: the ``mnad`` protocol.

    ``name`` is the named protocol this one starts from. A protocol whose fields differ from that
    definition is recorded and shown as ``name*`` together with the fields that differ
    (:meth:`changes`), so a result never carries a named protocol's name while using other choices.
    """

    name: str = "mnad"
    drop_first: int = 4
    drop_last: int = 0
    fill: Literal["nearest"] = "nearest"
    normalisation: Normalisation = "per_video_minmax"
    detector_normalisation: str = "none"  # what the detector's own score already applies (a fact, recorded)
    smoothing_sigma: float = 0.0  # Gaussian sigma in frames; 0 = none
    smoothing_mode: str = "reflect"
    macro_padding: Literal["pad_outside_range"] = "pad_outside_range"
    order: Literal["fill>exclude>normalise>smooth>metric"] = "fill>exclude>normalise>smooth>metric"  # the one order applied
    checkpoint_rule: Literal["last"] = "last"

    def __post_init__(self) -> None:
        if self.drop_first < 0 or self.drop_last < 0:
            raise ConfigError(f"drop_first and drop_last must be >= 0, got {self.drop_first} and {self.drop_last}")
        if self.smoothing_sigma < 0:
            raise ConfigError(f"smoothing_sigma must be >= 0 (0 = no smoothing), got {self.smoothing_sigma}")

    def with_overrides(self, overrides: dict[str, Any]) -> Protocol:
        if "name" in overrides:
            raise ConfigError("the protocol's name is chosen with --protocol, not --protocol-set")
        return apply_overrides(self, overrides)

    def changes(self) -> dict[str, Any]:
        """The fields that differ from the named protocol's definition (none for a custom name)."""
        base = PROTOCOLS.get(self.name)
        if base is None:
            return {}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "name" and getattr(self, f.name) != getattr(base, f.name)}

    def as_named(self, name: str) -> Protocol:
        """The named protocol ``name`` applied to this run's scores: its definition, keeping what this
        record states about the detector's own score (``detector_normalisation``, a fact, not a choice)."""
        return dataclasses.replace(get_protocol(name), detector_normalisation=self.detector_normalisation)

    @property
    def label(self) -> str:
        """``name``, or ``name*`` when any field differs from the named definition."""
        return self.name + ("*" if self.changes() else "")

    def record(self) -> dict[str, Any]:
        """The fields, with the honest ``name`` (``memae*``), the ``base`` name and the ``changed`` fields."""
        return {**dataclasses.asdict(self), "name": self.label, "base": self.name, "changed": self.changes()}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Protocol:
        """The protocol a result recorded (its own fields; data-side entries such as ``gt_source``
        and derived ones are ignored). Reads records of every vadbench version."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in record.items() if k in names}
        values["name"] = str(record.get("base") or record.get("name", "mnad")).rstrip("*")
        return cls(**values)


PROTOCOLS: dict[str, Protocol] = {
    "mnad": Protocol(),
    "raw": Protocol(name="raw", normalisation="none"),
    "mnad-smooth": Protocol(name="mnad-smooth", smoothing_sigma=3.0),
    "memae": Protocol(name="memae", drop_first=8, drop_last=7),
}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None


def describe(record: dict[str, Any]) -> str:
    """One line for tables and the CLI: ``name (drop a/b, normalisation, smoothing, gt source)``,
    with the fields that differ from the named definition after ``changed:``."""
    p = Protocol.from_record(record)
    steps = ([f"{p.detector_normalisation} (in detector)"] if p.detector_normalisation != "none" else []) + \
        ([p.normalisation] if p.normalisation != "none" or p.detector_normalisation == "none" else [])
    parts = [f"drop {p.drop_first}/{p.drop_last}", ", then ".join(steps)]
    if p.smoothing_sigma:
        parts.append(f"gauss σ={p.smoothing_sigma}")
    if record.get("gt_source"):
        parts.append(f"gt {record['gt_source']}")
    changed = list(p.changes())
    if changed:
        parts.append("changed: " + ", ".join(changed))
    return f"{p.label}, " + ", ".join(parts)
