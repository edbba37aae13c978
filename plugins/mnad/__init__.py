"""MNAD-P and MNAD-R (Park, Noh, Ham, "Learning Memory-guided Normality for Anomaly Detection", CVPR 2020).

Registered as ``mnad-p`` and ``mnad-r`` through entry points; see ``README.md`` beside this file
for the settings, the paper-versus-code switches and loading official weights.
"""

from plugins.mnad.detector import MNAD, MNADConfig, MNADP, MNADPConfig, MNADR, MNADRConfig, fuse
from plugins.mnad.official import load_official

__all__ = ["MNAD", "MNADConfig", "MNADP", "MNADPConfig", "MNADR", "MNADRConfig", "fuse", "load_official"]
