"""ConvAE (Hasan et al., CVPR 2016), registered as ``convae``."""

from vadbench_baselines.convae.detector import ConvAE, ConvAEConfig, regularity

__all__ = ["ConvAE", "ConvAEConfig", "regularity"]
