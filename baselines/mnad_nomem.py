"""MNAD without its memory: the "w/o Mem." rows of Park et al.'s Tables 1 and 2 (mnad-spec.md 3.6).

The same encoder and decoder as MNAD-P / MNAD-R, except that the decoder reads the raw feature
map z (512 channels; ``nomem_l2=true`` feeds its L2-normalisation instead) where MNAD reads the
1024-channel [query, memory read]. Trained on the pixel MSE alone and scored by per-video
min-max PSNR alone; no test-time state. The official repository has no such model; this is
vadbench's definition, recorded with every result through the config.
"""

from __future__ import annotations

from dataclasses import dataclass

from plugins.mnad.detector import MNADP, MNADPConfig, MNADR, MNADRConfig
from plugins.mnad.reported import TABLE1
from vadbench import register_detector


@dataclass
class _NoMemory:
    """The baselines' defaults: no memory, hence no memory losses, no test-time update, PSNR-only score."""

    memory: bool = False
    lambda_c: float = 0.0
    lambda_s: float = 0.0
    alpha: float = 1.0
    test_update: bool = False


@dataclass
class MNADPNoMemConfig(_NoMemory, MNADPConfig):
    """MNAD-P's settings with the memory removed."""


@dataclass
class MNADRNoMemConfig(_NoMemory, MNADRConfig):
    """MNAD-R's settings with the memory removed."""


@register_detector("mnad-p-nomem")
class MNADPNoMem(MNADP):
    """MNAD-P without memory (the paper's "w/o Mem." row): U-Net prediction, PSNR-only score."""

    Config = MNADPNoMemConfig
    stateful_test = False
    ablations = {}
    reported = {d: {"auc_micro": v} for d, v in TABLE1["MNAD-P w/o Mem"].items()}


@register_detector("mnad-r-nomem")
class MNADRNoMem(MNADR):
    """MNAD-R without memory (the paper's "w/o Mem." row): reconstruction, PSNR-only score."""

    Config = MNADRNoMemConfig
    stateful_test = False
    ablations = {}
    reported = {d: {"auc_micro": v} for d, v in TABLE1["MNAD-R w/o Mem"].items()}
