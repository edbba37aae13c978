"""Registries of detectors and datasets, fed by one decorator and by Python entry points.

Built-in detectors join exactly as third-party ones do: ``pyproject.toml`` declares them in the
entry-point group ``vadbench.detectors`` (datasets: ``vadbench.datasets``) with the value
``module:attr``. Loading an entry point imports the module, whose ``@register_detector`` then
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
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

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

    def scan(self) -> None:
        """Load every entry point of the group once; failures become broken entries."""
        if self._scanned:
            return
        self._scanned = True
        for ep in entry_points(group=self.group):
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

    # -- reading ------------------------------------------------------------------------------
    def entries(self) -> list[Entry]:
        self.scan()
        return [self._entries[k] for k in sorted(self._entries)]

    def names(self) -> list[str]:
        return [e.name for e in self.entries() if e.ok]

    def get(self, name: str) -> T:
        """The object registered as ``name``; unknown, broken and duplicate names are errors."""
        if ":" in name:
            return self.load_spec(name)
        self.scan()
        entry = self._entries.get(name)
        if entry is None:
            close = difflib.get_close_matches(name, list(self._entries), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            known = ", ".join(sorted(self._entries)) or "none"
            raise RegistryError(f"unknown {self.kind} {name!r}{hint} (registered: {known})")
        if not entry.ok:
            raise RegistryError(f"{self.kind} {name!r} cannot be used: {entry.error}")
        return self._check(entry.obj)


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


detectors: Registry = Registry("detector", "vadbench.detectors", _detector_class)
datasets: Registry = Registry("dataset", "vadbench.datasets", _dataset_class)
register_detector = detectors.register
register_dataset = datasets.register
