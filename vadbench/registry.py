"""Registries of detectors and datasets, fed by one decorator and by Python entry points.

Built-in detectors join exactly as third-party ones do: ``pyproject.toml`` declares them in the
entry-point group ``vadbench.detectors`` (datasets: ``vadbench.datasets``, method cards:
``vadbench.cards``) with the value ``module:attr``. Loading an entry point imports the module, whose ``@register_detector`` then
records the same object; entries are matched by identity, so one object under one name is never
a duplicate. A plugin that fails to import is kept as a *broken* entry with its error, and two
different objects under one name are a *conflict* that names both sources; neither stops the
other entries from working.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, TypeVar

from vadbench.card import AutoProfile, MethodCard
from vadbench.errors import RegistryError

T = TypeVar("T")


@dataclass
class Entry:
    """One registered name: the object, or the reason it cannot be used."""

    name: str
    sources: list[str] = field(default_factory=list)
    obj: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.obj is not None

    @property
    def source(self) -> str:
        return ", ".join(self.sources)

    @property
    def description(self) -> str:
        if self.error:
            return self.error
        describe = getattr(self.obj, "describe", None)
        return describe() if callable(describe) else (self.obj.__doc__ or "").strip().split("\n")[0]


class Registry(Generic[T]):
    """Names to objects, for one kind of thing (``detector`` or ``dataset``)."""

    def __init__(self, kind: str, group: str, check: Callable[[Any], T]) -> None:
        self.kind = kind
        self.group = group
        self._check = check  # validates (and, for factories, resolves) a registered object
        self._entries: dict[str, Entry] = {}
        self._scanned = False
        self._loaded: set[str] = set()  # names whose entry points were loaded on their own

    # -- adding -------------------------------------------------------------------------------
    def register(self, name: str) -> Callable[[Any], Any]:
        """Decorator: ``@register_detector("name")`` on a class or factory."""

        def decorate(obj: Any) -> Any:
            self._add(name, obj, f"{obj.__module__}:{obj.__qualname__}")
            return obj

        return decorate

    def _add(self, name: str, obj: Any, source: str, entry_point: bool = False) -> None:
        entry = self._entries.get(name)
        if entry is None:
            self._entries[name] = Entry(name, [source], obj)
        elif entry.obj is obj:  # the entry point and the decorator found the same object:
            if entry_point:  # the distribution says more than the module path
                entry.sources = [source]
        elif entry.obj is None:  # a broken entry point now provided by someone else
            entry.sources.append(source)
            entry.error = f"{entry.error}; also registered by {source}"
        else:
            entry.sources.append(source)
            entry.error = f"two {self.kind}s are registered as {name!r}: {' and '.join(entry.sources)}"

    def declared(self) -> list[tuple[str, str]]:
        """(name, source) of every entry, without importing anything not yet imported."""
        found = {name: entry.source for name, entry in self._entries.items()}
        for ep in entry_points(group=self.group):
            found.setdefault(ep.name, f"{ep.dist.name if ep.dist is not None else '?'} ({ep.value})")
        return sorted(found.items())

    def scan(self, name: str | None = None) -> None:
        """Load every entry point of the group once (or only those called ``name``, so that using
        one plugin never imports the others); failures become broken entries."""
        if self._scanned or name in self._loaded:
            return
        if name is None:
            self._scanned = True
        else:
            self._loaded.add(name)
        for ep in entry_points(group=self.group):
            if ep.name != name if name is not None else ep.name in self._loaded:
                continue  # another name's entry point, or one loaded on its own before
            dist = ep.dist.name if ep.dist is not None else "?"
            source = f"{dist} ({ep.value})"
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin must not break the others
                self._entries.setdefault(ep.name, Entry(ep.name, [source]))
                entry = self._entries[ep.name]
                if entry.obj is None:
                    entry.error = f"broken: {type(exc).__name__}: {exc}"
                continue
            self._add(ep.name, obj, source, entry_point=True)

    def load_spec(self, spec: str) -> T:
        """Resolve ``module:attr`` (the escape hatch for unpublished code)."""
        module_name, sep, attr = spec.partition(":")
        if not sep or not attr:
            raise RegistryError(f"expected module:attr, got {spec!r}")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise RegistryError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
        obj = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise RegistryError(f"module {module_name!r} has no attribute {attr!r}")
            obj = getattr(obj, part)
        return self._check(obj)

    def load_file(self, path: str | Path) -> None:
        """Execute a Python file whose decorators register more entries (``--plugin``)."""
        path = Path(path)
        if not path.is_file():
            raise RegistryError(f"plugin file not found: {path}")
        name = f"vadbench_plugin_{path.stem}_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise RegistryError(f"plugin {path} failed to load: {type(exc).__name__}: {exc}") from None

    def remove(self, name: str) -> None:
        """Forget ``name`` (tests and interactive sessions that register and drop plugins)."""
        self._entries.pop(name, None)

    # -- reading ------------------------------------------------------------------------------
    def entries(self) -> list[Entry]:
        self.scan()
        return [self._entries[k] for k in sorted(self._entries)]

    def names(self) -> list[str]:
        return [e.name for e in self.entries() if e.ok]

    def find(self, name: str) -> T | None:
        """The usable object registered as ``name``, or None (unknown or broken)."""
        entry = self.entry(name)
        return self._check(entry.obj) if entry is not None and entry.ok else None

    def peek(self, name: str) -> Entry | None:
        """The entry called ``name`` if it is already known (registered in code), loading nothing."""
        return self._entries.get(name)

    def entry(self, name: str) -> Entry | None:
        """The entry called ``name`` (loading that name's entry points only), or None."""
        self.scan(name)
        return self._entries.get(name)

    def get(self, name: str) -> T:
        """The object registered as ``name``; unknown, broken and duplicate names are errors."""
        if ":" in name:
            return self.load_spec(name)
        entry = self.entry(name)
        if entry is None:
            self.scan()
            raise unknown(self.kind, name, self._entries)
        if not entry.ok:
            raise RegistryError(f"{self.kind} {name!r} cannot be used: {entry.error}")
        return self._check(entry.obj)


def unknown(kind: str, name: str, known: Iterable[str]) -> RegistryError:
    """The error for a name nobody registered: the close names, then every registered one."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return RegistryError(f"unknown {kind} {name!r}{hint} (registered: {', '.join(names) or 'none'})")


def _detector_class(obj: Any) -> Any:
    from vadbench.detector import Detector

    if isinstance(obj, type) and issubclass(obj, Detector):
        return obj
    if callable(obj) and not isinstance(obj, type):  # a factory returning a Detector subclass
        try:
            made = obj()
        except Exception as exc:
            raise RegistryError(f"{obj!r} is not a vadbench Detector subclass, and calling it as a factory "
                                f"failed: {type(exc).__name__}: {exc}") from None
        if isinstance(made, type) and issubclass(made, Detector):
            return made
    raise RegistryError(f"{obj!r} is not a vadbench Detector subclass or a factory returning one")


def _dataset_class(obj: Any) -> Any:
    from vadbench.data.source import DatasetAdapter

    if isinstance(obj, type) and issubclass(obj, DatasetAdapter):
        return obj
    raise RegistryError(f"{obj!r} is not a vadbench DatasetAdapter subclass")


def _card(obj: Any) -> MethodCard:
    if isinstance(obj, MethodCard):
        return obj
    raise RegistryError(f"{obj!r} is not a vadbench MethodCard")


detectors: Registry = Registry("detector", "vadbench.detectors", _detector_class)
datasets: Registry = Registry("dataset", "vadbench.datasets", _dataset_class)
cards: Registry = Registry("method card", "vadbench.cards", _card)
register_detector = detectors.register
register_dataset = datasets.register


def register_card(card: MethodCard) -> MethodCard:
    """Register a method card under its name (in a ``--plugin`` file; packages use entry points)."""
    cards._add(card.name, card, f"{card.name} (registered in code)")
    return card


def card_of(name: str) -> MethodCard:
    """The card registered for ``name``, or a bare one (no title, no profiles) when it has none."""
    return cards.find(name) or MethodCard(name=name, title="")


def resolve_detector(name: str) -> tuple[Any, MethodCard, dict[str, Any]]:
    """The detector class behind a registered name, its card and the preset settings.

    A variant (a card with ``variant_of``) resolves to its base detector with the card's
    settings; a variant of a variant adds its own on top.
    """
    card = cards.find(name) if ":" not in name else None
    if card is not None and card.variant_of:
        cls, base, preset = resolve_detector(card.variant_of)
        inherited = replace(card, profiles=card.profiles or base.profiles, protocol=card.protocol or base.protocol,
                            auto_profile=card.auto_profile if card.auto_profile != AutoProfile() else base.auto_profile)
        return cls, inherited, {**preset, **card.settings}
    if ":" not in name and detectors.entry(name) is None:
        variants = [n for n, _ in cards.declared() if (c := cards.find(n)) is not None and c.variant_of]
        raise unknown("detector", name, {n for n, _ in detectors.declared()} | set(variants))
    return detectors.get(name), card or MethodCard(name=name, title=""), {}


def build_detector(cls: Any, card: MethodCard, preset: dict[str, Any], profile: str | None,
                   overrides: dict[str, Any]) -> Any:
    """Instantiate ``cls`` with a variant's preset, a profile's overrides, then the user's, all validated."""
    from vadbench.config import apply_overrides
    from vadbench.errors import ConfigError

    config = apply_overrides(cls.Config(), preset)
    if profile is not None:
        if profile not in card.profiles:
            known = ", ".join(card.profiles) or "none"
            raise ConfigError(f"unknown profile {profile!r} for {card.name}; known: {known}")
        config = apply_overrides(config, card.profiles[profile])
    return cls(apply_overrides(config, overrides))


def create_detector(name: str, profile: str | None = None, **settings: Any) -> Any:
    """A detector by its registered name (a variant included), with a profile and settings."""
    cls, card, preset = resolve_detector(name)
    return build_detector(cls, card, preset, profile, settings)
