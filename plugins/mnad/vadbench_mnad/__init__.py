"""MNAD-P and MNAD-R (Park, Noh, Ham, "Learning Memory-guided Normality for Anomaly Detection", CVPR 2020).

A vadbench plugin distribution (``vadbench-mnad``), registered as ``mnad-p`` and ``mnad-r``
through entry points exactly as a third-party detector is; see ``README.md`` beside this
package for the settings, the paper-versus-code switches and loading official weights. The
names below load on first use, so reading the method cards (``vadbench_mnad.cards``) never
imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MNAD": "detector", "MNADConfig": "detector", "MNADP": "detector", "MNADPConfig": "detector",
    "MNADR": "detector", "MNADRConfig": "detector", "fuse": "detector", "load_official": "official",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
