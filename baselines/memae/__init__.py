"""MemAE (Gong et al., ICCV 2019), registered as ``memae``; its variant ``memae-nomem`` (AE-Conv3D) is a card."""

from vadbench_baselines.memae.detector import MemAE, MemAEConfig

__all__ = ["MemAE", "MemAEConfig"]
