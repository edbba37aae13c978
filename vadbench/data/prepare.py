"""From a dataset name (and maybe a root) to an open clip cache: the one entry point runs use.

A dataset root is found, in order, from: the ``--root`` option; the environment variable
``VADBENCH_<NAME>_ROOT`` (e.g. ``VADBENCH_PED2_ROOT``); the ``[roots]`` table of the config
file ``<user config dir>/vadbench/config.toml`` (``VADBENCH_CONFIG`` overrides its path)::

    [roots]
    ped2 = "/data/vad/ped2"

The cache directory is ``VADBENCH_CACHE`` or the per-user cache directory. The same config file
may name, per dataset, the folder of its published ground-truth tracks (read by ``run --regions``
when ``--data-set tracks=PATH`` is not given)::

    [tracks]
    ped2 = "/data/vad/tracks/ped2"
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Callable

import platformdirs

from vadbench.data.cache import ClipCache, build_cache
from vadbench.data.compression import DEFAULT as DEFAULT_COMPRESSION
from vadbench.data.compression import check_compression
from vadbench.data.source import DatasetAdapter
from vadbench.types import InputSpec
from vadbench.errors import DatasetError
from vadbench.registry import datasets


def cache_dir() -> Path:
    """Where caches live: ``VADBENCH_CACHE`` or the per-user cache directory."""
    return Path(os.environ.get("VADBENCH_CACHE") or platformdirs.user_cache_dir("vadbench"))


def config_file() -> Path:
    return Path(os.environ.get("VADBENCH_CONFIG") or Path(platformdirs.user_config_dir("vadbench")) / "config.toml")


def _configured(table: str, name: str) -> Path | None:
    """The path the ``[table]`` table of the config file gives dataset ``name``, if any."""
    path = config_file()
    if path.is_file():
        try:
            entries = tomllib.loads(path.read_text()).get(table, {})
        except tomllib.TOMLDecodeError as exc:
            raise DatasetError(f"config file {path} is not valid TOML: {exc}") from None
        if name in entries:
            return Path(entries[name]).expanduser()
    return None


def resolve_root(name: str, root: str | Path | None) -> Path | None:
    """The dataset root from the option, the environment or the config file (in that order)."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(f"VADBENCH_{name.upper().replace('-', '_')}_ROOT")
    if env:
        return Path(env).expanduser()
    return _configured("roots", name)


def configured_tracks(name: str) -> str | None:
    """The track folder the ``[tracks]`` table of the config file names for dataset ``name``, if any."""
    folder = _configured("tracks", name)
    return str(folder) if folder is not None else None


def make_adapter(name: str, root: str | Path | None = None, **options: Any) -> DatasetAdapter:
    """Instantiate the registered adapter ``name`` on its resolved root; ``options`` go to its ``Options``."""
    cls = datasets.get(name)
    resolved = resolve_root(name, root)
    if cls.needs_root:
        if resolved is None:
            raise DatasetError(
                f"dataset {name!r} needs its files: pass --root PATH, set VADBENCH_{name.upper()}_ROOT, "
                f"or add `{name} = \"PATH\"` under [roots] in {config_file()}"
            )
        if not resolved.exists():
            raise DatasetError(f"dataset root for {name!r} not found: {resolved}")
    return cls(resolved, **options)


def prepare(name: str, spec: InputSpec, root: str | Path | None = None, *, compression: str = DEFAULT_COMPRESSION,
            partial: bool = False, rebuild: bool = False, on_start: Callable[[int], None] | None = None,
            on_video: Callable[[str, str, int], None] | None = None, **options: Any) -> ClipCache:
    """Build the cache if needed (frames stored with ``compression``) and open it."""
    check_compression(compression)  # before the adapter scans the root
    adapter = make_adapter(name, root, **options)
    path = build_cache(adapter, name, spec, cache_dir(), compression=compression, partial=partial, rebuild=rebuild,
                       on_start=on_start, on_video=on_video)
    return ClipCache(path)
