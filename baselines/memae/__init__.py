"""MemAE (Gong et al., ICCV 2019) and AE-Conv3D, registered as ``memae`` and ``memae-nomem``."""

from baselines.memae.detector import MemAE, MemAEConfig, MemAENoMem, MemAENoMemConfig

__all__ = ["MemAE", "MemAEConfig", "MemAENoMem", "MemAENoMemConfig"]
