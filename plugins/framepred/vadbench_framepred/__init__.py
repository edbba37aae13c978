"""Frame-Pred (Liu, Luo, Lian, Gao, "Future Frame Prediction for Anomaly Detection - A New Baseline", CVPR 2018).

A vadbench plugin distribution (``vadbench-framepred``), registered as ``frame-pred-noflow``
(with the variant ``frame-pred-cvflow``) through entry points exactly as a third-party detector
is; see ``README.md`` beside this package and ``docs/framepred.md``. The names below load on
first use, so reading the method cards (``vadbench_framepred.cards``) never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FramePred": "detector", "FramePredConfig": "detector", "Generator": "network", "Discriminator": "network",
    "intensity_loss": "losses", "gradient_loss": "losses", "adversarial_loss": "losses",
    "discriminator_loss": "losses", "warp_loss": "losses", "farneback_warp": "losses",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
