"""vadbench: one harness for video anomaly detection, where numbers compare.

The public API is everything a plugin needs and nothing else: the :class:`Detector` contract
and the value types it uses, the :class:`Trainer` handed to ``fit``, the dataset-adapter
contract, method cards, the registries with their decorators, the error classes and a few
helpers. Plugins (and vadbench's own baselines and MNAD) import only these names. Names that
need torch load on first use, so ``import vadbench`` (and ``vadbench list`` / ``table``) stays
light.
"""

from __future__ import annotations

import importlib
from typing import Any

from vadbench._version import __version__

_EXPORTS = {
    # the detector contract and its value types
    "Detector": "detector", "NoConfig": "detector", "Range": "config",
    "InputSpec": "types", "ClipSpec": "types", "VideoScores": "types", "Video": "types", "TrainData": "types",
    "Regions": "regions",
    # training services and tensor helpers (torch)
    "Trainer": "training", "seeded": "training", "to_network": "tensors", "stack_time": "tensors",
    # several processes under torchrun (each the identity in one process)
    "all_gather_cat": "distributed", "is_distributed": "distributed", "rank": "distributed",
    "world_size": "distributed",
    # device helpers: bf16 autocast, a step replayed from a CUDA graph
    "autocast": "device", "graphed": "device",
    # score helpers
    "minmax": "metrics",
    # datasets
    "DatasetAdapter": "data.source", "SourceVideo": "data.source", "SplitListing": "data.source",
    # method cards
    "MethodCard": "card", "AblationRow": "card", "AutoProfile": "card", "Reported": "card",
    # registries
    "detectors": "registry", "datasets": "registry", "cards": "registry",
    "register_detector": "registry", "register_dataset": "registry", "register_card": "registry",
    # errors
    "VadbenchError": "errors", "ConfigError": "errors", "RegistryError": "errors", "DatasetError": "errors",
    "CacheError": "errors", "RunError": "errors", "EvaluationError": "errors",
}
__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    """Load a public name from the module that defines it, on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vadbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"vadbench.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
