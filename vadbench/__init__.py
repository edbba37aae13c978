"""vadbench: one harness for video anomaly detection, where numbers compare.

Public API: the :class:`Detector` contract and its config helpers, the registries and their
decorators, and the dataset-adapter contract.
"""

__version__ = "0.1.0"

from vadbench.config import Range  # noqa: E402
from vadbench.detector import ClipSpec, Detector, InputSpec, NoConfig, VideoScores  # noqa: E402
from vadbench.registry import datasets, detectors, register_dataset, register_detector  # noqa: E402

__all__ = [
    "ClipSpec", "Detector", "Range", "InputSpec", "NoConfig", "VideoScores",
    "datasets", "detectors", "register_dataset", "register_detector", "__version__",
]
