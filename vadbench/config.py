"""Typed config overrides: ``--set key=value`` strings applied to a detector's config dataclass.

Values are parsed according to the field's type annotation, so ``--set lr=2e-5`` becomes a
float and ``--set memory=false`` a bool; an unknown key or a value of the wrong type is a
:class:`ConfigError` that names the valid keys or the expected type. A field may declare its
valid range with ``Annotated``::

    lr: Annotated[float, Range(gt=0)] = 2e-4
    epochs: Annotated[int, Range(ge=0)] = 60

and every config a detector is built with is checked against those ranges (:func:`validate`),
so ``--set lr=-1`` is refused with the valid range before any work starts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Mapping

from vadbench.errors import ConfigError

@dataclasses.dataclass(frozen=True)
class Range:
    """The valid interval of a numeric config field (bounds that are None do not apply)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def contains(self, value: float) -> bool:
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))

    def __str__(self) -> str:
        ops = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
        return " and ".join(f"{op} {getattr(self, key):g}" for key, op in ops if getattr(self, key) is not None)


def validate(config: Any) -> Any:
    """Check every ``Annotated[..., Range(...)]`` field of the dataclass ``config``; return it."""
    for key, hint in typing.get_type_hints(type(config), include_extras=True).items():
        for bound in getattr(hint, "__metadata__", ()):
            value = getattr(config, key, None)
            if isinstance(bound, Range) and isinstance(value, (int, float)) and not bound.contains(value):
                raise ConfigError(f"{key}={value} is out of range: {key} must be {bound}")
    return config


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_assignments(items: list[str] | None, option: str = "--set") -> dict[str, str]:
    """Turn ``["a=1", "b=x"]`` into ``{"a": "1", "b": "x"}``; ``option`` names the flag in errors."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: ``0,1,2``, ``0-4`` (inclusive) or a mix (``0-2,7``); distinct seeds >= 0, in the order given."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        lo, dash, hi = part.partition("-")
        try:
            values = list(range(int(lo), int(hi) + 1)) if dash else [int(part)]
        except ValueError:
            raise ConfigError(f"--seeds {text!r}: {part!r} is not a seed >= 0 or a range a-b (e.g. 0,1,2 or 0-4)") from None
        if not values:
            raise ConfigError(f"--seeds {text!r}: the range {part!r} is empty (write it low-high)")
        seeds += values
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"--seeds {text!r} names seed {', '.join(map(str, repeated))} more than once")
    return seeds


def _parse(value: Any, hint: Any, key: str) -> Any:
    """Convert ``value`` (a string from the CLI, or an already typed value) to ``hint``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in {"none", "null"}):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _parse(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        if len(errors) == 1:  # ``X | None``: X's own message says what is valid (e.g. a Literal's choices)
            raise ConfigError(errors[0])
        raise ConfigError(f"{key}: cannot read {value!r} as {hint}")
    if origin is Literal:
        for choice in args:
            if value == choice or str(value) == str(choice):
                return choice
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(str, args))}")
    if origin in (tuple, list):
        items = value.split(",") if isinstance(value, str) else list(value)
        inner = args[0] if args else str
        parsed = [_parse(v.strip() if isinstance(v, str) else v, inner, key) for v in items if v != ""]
        return tuple(parsed) if origin is tuple else parsed
    if hint is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint in (int, float, str):
        try:
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            parsed = hint(value)
            if hint is float and parsed != parsed:
                raise ValueError  # NaN is never a setting
            return parsed
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected {hint.__name__}, got {value!r}") from None
    return value


def apply_overrides(config: Any, overrides: Mapping[str, Any]) -> Any:
    """Return a copy of the dataclass ``config`` with ``overrides`` parsed and applied."""
    if not overrides:
        return config
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            valid = ", ".join(names) if names else "(this detector has no settings)"
            raise ConfigError(f"unknown setting {key!r} for {type(config).__qualname__}; valid: {valid}")
        changes[key] = _parse(value, hints[key], key)
    return validate(dataclasses.replace(config, **changes))


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a config dataclass."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}
